//! Errors of the model layer that need no tch; each message names the file and, where there
//! is one, the tensor or config field at fault. mosx-models' `ModelError` wraps this one
//! (transparently: the messages are these) beside its tch variant.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{path}: tensor `{tensor}`: {message}")]
    Tensor {
        path: PathBuf,
        tensor: String,
        message: String,
    },
    #[error("{path}: config field `{field}`: {message}")]
    Config {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error("{0}")]
    Other(String),
}

impl CheckpointError {
    /// A [`CheckpointError::File`] error.
    pub fn file(path: &Path, message: impl Into<String>) -> CheckpointError {
        CheckpointError::File {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// A [`CheckpointError::Tensor`] error.
    pub fn tensor(path: &Path, tensor: &str, message: impl Into<String>) -> CheckpointError {
        CheckpointError::Tensor {
            path: path.to_path_buf(),
            tensor: tensor.to_string(),
            message: message.into(),
        }
    }
}
