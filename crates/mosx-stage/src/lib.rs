//! mosx-stage: the stage kernel that the planner (`mosx`) and the stage worker (`mosx-worker`)
//! both build on, as siblings: neither depends on the other, and this crate links no
//! libtorch.
//!
//! It holds what both sides of a stage execution must agree on:
//! * the stage trait and its slots, params parsing and artifacts ([`kind`], [`params`],
//!   [`artifact`], declared by their producers in [`declared`]), and a [`Registry`] of kinds (the kinds themselves are `mosx-kinds`');
//! * a stage's key parts and its code table ([`parts`], [`code`], [`code_units`]);
//! * one stage execution, written once: the [`job::Job`], [`job::execute`] (lease, heartbeat,
//!   commit or recorded failure), and the worker protocol's events ([`protocol`]);
//! * the shared payloads ([`predictions`], [`rankings`], [`trained`]), prompts ([`prompt`]), device
//!   requests ([`device`]), the project's folders ([`project`]), the store location ([`store`]) and the arguments of the commands
//!   the planner forwards to the worker ([`args`]).
//!
//! Dependencies point one way: this crate uses the domain crates (mosx-data, mosx-store,
//! mosx-spec and the tch-free configs of backbones and methods), never the planner's plan,
//! reports or executors, nor the worker's runners.

pub mod args;
pub mod artifact;
pub mod backbones;
pub mod chat;
pub mod code;
pub mod code_units;
pub mod console;
pub mod declared;
pub mod device;
pub mod job;
pub mod kind;
pub mod libtorch_version;
pub mod params;
pub mod parts;
pub mod predictions;
pub mod progress;
pub mod project;
pub mod prompt;
pub mod protocol;
pub mod rankings;
pub mod registry;
pub mod source;
pub mod store;
pub mod table_io;
pub mod trained;

pub use artifact::{Inputs, Output};
pub use declared::{ArtifactRef, Format, SlotRef};
pub use kind::{
    Execution, ExternalFile, KindRef, Progress, Resource, Slot, StageCtx, StageError, StageKind,
};
pub use params::ParamError;
pub use project::Project;
pub use registry::Registry;

/// The version of mosx (the planner and the worker are built from one workspace version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
