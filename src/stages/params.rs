//! Typed stage parameters: strict parsing with field paths and suggestions.
//!
//! Every kind declares a `serde` struct with `deny_unknown_fields` and defaults;
//! `parse` turns the spec's map into it and back into JSON with every default
//! written out, which is the canonical form the fingerprint hashes.

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

/// Parse `params` into `T`, returning it with its canonical JSON (defaults filled).
pub fn parse<T: DeserializeOwned + Serialize>(
    params: &serde_json::Map<String, Value>,
    fields: &[&str],
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
                suggestion: mosx_spec::suggest(&name, fields.iter().copied()),
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
    Ok((typed, canonical))
}

/// serde_json appends " at line X column Y" of the in-memory JSON: meaningless here.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// The typed params of a running stage, from the canonical JSON `normalize` returned.
pub fn typed<T: DeserializeOwned>(params: &Value) -> Result<T, super::StageError> {
    T::deserialize(params).map_err(|e| super::StageError::Other(format!("params: {e}")))
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
    fn unknown_field_path_and_suggestion() {
        let e = parse::<P>(
            &map(serde_json::json!({"z_sta": 1.0})),
            &["z_star", "inner"],
        )
        .unwrap_err();
        assert_eq!(e.field, "z_sta");
        assert_eq!(e.suggestion.as_deref(), Some("z_star"));
        let e = parse::<P>(
            &map(serde_json::json!({"inner": {"kk": 1}})),
            &["z_star", "inner"],
        )
        .unwrap_err();
        assert_eq!(e.field, "inner.kk");
    }

    #[test]
    fn wrong_type_names_the_field_and_defaults_are_filled() {
        let e = parse::<P>(&map(serde_json::json!({"z_star": "x"})), &[]).unwrap_err();
        assert_eq!(e.field, "z_star");
        assert!(!e.message.contains(" at line "), "{}", e.message);
        let (_, v) = parse::<P>(&map(serde_json::json!({})), &[]).unwrap();
        assert_eq!(v, serde_json::json!({"z_star": 0.0, "inner": {"k": 0}}));
    }
}
