//! Typed stage parameters: strict parsing with field paths and suggestions, and the
//! bounds every kind checks at plan time.
//!
//! Every kind declares a `serde` struct with `deny_unknown_fields` and defaults;
//! `parse` turns the spec's map into it and back into JSON with every default
//! written out, which is the canonical form the fingerprint hashes.
//!
//! Invariants: a bound's error names the field, the rule and the value it got
//! (`must be > 0 (got 0)`), so the plan prints `file:line:col: stages.x.params.lr: must be
//! > 0 (got 0)`; a non-finite float never passes a bound.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// A parameter error: `field` is the dotted path inside `params`.
#[derive(Debug, Clone)]
pub struct ParamError {
    pub field: String,
    pub message: String,
    pub suggestion: Option<String>,
}

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Parse `params` into `T`, returning it with its canonical JSON (defaults filled). An unknown
/// field suggests the closest of `T`'s fields, as serde lists them: the struct is the one
/// declaration of its fields.
pub fn parse<T: DeserializeOwned + Serialize>(
    params: &serde_json::Map<String, Value>,
) -> Result<(T, Value), ParamError> {
    let value = Value::Object(params.clone());
    let typed: T = serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde's unknown-field message: "unknown field `x`, expected one of ..."
        if let Some(rest) = inner.strip_prefix("unknown field `") {
            let name = rest.split('`').next().unwrap_or_default().to_string();
            // The path already ends at the unknown key (serde_path_to_error records it).
            let field = if path == "." || path.is_empty() {
                name.clone()
            } else {
                path
            };
            return ParamError {
                field,
                message: format!("unknown parameter `{name}`"),
                suggestion: mosx_spec::suggest(
                    &name,
                    expected_fields(rest).iter().map(String::as_str),
                ),
            };
        }
        let field = if path == "." { String::new() } else { path };
        ParamError {
            field,
            message: strip_position(&inner),
            suggestion: None,
        }
    })?;
    let canonical = serde_json::to_value(&typed).map_err(|e| ParamError {
        field: String::new(),
        message: e.to_string(),
        suggestion: None,
    })?;
    // A struct that embeds another (`#[serde(flatten)]`) cannot deny unknown fields in serde:
    // a field the spec gave that the canonical form lacks is one it does not have.
    if let Value::Object(known) = &canonical {
        if let Some(name) = params.keys().find(|k| !known.contains_key(*k)) {
            return Err(ParamError {
                field: name.clone(),
                message: format!("unknown parameter `{name}`"),
                suggestion: mosx_spec::suggest(name, known.keys().map(String::as_str)),
            });
        }
    }
    Ok((typed, canonical))
}

