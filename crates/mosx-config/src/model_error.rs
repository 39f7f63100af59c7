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
    /// A config field whose value a model cannot build from (no file at hand: the config
    /// was given, not read).
    #[error("{model} config field `{field}`: {message}")]
    ModelConfig {
        model: String,
        field: String,
        message: String,
    },
    /// Weights asked for in a tensor kind the model does not run in (`kind` as tch names it).
    #[error("{model} weights must be a floating kind, not {kind}")]
    WeightKind { model: String, kind: String },
    /// A LoRA rank below 1.
    #[error("LoRA rank must be positive, found {rank}")]
    LoraRank { rank: i64 },
    /// LoRA settings out of range.
    #[error(
        "invalid LoRA settings: rank {rank} (must be ≥ 1), alpha {alpha} (finite), dropout {dropout} (in [0, 1))"
    )]
    LoraSettings { rank: i64, alpha: f64, dropout: f64 },
    /// LoRA asked for twice on one model.
    #[error("LoRA adapters are already enabled on this {model}")]
    LoraEnabled { model: String },
    /// A LoRA target the architecture has no projection for (a non-gated T5's `gate`).
    #[error("LoRA target `{target}` does not exist in {model} (it has: {has})")]
    LoraTarget {
        target: String,
        model: String,
        has: String,
    },
    /// A probe prompt (1-based `index`) that the tokenizer encodes to no token.
    #[error("prompt {index} encodes to no token: {prompt:?}")]
    EmptyPrompt { index: usize, prompt: String },
    /// A probe prompt (1-based `index`) left without a score.
    #[error("prompt {index} was not scored")]
    Unscored { index: usize },
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
