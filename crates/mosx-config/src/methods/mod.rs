//! The registry of the methods' configs: every method is one file here holding its serde
//! config, its defaults and its `normalize`, and one entry in [`REGISTRY`]; its module (the
//! `build` fn and the `Method` impl) is the file of the same name in mosx-methods'
//! `methods/`, with one line in its `BUILDERS` (a test there checks the two lists name the
//! same methods). Adding a method is adding the two files and a line in each list.
//!
//! A method is named in a spec as a string (`method: mos`, all defaults) or a map with a
//! `name` (`method: { name: mos, experts: 2 }`); [`normalize`] turns either into the
//! canonical map with every default written out, which is what enters the stage key.

use crate::method_error::MethodError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

pub mod fairllm;
pub mod full;
pub mod ifairlrs;
pub mod lora;
pub mod mos;
pub mod p_tuning;
pub mod prompt_tuning;
pub mod up5;

/// One registered method.
pub struct Entry {
    pub name: &'static str,
    pub about: &'static str,
    /// The config's field names (for suggestions).
    pub fields: &'static [&'static str],
    /// Parses a config map (without `name`) and returns it with defaults filled.
    pub normalize: fn(&Map<String, Value>) -> Result<Value, MethodError>,
    /// Default learning rate when the spec gives none.
    pub default_lr: f64,
    /// The objective used when the spec names none; only methods whose default includes
    /// `div` have experts to diversify.
    pub default_objective: crate::objective::Objective,
    /// Whether the method changes the backbone itself (LoRA hooks, full fine-tuning), so a
    /// training or an evaluation needs a private copy of it.
    pub modifies_backbone: bool,
}

/// Every method mosx ships.
pub const REGISTRY: &[Entry] = &[
    full::ENTRY,
    lora::ENTRY,
    p_tuning::ENTRY,
    prompt_tuning::ENTRY,
    mos::ENTRY,
    ifairlrs::ENTRY,
    up5::ENTRY,
    fairllm::ENTRY,
];

/// The entry named `name`, or an error suggesting the closest name.
pub fn entry(name: &str) -> Result<&'static Entry, MethodError> {
    REGISTRY
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| MethodError::UnknownMethod {
            name: name.into(),
            suggestion: closest(name, REGISTRY.iter().map(|e| e.name)),
        })
}

/// The canonical form of a method spec: `{name: ..., <every field with its default>}`.
pub fn normalize(spec: &Value) -> Result<Value, MethodError> {
    let (name, mut fields) = match spec {
        Value::String(s) => (s.clone(), Map::new()),
        Value::Object(m) => {
            let name = match m.get("name") {
                Some(Value::String(s)) => s.clone(),
                _ => {
                    return Err(MethodError::config(
                        "?",
                        "name",
                        "a method map needs `name` (one of: ".to_string()
                            + &names().join(", ")
                            + ")",
                    ))
                }
            };
            let mut m = m.clone();
            m.remove("name");
            (name, m)
        }
        other => {
            return Err(MethodError::config(
                "?",
                "",
                format!("expected a method name or a map with `name`, found {other}"),
            ))
        }
    };
    let e = entry(&name)?;
    let mut v = (e.normalize)(&fields)?;
    check_weights(&name, &v)?;
    fields.clear();
    if let Value::Object(m) = &mut v {
        m.insert("name".into(), Value::String(name));
    }
    Ok(v)
}

/// Bounds the configs share by field name, checked on the canonical config: the weight of a
/// loss term (`lambda`, `lambda_*`) is finite and >= 0 (a negative weight rewards the
/// penalised gap), and LoRA's scale `alpha` is finite and > 0 (0 switches the adapter off).
fn check_weights(method: &str, config: &Value) -> Result<(), MethodError> {
    let Some(m) = config.as_object() else {
        return Ok(());
    };
    for (field, v) in m {
        let Some(x) = v.as_f64() else { continue };
        let (ok, rule) = match field.as_str() {
            f if f == "lambda" || f.starts_with("lambda_") => (x.is_finite() && x >= 0.0, ">= 0"),
            "alpha" => (x.is_finite() && x > 0.0, "> 0"),
            _ => continue,
        };
        if !ok {
            return Err(MethodError::config(
                method,
                field,
                format!("must be {rule} (got {x})"),
            ));
        }
    }
    Ok(())
}

/// The registered names.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|e| e.name).collect()
}

