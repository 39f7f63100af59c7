//! What MLflow's keys and values may hold, and the spec's values made to fit.
//!
//! Invariants (MLflow 3.x's limits, `mlflow/utils/validation.py`):
//! * A key (param, metric, tag) holds only alphanumerics, `_`, `-`, `.`, ` `, `:` and `/`, at
//!   most 250 characters: any other character becomes `_` ([`key`]).
//! * A param value is at most 6000 characters, a tag value at most 8000: a longer one is cut
//!   and ends with `…(+N chars)` saying how much was cut ([`param_value`], [`tag_value`]).
//! * Nested params are flattened to dotted names (`method.name`, `method.tokens`); a list
//!   becomes its JSON text, `null` the text `null` ([`flatten_params`]).

use serde_json::Value;

pub const MAX_KEY: usize = 250;
pub const MAX_PARAM_VALUE: usize = 6000;
pub const MAX_TAG_VALUE: usize = 8000;

/// `name` with every character MLflow refuses in a key replaced by `_`, cut to 250.
pub fn key(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-. :/".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(MAX_KEY)
        .collect()
}

/// `v` cut to `max` characters, the cut said at its end.
fn cut(v: String, max: usize) -> String {
    let n = v.chars().count();
    if n <= max {
        return v;
    }
    // The marker's own length is at most 20 characters.
    let keep = max - 20;
    let mut s: String = v.chars().take(keep).collect();
    s.push_str(&format!("…(+{} chars)", n - keep));
    s
}

pub fn param_value(v: String) -> String {
    cut(v, MAX_PARAM_VALUE)
}

pub fn tag_value(v: String) -> String {
    cut(v, MAX_TAG_VALUE)
}

/// A JSON value as a param's text: strings as they are, lists and objects as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `params` flattened to `(dotted key, value)` pairs in the order they appear.
pub fn flatten_params(params: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    walk("", params, &mut out);
    out
}

fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(o) if !o.is_empty() => {
            for (k, x) in o {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                walk(&name, x, out);
            }
        }
        other if !prefix.is_empty() => out.push((key(prefix), param_value(text(other)))),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_params_flatten_to_dotted_keys_with_lists_as_json() {
        let p = json!({
            "model": "tiny",
            "method": { "name": "mos", "experts": 3, "loss": { "lambda": 0.5 } },
            "epochs": 2,
            "max_grad_norm": null,
            "layers": [1, 2],
            "fair": true,
            "empty": {}
        });
        assert_eq!(
            flatten_params(&p),
            [
                ("model", "tiny"),
                ("method.name", "mos"),
                ("method.experts", "3"),
                ("method.loss.lambda", "0.5"),
                ("epochs", "2"),
                ("max_grad_norm", "null"),
                ("layers", "[1,2]"),
                ("fair", "true"),
                ("empty", "{}"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn keys_lose_the_characters_mlflow_refuses() {
        assert_eq!(key("ml_train@seed=0"), "ml_train_seed_0");
        assert_eq!(key("epoch.0/valid auc:x-y"), "epoch.0/valid auc:x-y");
        assert_eq!(key(&"k".repeat(300)).len(), MAX_KEY);
    }

    #[test]
    fn long_values_are_cut_saying_how_much() {
        let v = param_value("x".repeat(7000));
        assert_eq!(
            v.chars().count(),
            MAX_PARAM_VALUE - 20 + "…(+1020 chars)".chars().count()
        );
        assert!(v.ends_with("…(+1020 chars)"), "{}", &v[v.len() - 30..]);
        assert!(v.chars().count() <= MAX_PARAM_VALUE);
        assert_eq!(tag_value("short".into()), "short");
    }
}
