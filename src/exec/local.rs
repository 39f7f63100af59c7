//! The local executor: in-process stages on a thread pool of `-j` threads, device stages on
//! the local workers (one per device, `exec::worker`), under the one scheduler
//! (`exec::scheduler`).
//!
//! Invariants:
//! * Every stage runs through `job::execute` (here, or in the worker), so leases, heartbeats,
//!   commits and recorded failures are the same wherever it runs.
//! * A worker stage in a run started without workers fails with [`NO_WORKER`] (a bug of the
//!   caller), recorded like any failure.
//! * Ctrl-C kills the workers, then releases every lease of this run (the workers' too).

use std::sync::{mpsc, Arc};

use petgraph::graph::NodeIndex;

use mosx_store::{RunId, RunInfo, Store};

use super::job::{execute, Done, Leases};
use super::progress::RunProgress;
use super::scheduler::{Ended, Executor};
use super::source::StoreSource;
use super::worker::WorkerPool;
use super::ConsoleReport;
use crate::plan::Plan;
use crate::stages::Execution;

/// The device label of stages that run in-process.
const IN_PROCESS_DEVICE: &str = "cpu";

/// The failure of a worker stage in a run given no workers (a bug of the caller).
pub const NO_WORKER: &str =
    "this stage runs in the stage worker, and the run was started without one";

pub struct Local {
    plan: Arc<Plan>,
    store: Arc<dyn Store>,
    run: RunId,
    info: Arc<RunInfo>,
    pool: rayon::ThreadPool,
    progress: Arc<RunProgress>,
    source: Arc<StoreSource>,
    leases: Arc<Leases>,
    workers: Option<Arc<WorkerPool>>,
    tx: mpsc::Sender<(NodeIndex, Done)>,
    rx: mpsc::Receiver<(NodeIndex, Done)>,
}

impl Local {
    /// A local executor of `jobs` threads; `workers` run the device stages.
    pub fn new(
        plan: Arc<Plan>,
        store: Arc<dyn Store>,
        run: RunId,
        info: &RunInfo,
        jobs: usize,
        workers: Option<Arc<WorkerPool>>,
        progress: Arc<RunProgress>,
    ) -> Result<Local, rayon::ThreadPoolBuildError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs.max(1))
            .build()?;
        let (tx, rx) = mpsc::channel();
        Ok(Local {
            source: Arc::new(StoreSource::new(store.clone())),
            plan,
            store,
            run,
            info: Arc::new(info.clone()),
            pool,
            progress,
            leases: Arc::new(Leases::default()),
            workers,
            tx,
            rx,
        })
    }
}

impl Executor for Local {
    fn start(&mut self, i: NodeIndex, force: bool) -> Result<(), String> {
        let (plan, store, tx, progress, source, leases, info, workers, run) = (
            self.plan.clone(),
            self.store.clone(),
            self.tx.clone(),
            self.progress.clone(),
            self.source.clone(),
            self.leases.clone(),
            self.info.clone(),
            self.workers.clone(),
            self.run,
        );
        self.pool.spawn(move || {
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
                (Execution::Worker, None) => plan
                    .job(i, run, &info, "")
                    .fail(&*store, NO_WORKER.to_string()),
            };
            let _ = tx.send((i, done));
        });
        Ok(())
    }

    fn replan(&mut self, plan: Arc<Plan>) {
        // Stages already started keep the plan they were started with (the same node there).
        self.plan = plan;
    }

    fn wait(&mut self) -> Vec<Ended> {
        let Ok(first) = self.rx.recv() else {
            return Vec::new();
        };
        std::iter::once(first)
            .chain(self.rx.try_iter())
            .map(|(node, done)| Ended {
                node,
                done,
                via: String::new(),
            })
            .collect()
    }

    fn interrupt(&self) -> Box<dyn Fn() + Send + 'static> {
        let (store, leases, workers) = (
            self.store.clone(),
            self.leases.clone(),
            self.workers.clone(),
        );
        Box::new(move || {
            if let Some(w) = &workers {
                w.kill();
            }
            leases.release_all(&*store);
            eprintln!("\ninterrupted: finished stages are cached; rerun to resume");
        })
    }

    fn finish(&mut self) {
        // The workers exit at the end of their input; the Ctrl-C handler keeps the pool alive,
        // so it is not dropped here.
        if let Some(w) = &self.workers {
            w.shutdown();
        }
    }
}
