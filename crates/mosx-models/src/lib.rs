//! mosx-models: backbones on tch, loaded by name from Hugging Face checkpoints.
//!
//! This crate knows nothing of stages, specs or the store: it loads a checkpoint
//! folder (`config.json`, `model.safetensors` or a sharded index, `tokenizer.json`)
//! and scores answers. Variable paths are spelled exactly as in the checkpoint so
//! safetensors load by name; pickled checkpoints are never read.
//!
//! Feature `torch` (default): everything on tch and the tokenizer. Without it only the
//! tch-free parts compile, which is what the planner (`mosx`, never linked to libtorch)
//! needs for stage keys: checkpoint resolution (`Checkpoint::resolve`: folder or HF cache,
//! config, tokenizer and weight files), [`Dtype`] and [`ModelError`] without its tch variant.

#[cfg(feature = "torch")]
pub mod backbone;
pub mod checkpoint;
#[cfg(feature = "torch")]
mod config_fields;
pub mod error;
pub mod factory;
#[cfg(feature = "torch")]
pub mod gemma3;
#[cfg(feature = "torch")]
pub mod lora;
#[cfg(feature = "torch")]
pub mod numerics;
#[cfg(feature = "torch")]
pub mod probe;
#[cfg(feature = "torch")]
pub mod t5;
#[cfg(feature = "torch")]
pub mod tiny;
#[cfg(feature = "torch")]
pub mod tokenizer;

#[cfg(feature = "torch")]
pub use backbone::{Architecture, Backbone, LoraConfig, TokenBatch};
pub use error::ModelError;
#[cfg(feature = "torch")]
pub use factory::load_backbone;
pub use factory::Dtype;
