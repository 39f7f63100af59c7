//! Running a plan: which stages are dirty ([`check`]), the one scheduler
//! ([`scheduler`]) and the executors behind its trait ([`local`], [`slurm`]).
//!
//! Invariants:
//! * A stage runs only after all its inputs are in the store; in-process stages run in
//!   parallel up to `-j`, stages executed by the worker one at a time per device.
//! * Every stage runs through [`job::execute`] (here, or in the worker), so leases,
//!   heartbeats, commits and recorded failures are the same wherever it runs: a stage's row is
//!   committed only after the stage succeeded; a failure is recorded as a failed execution,
//!   never as a result.
//! * A failing stage fails only its descendants; everything else still runs. A worker that
//!   dies fails the stage it was running (`worker exited: signal 9 (SIGKILL)`), and only it.
//! * Before running, a stage takes a lease in the store, so two processes on one
//!   store never compute the same stage; a stage finished meanwhile by another
//!   process is taken from the cache.
//! * The executor knows stage kinds only through `StageKind` (`execution()` says where one
//!   runs); it never loads libtorch.
//! * Ctrl-C: the workers are killed, then every lease of this run is released; exit 130.

pub mod local;
pub mod scheduler;
pub mod slurm;
pub mod status;
pub mod worker;

pub use mosx_stage::console::ConsoleReport;
pub use mosx_stage::{job, progress, protocol, source};

use std::collections::HashMap;
use std::sync::Arc;

use mosx_store::{CacheCheck, RunId, RunInfo, Store, StoreError};

use crate::plan::Plan;
use crate::stages::Execution;
use progress::RunProgress;
pub use status::{Reason, Status};
use worker::WorkerPool;

pub struct Options {
    pub jobs: usize,
    pub quiet: bool,
    /// The workers of the stages that execute in the worker; `None` when none is to run.
    pub workers: Option<Arc<WorkerPool>>,
}

/// What happened to each stage of a run.
#[derive(Debug, Default)]
pub struct Summary {
    pub total: usize,
    pub cached: usize,
    pub executed: Vec<String>,
    /// Finished by another process while this one waited for it.
    pub by_other: usize,
    pub failed: Vec<(String, String)>,
    pub skipped: Vec<(String, String)>,
    /// Skipped because an upstream result cut them (a pruned trial), with the reason: not a
    /// failure.
    pub pruned: Vec<(String, String)>,
}

/// The scheduler's [`scheduler::Cut`] of a run on `store`: a stage with a `prune` param (a
/// trial's training under `sweep.prune`) whose stored metrics have `pruned_at_epoch: e`
/// cuts its descendants with the reason `trial pruned at epoch e`.
pub struct PrunedCut<'a> {
    pub store: &'a dyn Store,
}

impl scheduler::Cut for PrunedCut<'_> {
    fn may_cut(&self, plan: &Plan, i: petgraph::graph::NodeIndex) -> bool {
        plan.graph[i].params.get("prune").is_some()
    }
    fn cut(&self, plan: &Plan, i: petgraph::graph::NodeIndex) -> Option<String> {
        if !self.may_cut(plan, i) {
            return None;
        }
        let metrics = self.store.metrics(&plan.graph[i].key).ok()?;
        let (_, e) = metrics
            .into_iter()
            .find(|(m, _)| m == crate::stages::train::PRUNED_METRIC)?;
        Some(format!("trial pruned at epoch {e}"))
    }
}

/// Fresh/Dirty status of every node (indexed by node index).
pub fn check(
    plan: &Plan,
    store: Option<&dyn Store>,
    forced: &dyn Fn(&str) -> bool,
) -> Result<Vec<Status>, StoreError> {
    let keys: Vec<String> = plan
        .graph
        .node_indices()
        .map(|i| plan.graph[i].key.clone())
        .collect();
    let checks: HashMap<String, CacheCheck> = match store {
        Some(s) => s.check_many(&keys)?,
        None => HashMap::new(),
    };
    let scope = plan.scope();
    Ok(plan
        .graph
        .node_indices()
        .map(|i| {
            let n = &plan.graph[i];
            let c = checks
                .get(&n.key)
                .cloned()
                .unwrap_or(CacheCheck::Miss(mosx_store::MissReason::NotFound));
            status::status(store, &scope, n, &c, forced(&n.name))
        })
        .collect())
}