/// The field names serde's unknown-field message lists after the unknown one
/// (`x`, expected one of `a`, `b`` → `a`, `b`; `expected `a` or `b`` too).
pub fn expected_fields(message: &str) -> Vec<String> {
    let Some((_, expected)) = message.split_once("expected") else {
        return Vec::new();
    };
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// One bound a parameter must satisfy: whether it holds, the rule, and the value seen.
pub struct Bound {
    pub field: &'static str,
    pub ok: bool,
    pub rule: String,
    pub got: String,
}

/// The first failing bound, as a parameter error naming the field, the rule and the value.
/// The kinds write their bounds as one list (see the constructors of [`Bound`]).
pub fn check(bounds: &[Bound]) -> Result<(), ParamError> {
    match bounds.iter().find(|b| !b.ok) {
        None => Ok(()),
        Some(b) => Err(ParamError {
            field: b.field.to_string(),
            message: format!("must be {} (got {})", b.rule, b.got),
            suggestion: None,
        }),
    }
}

impl Bound {
    /// An integer at least `min`.
    pub fn at_least(field: &'static str, v: usize, min: usize) -> Bound {
        Bound {
            field,
            ok: v >= min,
            rule: format!(">= {min}"),
            got: v.to_string(),
        }
    }
    /// `null` or an integer at least 1 (`max_*_points`: a cap of 0 points is empty).
    pub fn cap(field: &'static str, v: Option<usize>) -> Bound {
        Bound {
            field,
            ok: v.is_none_or(|n| n >= 1),
            rule: ">= 1, or null for all".into(),
            got: v.map_or("null".into(), |n| n.to_string()),
        }
    }
    /// A finite float > 0.
    pub fn positive(field: &'static str, v: f64) -> Bound {
        Bound::float(field, v, v > 0.0, "> 0")
    }
    /// A finite float >= 0.
    pub fn non_negative(field: &'static str, v: f64) -> Bound {
        Bound::float(field, v, v >= 0.0, ">= 0")
    }
    /// A float in [0, 1).
    pub fn fraction(field: &'static str, v: f64) -> Bound {
        Bound::float(field, v, (0.0..1.0).contains(&v), "in [0, 1)")
    }
    /// A finite float.
    pub fn finite(field: &'static str, v: f64) -> Bound {
        Bound::float(field, v, true, "finite")
    }
    fn float(field: &'static str, v: f64, ok: bool, rule: &str) -> Bound {
        Bound {
            field,
            ok: v.is_finite() && ok,
            rule: rule.into(),
            got: v.to_string(),
        }
    }
}

/// serde_json appends " at line X column Y" of the in-memory JSON: meaningless here.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// The typed params of a running stage, from the canonical JSON `normalize` returned.
pub fn typed<T: DeserializeOwned>(params: &Value) -> Result<T, crate::kind::StageError> {
    T::deserialize(params).map_err(|e| crate::kind::StageError::Params(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct P {
        #[serde(default)]
        z_star: f64,
        #[serde(default)]
        inner: Inner,
    }
    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[serde(default)]
        k: u32,
    }

    fn map(v: serde_json::Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn an_unknown_field_is_located_and_suggests_one_of_the_struct_fields() {
        let e = parse::<P>(&map(serde_json::json!({"z_sta": 1.0}))).unwrap_err();
        assert_eq!(e.field, "z_sta");
        assert_eq!(e.suggestion.as_deref(), Some("z_star"));
        let e = parse::<P>(&map(serde_json::json!({"inner": {"kk": 1}}))).unwrap_err();
        assert_eq!(e.field, "inner.kk");
        assert_eq!(e.suggestion.as_deref(), Some("k"));
        assert_eq!(
            expected_fields("x`, expected one of `a`, `b`, `c`"),
            ["a", "b", "c"]
        );
        assert_eq!(expected_fields("x`, expected `a` or `b`"), ["a", "b"]);
        assert!(expected_fields("x`, there are no fields").is_empty());
    }

    /// A params struct embedding a domain struct, as `train` embeds `TrainParams`.
    #[derive(Debug, Serialize, Deserialize)]
    struct Embedding {
        #[serde(default)]
        model: String,
        #[serde(flatten)]
        inner: Inner,
    }

    #[test]
    fn an_embedding_struct_refuses_unknown_fields_and_suggests_embedded_ones() {
        let e = parse::<Embedding>(&map(serde_json::json!({"model": "m", "kk": 1}))).unwrap_err();
        assert_eq!(e.field, "kk");
        assert_eq!(e.message, "unknown parameter `kk`");
        assert_eq!(e.suggestion.as_deref(), Some("k"));
        let (_, v) = parse::<Embedding>(&map(serde_json::json!({"k": 2}))).unwrap();
        assert_eq!(v, serde_json::json!({"model": "", "k": 2}));
    }

    #[test]
    fn a_failing_bound_names_the_field_the_rule_and_the_value() {
        let e = check(&[
            Bound::at_least("epochs", 3, 1),
            Bound::positive("lr", 0.0),
            Bound::non_negative("lambda_fair", -1.0),
        ])
        .unwrap_err();
        assert_eq!(e.field, "lr");
        assert_eq!(e.message, "must be > 0 (got 0)");
        assert!(check(&[
            Bound::cap("max_points", None),
            Bound::fraction("warmup", 0.0)
        ])
        .is_ok());
        let e = check(&[Bound::cap("max_points", Some(0))]).unwrap_err();
        assert_eq!(e.message, "must be >= 1, or null for all (got 0)");
        assert!(check(&[Bound::fraction("warmup", 1.0)]).is_err());
        assert!(check(&[Bound::positive("lr", f64::NAN)]).is_err());
        assert!(check(&[Bound::non_negative("lambda_div", f64::INFINITY)]).is_err());
    }

    #[test]
    fn wrong_type_names_the_field_and_defaults_are_filled() {
        let e = parse::<P>(&map(serde_json::json!({"z_star": "x"}))).unwrap_err();
        assert_eq!(e.field, "z_star");
        assert!(!e.message.contains(" at line "), "{}", e.message);
        let (_, v) = parse::<P>(&map(serde_json::json!({}))).unwrap();
        assert_eq!(v, serde_json::json!({"z_star": 0.0, "inner": {"k": 0}}));
    }
}
