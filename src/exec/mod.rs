//! The executor: runs the dirty stages of a plan in topological order.
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

pub mod slurm;
pub mod status;
pub mod worker;

pub use mosx_stage::console::ConsoleReport;
pub use mosx_stage::{job, progress, protocol, source};

use std::collections::{HashMap, HashSet};
use std::sync::{mpsc, Arc};

use petgraph::graph::NodeIndex;
use petgraph::Direction;

use mosx_store::{CacheCheck, RunId, RunInfo, Store, StoreError};

use crate::plan::Plan;
use crate::stages::Execution;
use job::{execute, Done, Leases};
use progress::RunProgress;
use source::StoreSource;
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
}

/// The dirty nodes of a run and its summary before anything ran (every executor starts here).
/// The nodes forced to rerun (`--force`).
pub(crate) fn forced(statuses: &[Status]) -> HashSet<NodeIndex> {
    statuses
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, Status::Dirty(Reason::Forced)))
        .map(|(i, _)| NodeIndex::new(i))
        .collect()
}

pub(crate) fn start(plan: &Plan, statuses: &[Status]) -> (HashSet<NodeIndex>, Summary) {
    let g = &plan.graph;
    let dirty: HashSet<NodeIndex> = g
        .node_indices()
        .filter(|i| matches!(statuses[i.index()], Status::Dirty(_)))
        .collect();
    let summary = Summary {
        total: g.node_count(),
        cached: g.node_count() - dirty.len(),
        ..Default::default()
    };
    (dirty, summary)
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

pub fn run(
    plan: Arc<Plan>,
    store: Arc<dyn Store>,
    run: RunId,
    info: &RunInfo,
    statuses: &[Status],
    opts: &Options,
) -> Summary {
    let g = &plan.graph;
    let (dirty, mut summary) = start(&plan, statuses);
    let forced = Arc::new(forced(statuses));
    let mut waiting: HashMap<NodeIndex, usize> = dirty
        .iter()
        .map(|i| {
            (
                *i,
                g.neighbors_directed(*i, Direction::Incoming)
                    .filter(|u| dirty.contains(u))
                    .count(),
            )
        })
        .collect();
    let progress = Arc::new(RunProgress::new(dirty.len() as u64, opts.quiet));
    let leases = Arc::new(Leases::default());
    install_interrupt(store.clone(), leases.clone(), opts.workers.clone());

    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .build()
    {
        Ok(p) => p,
        Err(e) => {
            summary.failed.push(("<executor>".into(), e.to_string()));
            return summary;
        }
    };
    let source = Arc::new(StoreSource::new(store.clone()));
    let info = Arc::new(info.clone());
    let (tx, rx) = mpsc::channel::<(NodeIndex, Done)>();
    let mut in_flight = 0usize;
    let mut blocked: HashSet<NodeIndex> = HashSet::new();

    let spawn = |i: NodeIndex, in_flight: &mut usize| {
        *in_flight += 1;
        let force = forced.contains(&i);
        let (plan, store, tx, progress, source, leases, info, workers) = (
            plan.clone(),
            store.clone(),
            tx.clone(),
            progress.clone(),
            source.clone(),
            leases.clone(),
            info.clone(),
            opts.workers.clone(),
        );
        pool.spawn(move || {
            let node = &plan.graph[i];
            let done = match (node.kind.execution(), &workers) {
                (Execution::InProcess, _) => {
                    let job = plan.job(i, run, &info, IN_PROCESS_DEVICE).forcing(force);
                    let report = ConsoleReport::new(&progress, &node.name);
                    execute(
                        &job,
                        &*store,
                        &*source,
                        &leases,
                        &report,
                        IN_PROCESS_DEVICE,
                        |ctx| node.kind.run(ctx),
                    )
                }
                (Execution::Worker, Some(w)) => {
                    let job = plan.job(i, run, &info, &w.label()).forcing(force);
                    w.run(&job, &progress, &leases, &*store)
                }
                (Execution::Worker, None) => {
                    plan.job(i, run, &info, "").fail(&*store, NO_WORKER.to_string())
                }
            };
            let _ = tx.send((i, done));
        });
    };

    let mut ready: Vec<NodeIndex> = plan
        .order
        .iter()
        .copied()
        .filter(|i| waiting.get(i) == Some(&0))
        .collect();
    for i in ready.drain(..) {
        spawn(i, &mut in_flight);
    }
    while in_flight > 0 {
        let Ok((i, done)) = rx.recv() else { break };
        in_flight -= 1;
        progress.finished();
        let name = g[i].name.clone();
        let ok = match done {
            Done::Ran { seconds: secs } => {
                progress.println(&format!(
                    "  ran {name} ({}) in {secs:.2}s",
                    g[i].kind.name()
                ));
                summary.executed.push(name.clone());
                true
            }
            Done::ByOther => {
                progress.println(&format!("  {name}: computed by another mosx process"));
                summary.by_other += 1;
                true
            }
            Done::Failed { error: e } => {
                progress.println(&format!("  FAILED {name}: {e}"));
                summary.failed.push((name.clone(), e));
                false
            }
        };
        if ok {
            let mut next: Vec<NodeIndex> = Vec::new();
            for c in g.neighbors_directed(i, Direction::Outgoing) {
                if let Some(w) = waiting.get_mut(&c) {
                    *w = w.saturating_sub(1);
                    if *w == 0 && !blocked.contains(&c) {
                        next.push(c);
                    }
                }
            }
            next.sort();
            next.dedup();
            for c in next {
                spawn(c, &mut in_flight);
            }
        } else {
            let mut dfs = petgraph::visit::Dfs::new(g, i);
            let _ = dfs.next(g);
            while let Some(d) = dfs.next(g) {
                if dirty.contains(&d) && blocked.insert(d) {
                    summary
                        .skipped
                        .push((g[d].name.clone(), format!("upstream {name} failed")));
                }
            }
        }
    }
    progress.clear();
    // The workers exit at the end of their input; the Ctrl-C handler keeps the pool alive, so
    // it is not dropped here.
    if let Some(w) = &opts.workers {
        w.shutdown();
    }
    summary
}

/// The device label of stages that run in-process.
const IN_PROCESS_DEVICE: &str = "cpu";

/// The failure of a worker stage in a run given no workers (a bug of the caller).
const NO_WORKER: &str = "this stage runs in the stage worker, and the run was started without one";

/// Whether any stage that executes in the worker is dirty (then a worker is needed).
pub fn needs_worker(plan: &Plan, statuses: &[Status]) -> bool {
    plan.graph.node_indices().any(|i| {
        matches!(statuses[i.index()], Status::Dirty(_))
            && plan.graph[i].kind.execution() == Execution::Worker
    })
}

/// Ctrl-C: kill the workers, release the leases held (the workers' too: they are this run's),
/// then exit 130. Results already committed stay; the interrupted stages left nothing behind
/// and run again next time.
fn install_interrupt(store: Arc<dyn Store>, leases: Arc<Leases>, workers: Option<Arc<WorkerPool>>) {
    let _ = ctrlc::set_handler(move || {
        if let Some(w) = &workers {
            w.kill();
        }
        leases.release_all(&*store);
        eprintln!("\ninterrupted: finished stages are cached; rerun to resume");
        std::process::exit(130);
    });
}
