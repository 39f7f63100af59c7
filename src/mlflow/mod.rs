//! Sharing runs on an MLflow tracking server (`mosx export --to mlflow URI SPEC`).
//!
//! Every `train` stage of a spec becomes one MLflow run in the experiment named after the
//! spec, holding the training and its evaluations: params (the training's normalised
//! params, flattened to dotted names), per-epoch and per-step metrics from the training log
//! (steps), final metrics (the training's own and each evaluation's, e.g. `auc`, `F`),
//! artifacts (the adapter, the training's log and config, the rendered reports) and tags
//! (the stage key, the git commit that computed it).
//!
//! The pieces: [`client`] (a small blocking client of MLflow's REST API 2.0), [`names`]
//! (what MLflow keys and values may hold), [`runs`] (what one run holds, read from the plan
//! and the store, and the request bodies it is sent in), [`push`] (creating or updating the
//! runs on the server) and [`error`].
//!
//! Invariants:
//! * Idempotent: a run is found by its tag `mosx.stage_key` (the training's content key); a
//!   second export updates that run, never creates another. Everything logged is a function
//!   of the store (metric timestamps are the stage's finish time, never "now"), so logging it
//!   again writes rows MLflow already has; only the tag `mosx.exported_at` and the run's end
//!   time say when it was last exported.
//! * http:// only: the client is built without TLS.
//! * Artifacts go through the server's artifact proxy (`mlflow server --serve-artifacts`);
//!   a server that hands out another artifact store is refused with an error naming it.

pub mod client;
pub mod error;
pub mod names;
pub mod push;
pub mod runs;

pub use client::Client;
pub use error::MlflowError;
pub use push::{push_all, Pushed};
pub use runs::{training_runs, RunContent};
