//! mosx-models: backbones on tch, loaded by name from Hugging Face checkpoints.
//!
//! This crate knows nothing of stages, specs or the store: it loads a checkpoint
//! folder (`config.json`, `model.safetensors` or a sharded index, `tokenizer.json`)
//! and scores answers. Variable paths are spelled exactly as in the checkpoint so
//! safetensors load by name; pickled checkpoints are never read.
//!
//! The tch-free parts, which is what the planner (`mosx`, never linked to libtorch) needs for
//! stage keys, live in mosx-config and are re-exported here: checkpoint resolution
//! (`Checkpoint::resolve`: folder or HF cache, config, tokenizer and weight files),
//! [`Dtype`] and the tch-free errors ([`CheckpointError`], which [`ModelError`] wraps).

pub mod backbone;
pub mod checkpoint;
mod config_fields;
pub mod decoder;
pub mod error;
pub mod factory;
pub mod gemma3;
pub mod llama;
pub mod lora;
pub mod numerics;
pub mod probe;
pub mod t5;
pub mod tiny;
pub mod tokenizer;

pub use backbone::{Architecture, Backbone, LoraConfig, Target, Targets, TokenBatch};
pub use error::{CheckpointError, ModelError};
pub use factory::{load_backbone, Dtype, DtypeKind};
