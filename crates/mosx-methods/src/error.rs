//! Errors of the training layer; each names the method, the field, the file or the
//! training step at fault.

use std::path::PathBuf;

use crate::optim::OptimError;

#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    #[error("unknown method `{name}`{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownMethod {
        name: String,
        suggestion: Option<String>,
    },
    #[error("method `{method}`: {field}: {message}")]
    Config {
        method: String,
        field: String,
        message: String,
    },
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
    #[cfg(feature = "torch")]
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

impl MethodError {
    pub(crate) fn config(method: &str, field: &str, message: impl Into<String>) -> MethodError {
        MethodError::Config {
            method: method.into(),
            field: field.into(),
            message: message.into(),
        }
    }
}
