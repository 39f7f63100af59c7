//! Errors of the training layer; each names the method, the field, the file or the
//! training step at fault.
//!
//! A method's config errors (an unknown method, a bad field) are tch-free and are
//! `mosx_config::MethodError`, what the planner sees; they are wrapped here transparently
//! (their messages are this type's) as [`MethodError::Config`].

use std::path::PathBuf;

use crate::optim::OptimError;

#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    /// An unknown method or a bad field of its config (`mosx_config::MethodError`).
    #[error(transparent)]
    Config(#[from] mosx_config::MethodError),
    #[error("non-finite loss {loss} at epoch {epoch}, step {step} (nothing is cached)")]
    NonFinite {
        epoch: usize,
        step: usize,
        loss: f64,
    },
    #[error("the trained `{method}` adapter is a no-op: its validation predictions equal the frozen base's on all {points} points (max |Δp| = {max_diff:e})")]
    NoOp {
        method: String,
        points: usize,
        max_diff: f64,
    },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("adapter tensor `{name}`: {message}")]
    Adapter { name: String, message: String },
    #[error("training data: {0}")]
    Data(String),
    #[error(transparent)]
    Optim(#[from] OptimError),
    #[error(transparent)]
    Model(#[from] mosx_models::ModelError),
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

impl MethodError {
    /// A config error of `method`'s `field` ([`mosx_config::MethodError::Config`]).
    pub(crate) fn config(method: &str, field: &str, message: impl Into<String>) -> MethodError {
        mosx_config::MethodError::config(method, field, message).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_config_error_keeps_its_message() {
        let e = MethodError::config("lora", "rank", "must be at least 1");
        assert_eq!(e.to_string(), "method `lora`: rank: must be at least 1");
        let e = MethodError::from(mosx_config::MethodError::UnknownMethod {
            name: "lorra".into(),
            suggestion: Some("lora".into()),
        });
        assert_eq!(
            e.to_string(),
            "unknown method `lorra` (did you mean `lora`?)"
        );
    }
}