/// Strict parse of a method's config (unknown fields and wrong types name the field).
pub fn parse_config<C: DeserializeOwned + Serialize>(
    method: &str,
    fields: &[&str],
    map: &Map<String, Value>,
) -> Result<(C, Value), MethodError> {
    let typed: C = serde_json::from_value(Value::Object(map.clone())).map_err(|e| {
        let msg = e.to_string();
        if let Some(rest) = msg.strip_prefix("unknown field `") {
            let field = rest.split('`').next().unwrap_or_default().to_string();
            let hint = closest(&field, fields.iter().copied())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return MethodError::config(method, &field, format!("unknown parameter{hint}"));
        }
        MethodError::config(method, "", msg)
    })?;
    let canonical =
        serde_json::to_value(&typed).map_err(|e| MethodError::config(method, "", e.to_string()))?;
    Ok((typed, canonical))
}

/// Typed config from a canonical map (already validated by `normalize`).
pub fn typed<C: DeserializeOwned>(method: &str, v: &Value) -> Result<C, MethodError> {
    serde_json::from_value(v.clone()).map_err(|e| MethodError::config(method, "", e.to_string()))
}

fn closest<'a>(name: &str, options: impl Iterator<Item = &'a str>) -> Option<String> {
    options
        .map(|o| (strsim::jaro_winkler(name, o), o))
        .filter(|(s, _)| *s > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, o)| o.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_or_a_map_normalise_alike_and_unknown_names_suggest() {
        let a = normalize(&Value::String("mos".into())).unwrap();
        let b = normalize(&serde_json::json!({"name": "mos"})).unwrap();
        assert_eq!(a, b);
        assert_eq!(a["experts"], 4);
        match normalize(&Value::String("prompt_tunning".into())) {
            Err(MethodError::UnknownMethod { suggestion, .. }) => {
                assert_eq!(suggestion.as_deref(), Some("prompt_tuning"))
            }
            other => panic!("{other:?}"),
        }
        let e = normalize(&serde_json::json!({"name": "mos", "expert": 2})).unwrap_err();
        assert!(e.to_string().contains("did you mean `experts`"), "{e}");
    }

    #[test]
    fn negative_loss_weights_and_a_zero_lora_scale_are_refused() {
        for (cfg, field) in [
            (
                serde_json::json!({"name": "fairllm", "lambda": -1.0}),
                "lambda",
            ),
            (
                serde_json::json!({"name": "up5", "lambda_adv": -0.5}),
                "lambda_adv",
            ),
            (serde_json::json!({"name": "lora", "alpha": 0.0}), "alpha"),
        ] {
            match normalize(&cfg) {
                Err(MethodError::Config {
                    field: f, message, ..
                }) => {
                    assert_eq!(f, field);
                    assert!(message.starts_with("must be"), "{message}");
                }
                other => panic!("{cfg}: {other:?}"),
            }
        }
        assert!(normalize(&serde_json::json!({"name": "fairllm", "lambda": 0.0})).is_ok());
    }

    /// The canonical configs enter stage keys: their bytes (field order, defaults written
    /// out, float spelling) are pinned here, as the registry wrote them before it moved to
    /// this crate.
    #[test]
    fn canonical_configs_are_byte_stable() {
        let want = [
            r#"{"name":"full"}"#,
            r#"{"rank":8,"alpha":16.0,"dropout":0.05,"name":"lora"}"#,
            r#"{"tokens":16,"hidden":128,"encoder":"mlp","name":"p_tuning"}"#,
            r#"{"tokens":16,"init":"vocab","name":"prompt_tuning"}"#,
            r#"{"experts":4,"tokens":16,"routing":"top1","k":1,"reweighting":true,"renormalize":false,"init":"vocab","name":"mos"}"#,
            r#"{"tokens":16,"name":"ifairlrs"}"#,
            r#"{"tokens":16,"lambda_adv":10.0,"hidden":128,"name":"up5"}"#,
            r#"{"tokens":16,"lambda":1.0,"name":"fairllm"}"#,
        ];
        assert_eq!(names().len(), want.len());
        for (name, want) in names().into_iter().zip(want) {
            let v = normalize(&Value::String(name.into())).unwrap();
            assert_eq!(serde_json::to_string(&v).unwrap(), want, "{name}");
        }
        let e = normalize(&serde_json::json!("lorra")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown method `lorra` (did you mean `lora`?)"
        );
    }
}
