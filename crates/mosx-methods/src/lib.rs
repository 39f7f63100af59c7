//! mosx-methods: the training methods of the study and the one trainer loop.
//!
//! Layout (like peft + tch's min-gpt): `trainer` holds the only training loop; each
//! method is one file under `methods/` holding its module, registered in one list
//! (`methods::BUILDERS`), beside its serde config in mosx-config's `methods/` (registered
//! in `methods::REGISTRY`); the soft-prompt prepend is written once
//! (`soft_prompt::prepend`); only trainable variables are saved (safetensors, `io`).
//!
//! This crate knows nothing of stages, the store or the spec: it sees token ids, labels,
//! group memberships and a `Backbone`.
//!
//! Always on tch. The tch-free parts, which is what the planner needs to normalise a `train`
//! stage's parameters (the methods' configs and registry, `Objective`, `OptimizerKind`,
//! `OptimConfig`, `Schedule`, `TrainConfig`, `RecLoss`, the logs and the config errors),
//! live in mosx-config and are re-exported here.

pub mod batch;
pub mod diagnostics;
pub mod error;
pub mod io;
pub use mosx_config::log;
pub mod losses;
pub mod method;
pub mod methods;
pub mod optim;
mod resume;
pub mod scoring;
pub mod soft_prompt;
pub mod trainer;

pub use batch::Example;
pub use error::MethodError;
pub use method::Objective;
pub use method::{forward, Method, Setup};
pub use scoring::score;
pub use trainer::{train, Outcome, TrainData};
pub use trainer::{Observer, Schedule, TrainConfig, TrainLog};

use serde_json::Value;
use tch::nn;

use mosx_models::Backbone;

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
