//! mosx-config: the tch-free halves of mosx-models and mosx-methods.
//!
//! The planner (`mosx`) depends on this crate, never on mosx-models or mosx-methods, so it
//! links no libtorch even in a workspace build; the worker and the two tch crates use the
//! same items (they re-export them).
//!
//! Invariants:
//! * Nothing here depends on tch or tokenizers (see `Cargo.toml`): checkpoint resolution
//!   (`Checkpoint::resolve`: folder or HF cache, config, tokenizer and weight files, headers
//!   only), [`Dtype`] and [`CheckpointError`] for the models; for the methods, each method's
//!   serde config, defaults and `normalize` ([`methods`]), [`Objective`], the optimizer and
//!   training configs, [`RecLoss`], the training log and [`MethodError`].
//! * Layout (like peft's `tuners/<method>/config.py` beside `model.py`): each method's config
//!   is one file `methods/<name>.rs` here, its module (the `build` fn and the `Method` impl)
//!   one file `methods/<name>.rs` in mosx-methods; [`methods::REGISTRY`] lists the configs,
//!   mosx-methods' `methods::BUILDERS` the modules, and a test there checks that every entry
//!   has exactly one builder and every builder an entry.
//! * The canonical config [`methods::normalize`] returns enters stage keys: its bytes (field
//!   names, order, defaults written out) are part of every cached `train` result.

pub mod checkpoint;
pub mod dtype;
pub mod log;
pub mod losses;
pub mod method_error;
pub mod methods;
pub mod model_error;
pub mod objective;
pub mod optim;
pub mod train;

pub use checkpoint::Checkpoint;
pub use dtype::Dtype;
pub use log::TrainLog;
pub use losses::RecLoss;
pub use method_error::MethodError;
pub use model_error::CheckpointError;
pub use objective::Objective;
pub use optim::{OptimConfig, OptimConfigError, OptimizerKind};
pub use train::{Observer, Schedule, TrainConfig};
