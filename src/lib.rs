//! mosx: declarative, cached experiment orchestration for studies of
//! stereotype-aware unfairness in LLM-based recommenders.
//!
//! This is the planner: the CLI, the plan (spec → DAG of stages with keys), the executors
//! (local and Slurm), the reports. It builds on the stage kernel `mosx-stage` (the stage trait,
//! jobs and their execution, the worker protocol, prompts, payloads), as the stage worker
//! `mosx-worker` does; neither depends on the other. Of the models and methods it uses only
//! their tch-free halves (mosx-config), so no build, a workspace one included, links libtorch
//! into it (`tests/planner_is_torch_free.rs` checks its dependency tree and the binary).
//!
//! Pipeline of modules (dependencies point one way):
//! `cli` → {`plan`, `exec`, `report`, `mlflow`, `search`} → `stages` → {mosx-stage, mosx-data,
//! mosx-fairness, mosx-stats, mosx-config}; `mlflow` shares trainings on an MLflow tracking
//! server, `search` is the planning loop of a `sweep.search`. No stage imports another. The store (`mosx-store`) is reached only through its
//! trait, and opened only by `store::open`. The kinds that need tch (`train`, `evaluate`) are
//! declared in the kernel; `exec::worker` starts the worker and talks to it through
//! `exec::protocol`, and both sides execute a stage through `exec::job::execute`.

pub mod cli;
pub mod exec;
pub mod mlflow;
pub mod plan;
pub mod provenance;
pub mod report;
pub mod search;

// The kernel's modules that the planner's modules name by these paths (one home each, in
// mosx-stage).
pub use mosx_kinds as stages;
pub use mosx_stage::{backbones, device, predictions, prompt, store, table_io, trained};
