//! Arguments declared once for the planner and the worker: the store's ([`StoreArgs`]), and
//! those of the commands the planner forwards to the stage worker (`mosx tiny-model`, `mosx
//! probe`): `mosx --help` shows them and checks them, and `mosx-worker` parses the same ones.

pub mod probe;
pub mod store;
pub mod tiny;

pub use probe::ProbeArgs;
pub use store::StoreArgs;
pub use tiny::{Arch, TinyArgs};
