//! mosx-models: backbones on tch, loaded by name from Hugging Face checkpoints.
//!
//! This crate knows nothing of stages, specs or the store: it loads a checkpoint
//! folder (`config.json`, `model.safetensors` or a sharded index, `tokenizer.json`)
//! and scores answers. Variable paths are spelled exactly as in the checkpoint so
//! safetensors load by name; pickled checkpoints are never read.

pub mod backbone;
pub mod error;

pub use backbone::{Architecture, Backbone, LoraConfig, TokenBatch};
pub use error::ModelError;
