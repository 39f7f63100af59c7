//! Typed reads of fields of a Hugging Face `config.json` object, shared by the model
//! configs. An absent or `null` field takes the caller's default; a field of the wrong
//! type is an error naming the file and the field (with its prefix, e.g.
//! `text_config.hidden_size`).

use std::path::Path;

use serde_json::Value;

use crate::error::{CheckpointError, ModelError};

pub(crate) struct ConfigFields<'a> {
    pub v: &'a Value,
    pub path: &'a Path,
    /// Prepended to field names in errors (`""` or `"text_config."`).
    pub prefix: &'a str,
}

impl ConfigFields<'_> {
    pub fn err(&self, field: &str, message: impl Into<String>) -> ModelError {
        CheckpointError::Config {
            path: self.path.to_path_buf(),
            field: format!("{}{field}", self.prefix),
            message: message.into(),
        }
        .into()
    }

    /// The field's value, `None` when absent or `null`.
    pub fn present(&self, field: &str) -> Option<&Value> {
        self.v.get(field).filter(|x| !x.is_null())
    }

    pub fn int(&self, field: &str, default: i64) -> Result<i64, ModelError> {
        match self.present(field) {
            None => Ok(default),
            Some(x) => x
                .as_i64()
                .ok_or_else(|| self.err(field, format!("expected an integer, found {x}"))),
        }
    }

    /// Absent → `default`; explicit `null` → `None`.
    pub fn opt_int(&self, field: &str, default: Option<i64>) -> Result<Option<i64>, ModelError> {
        match self.v.get(field) {
            None => Ok(default),
            Some(Value::Null) => Ok(None),
            Some(x) => x
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.err(field, format!("expected an integer, found {x}"))),
        }
    }

    pub fn positive(&self, field: &str, default: i64) -> Result<i64, ModelError> {
        let v = self.int(field, default)?;
        if v <= 0 {
            return Err(self.err(field, format!("must be positive, found {v}")));
        }
        Ok(v)
    }

    pub fn float(&self, field: &str, default: f64) -> Result<f64, ModelError> {
        match self.present(field) {
            None => Ok(default),
            Some(x) => x
                .as_f64()
                .ok_or_else(|| self.err(field, format!("expected a number, found {x}"))),
        }
    }

    pub fn opt_float(&self, field: &str) -> Result<Option<f64>, ModelError> {
        match self.present(field) {
            None => Ok(None),
            Some(x) => x
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.err(field, format!("expected a number, found {x}"))),
        }
    }

    pub fn opt_bool(&self, field: &str) -> Result<Option<bool>, ModelError> {
        match self.present(field) {
            None => Ok(None),
            Some(x) => x
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.err(field, format!("expected true/false, found {x}"))),
        }
    }

    pub fn boolean(&self, field: &str, default: bool) -> Result<bool, ModelError> {
        Ok(self.opt_bool(field)?.unwrap_or(default))
    }

    pub fn string(&self, field: &str, default: &str) -> Result<String, ModelError> {
        match self.present(field) {
            None => Ok(default.to_string()),
            Some(x) => x
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| self.err(field, format!("expected a string, found {x}"))),
        }
    }

    /// An integer or a list of integers (e.g. `eos_token_id`).
    pub fn int_or_list(&self, field: &str, default: &[i64]) -> Result<Vec<i64>, ModelError> {
        match self.present(field) {
            None => Ok(default.to_vec()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_i64()
                        .ok_or_else(|| self.err(field, format!("expected integers, found {v}")))
                })
                .collect(),
            Some(v) => v
                .as_i64()
                .map(|i| vec![i])
                .ok_or_else(|| self.err(field, format!("expected an integer, found {v}"))),
        }
    }
}
