//! mosx: declarative, cached experiment orchestration for studies of
//! stereotype-aware unfairness in LLM-based recommenders.
//!
//! Pipeline of modules (dependencies point one way):
//! `cli` → {`plan`, `exec`, `report`} → `stages` → {`predictions`, `backbones`, `prompt`,
//! mosx-data, mosx-fairness, mosx-config}. No stage imports another. The store
//! (`mosx-store`) is reached only through its trait, and opened only by `store::open`.
//!
//! This crate links no libtorch: of the models and methods it uses only their tch-free halves,
//! in mosx-config (checkpoint resolution, method configs), and the stages that need tch
//! (`train`, `evaluate`) are only declared here. The stage worker (`crates/mosx-worker`, which links
//! this library and libtorch) runs them: `exec::worker` starts it and talks to it through
//! `exec::protocol`, and both sides execute a stage through `exec::job::execute`. It never
//! depends on mosx-models or mosx-methods (always on tch), so no build, a workspace one
//! included, links tch into it; `tests/planner_is_torch_free.rs` checks its dependency tree.

pub mod backbones;
pub mod cli;
pub mod device;
pub mod exec;
pub mod plan;
pub mod predictions;
pub mod prompt;
pub mod provenance;
pub mod report;
pub mod stages;
pub mod store;
pub mod table_io;
pub mod trained;
