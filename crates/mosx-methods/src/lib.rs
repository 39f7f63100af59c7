//! mosx-methods: the training methods of the study and the one trainer loop.
//!
//! Layout (like peft + tch's min-gpt): `trainer` holds the only training loop; each
//! method is one file under `methods/` holding its serde config and its module, and is
//! registered in one list (`methods::REGISTRY`); the soft-prompt prepend is written once
//! (`soft_prompt::prepend`); only trainable variables are saved (safetensors, `io`).
//!
//! This crate knows nothing of stages, the store or the spec: it sees token ids, labels,
//! group memberships and a `Backbone`.
//!
//! Feature `torch` (default): the methods' modules, the trainer and everything on tch.
//! Without it only the tch-free parts compile (each method file keeps its serde config and
//! registry entry, its module is gated inside the same file), which is what the planner
//! needs to normalise a `train` stage's parameters.

#[cfg(feature = "torch")]
pub mod batch;
#[cfg(feature = "torch")]
pub mod diagnostics;
pub mod error;
#[cfg(feature = "torch")]
pub mod io;
pub mod log;
pub mod losses;
pub mod method;
pub mod methods;
pub mod optim;
#[cfg(feature = "torch")]
mod resume;
#[cfg(feature = "torch")]
pub mod scoring;
#[cfg(feature = "torch")]
pub mod soft_prompt;
pub mod trainer;

#[cfg(feature = "torch")]
pub use batch::Example;
pub use error::MethodError;
pub use method::Objective;
#[cfg(feature = "torch")]
pub use method::{forward, Method, Setup};
#[cfg(feature = "torch")]
pub use scoring::score;
#[cfg(feature = "torch")]
pub use trainer::{train, Outcome, TrainData};
pub use trainer::{Observer, Schedule, TrainConfig, TrainLog};

#[cfg(feature = "torch")]
use serde_json::Value;
#[cfg(feature = "torch")]
use tch::nn;

#[cfg(feature = "torch")]
use mosx_models::Backbone;

#[cfg(feature = "torch")]
/// Rebuilds a trained method from its canonical config and saved parameters (safetensors
/// bytes) on `backbone`, with its variables in `adapter`.
pub fn load_trained(
    config: &Value,
    setup: &Setup,
    backbone: &mut dyn Backbone,
    adapter: &nn::VarStore,
    saved: &[u8],
) -> Result<Box<dyn Method>, MethodError> {
    let (method, _) = methods::build(config, setup, backbone, adapter)?;
    let saved = io::from_bytes(saved, backbone.device())?;
    io::restore(&method.trainable(backbone, adapter), &saved)?;
    Ok(method)
}
