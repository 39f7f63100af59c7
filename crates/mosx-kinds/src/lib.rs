//! mosx-kinds: every stage kind mosx ships, one per file, and the [`registry::builtin`] set a
//! spec may name. The planner (`mosx`) plans with them and runs the in-process ones; the
//! worker (`mosx-worker`) runs the jobs it is sent with the same declarations: the device
//! kinds (`train`, `evaluate`) on its runners, any other one (a cluster job) in-process.
//!
//! Invariants (the trait's are in `mosx_stage::kind`):
//! * No kind imports another; what two kinds share is in the kernel (`mosx_stage`).
//! * Kind names are written only here.
//! * This crate links no libtorch: the device kinds are only declared here (slots, params,
//!   key files, resource, code units, which name their runners' files in the worker).
//!
//! The kernel's stage items are re-exported, so that a kind, the trait and its parts are all
//! reached as `mosx_kinds::NAME` (the planner's `stages::NAME`).

pub mod artifacts;
pub mod baseline;
pub mod candidates;
pub mod evaluate;
pub mod load;
pub mod measure;
pub mod metrics;
pub mod registry;
pub mod sample;
pub mod split;
pub mod train;

pub use mosx_stage::kind::*;
pub use mosx_stage::{artifact, params};
pub use mosx_stage::{Inputs, Output, ParamError, Registry};
