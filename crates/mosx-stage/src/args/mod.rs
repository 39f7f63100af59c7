//! The arguments of the commands that the planner forwards to the stage worker (`mosx
//! tiny-model`, `mosx probe`), declared once: `mosx --help` shows them and checks them, and
//! `mosx-worker` parses the same ones.

pub mod probe;
pub mod tiny;

pub use probe::ProbeArgs;
pub use tiny::{Arch, TinyArgs};