/// Runs the dirty stages of `plan` on the local executor (`-j` threads, the local workers);
/// `grow` may extend the plan while it runs (`scheduler::Grow`): the plan it ended with
/// comes back with the summary.
pub fn run(
    plan: Arc<Plan>,
    store: Arc<dyn Store>,
    run: RunId,
    info: &RunInfo,
    statuses: &[Status],
    opts: &Options,
    grow: &mut dyn scheduler::Grow,
) -> (Summary, Arc<Plan>) {
    let (dirty, mut summary) = scheduler::start(&plan, statuses);
    let progress = Arc::new(RunProgress::new(dirty.len() as u64, opts.quiet));
    let workers = opts.workers.clone();
    let cut_store = store.clone();
    let cut = PrunedCut { store: &*cut_store };
    match local::Local::new(
        plan.clone(),
        store,
        run,
        info,
        opts.jobs,
        workers,
        progress.clone(),
    ) {
        Ok(mut local) => scheduler::run(plan, statuses, &mut local, &progress, &cut, grow),
        Err(e) => {
            summary.failed.push(("<executor>".into(), e.to_string()));
            (summary, plan)
        }
    }
}

/// Remember each node's fingerprint (not those of failed or skipped stages), for the next
/// `--explain` of this spec.
pub fn remember_fingerprints(
    plan: &Plan,
    store: &dyn Store,
    summary: &Summary,
) -> Result<(), StoreError> {
    let failed: std::collections::HashSet<&str> = summary
        .failed
        .iter()
        .chain(summary.skipped.iter())
        .chain(summary.pruned.iter())
        .map(|(n, _)| n.as_str())
        .collect();
    let entries: Vec<(String, String, serde_json::Value)> = plan
        .graph
        .node_indices()
        .map(|i| &plan.graph[i])
        .filter(|n| !failed.contains(n.name.as_str()))
        .map(|n| {
            let parts = serde_json::to_value(&n.parts).unwrap_or_default();
            (n.name.clone(), n.key.clone(), parts)
        })
        .collect();
    store.lineage_put_many(&plan.scope(), &entries)
}

/// Removes the scratch folder (`.work/KEY`) of every stage already stored. A commit removes
/// it right after the row is durable; a kill between the two leaves it, and the rerun finds
/// the stage cached and would never run it again, so the folder is removed here instead.
/// A failure to remove is left for `mosx gc` (which sweeps work folders of no live stage).
pub fn clear_committed_work(plan: &Plan, store: &dyn Store, statuses: &[Status]) {
    for i in plan.graph.node_indices() {
        if matches!(statuses[i.index()], Status::Fresh) {
            if let Ok(dir) = store.work_dir(&plan.graph[i].key) {
                if dir.exists() {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
        }
    }
}

/// End run `run` (`ok` or `failed`) with its summary, then fold the store's write-ahead log
/// in, so the database file alone is the whole store.
pub fn end_run(
    store: &dyn Store,
    run: RunId,
    ok: bool,
    summary: &Summary,
) -> Result<(), StoreError> {
    store.end_run(
        run,
        if ok { "ok" } else { "failed" },
        &serde_json::json!({
            "total": summary.total, "cached": summary.cached, "executed": summary.executed,
            "failed": summary.failed, "skipped": summary.skipped,
            "pruned": summary.pruned,
        }),
    )?;
    store.checkpoint()
}

/// Whether any stage that executes in the worker is dirty and not in `cut` (then a worker is
/// needed).
pub fn needs_worker(
    plan: &Plan,
    statuses: &[Status],
    cut: &std::collections::HashSet<petgraph::graph::NodeIndex>,
) -> bool {
    plan.graph.node_indices().any(|i| {
        matches!(statuses[i.index()], Status::Dirty(_))
            && !cut.contains(&i)
            && plan.graph[i].kind.execution() == Execution::Worker
    })
}

/// The dirty stages that a cached stage's result cuts (a rerun of a pruned trial's
/// evaluation): the scheduler will skip them, so they need no worker.
pub fn cut_by_cached(
    plan: &Plan,
    statuses: &[Status],
    cut: &dyn scheduler::Cut,
) -> std::collections::HashSet<petgraph::graph::NodeIndex> {
    let g = &plan.graph;
    let mut out = std::collections::HashSet::new();
    for i in g.node_indices() {
        if matches!(statuses[i.index()], Status::Dirty(_)) || cut.cut(plan, i).is_none() {
            continue;
        }
        let mut dfs = petgraph::visit::Dfs::new(g, i);
        let _ = dfs.next(g);
        while let Some(d) = dfs.next(g) {
            if matches!(statuses[d.index()], Status::Dirty(_)) {
                out.insert(d);
            }
        }
    }
    out
}
