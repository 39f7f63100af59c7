//! The Slurm executor (`mosx run --executor slurm`): every dirty stage of the plan becomes one
//! batch job running `mosx-worker stage --job FILE`, which takes the stage's lease, runs it and
//! commits its row in the shared store exactly as a local run does (`exec::job::execute`).
//!
//! Invariants:
//! * Jobs are submitted in topological order; a job waits (`afterok`) on the jobs of its
//!   dirty parents only. Parents already in the store are read from it, never waited on:
//!   Slurm treats a dependency on a job it has forgotten as satisfied, so a rerun must not
//!   depend on old jobs (mosx-slurm's notes).
//! * The store, not Slurm, says whether a stage succeeded: a stage is done when its row is in
//!   the store. A job that ended without that row failed; its error is the one the worker
//!   recorded in the store (else the tail of the job's log). Slurm cancels the descendants of
//!   a failed job (`--kill-on-invalid-dep`); they are reported skipped, as locally, and
//!   everything else still runs.
//! * Retries (`retries:`, `max_mem:` of the kind's resources; `mosx_slurm::RetryPolicy`
//!   decides): a job that ended without its row after `NODE_FAIL`, `BOOT_FAIL` or `PREEMPTED`
//!   is submitted again as it was, after `OUT_OF_MEMORY` with its `mem` doubled (capped by
//!   `max_mem`); jobs are `--no-requeue`, so only mosx resubmits. Slurm has by then cancelled
//!   the jobs waiting on the failed one (`afterok`, `--kill-on-invalid-dep`), or is about to:
//!   each open descendant's job is cancelled and submitted again, in topological order, so it
//!   waits on the new job. Descendants thus keep their place in the queue's dependency
//!   chain (no hold, no submission delayed until parents finish), Slurm still cleans up after
//!   a planner that died, and the scheduler never sees a retry: for it the stage is still
//!   running. Open stages are judged in topological order, so an upstream's resubmission is
//!   decided before its descendants' cancelled jobs are looked at.
//! * Every job of a stage is recorded in the store (`job_attempts`: job id, state, node,
//!   start and end, memory asked, what became of it; see `flight`), so `mosx show` lists
//!   them wherever the store is reachable, and `mosx gc` (which removes files no row refers
//!   to, job logs included) does not lose them.
//! * Resources come from the spec's `resources:` (the stage kind's entry over `default`),
//!   validated before anything is submitted; a device stage asks for one GPU
//!   (`gres: gpu:1`) unless the run is `--device cpu` or the spec names its gres.
//! * Job files and logs go to `<objects>/.jobs/<run>/`, which must be visible from the
//!   compute nodes (a cluster filesystem), as the objects folder is. The store location is
//!   `<objects>/.jobs/<run>/store` (mode 0600), read by the jobs through `--store-file`: a
//!   URL's password is never on a job's command line or in its batch script.
//! * Ctrl-C cancels every job of this run that has not finished; finished stages stay
//!   cached and a rerun submits only what the store lacks.

mod flight;
mod retry;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use petgraph::graph::NodeIndex;
use petgraph::Direction;

use mosx_slurm::{Cluster, Gres, JobId, JobRecord, JobRequest, JobState, Memory};
use mosx_spec::SpecError;
use mosx_store::{CacheCheck, RunId, RunInfo, Store};

use super::job::{Done, Job};
use super::progress::RunProgress;
use super::scheduler::{Ended, Executor};
use super::{Status, Summary};
use crate::plan::validate_resources::KindResources;
use crate::plan::Plan;
use crate::stages::{Registry, Resource};
use flight::{Flight, Recorder};

/// How the Slurm executor reaches the worker and the store.
pub struct SlurmOptions {
    /// The `mosx-worker` executable, as the compute nodes see it.
    pub worker: PathBuf,
    /// The store, as the compute nodes see it (absolute paths). Jobs get it in a 0600 file
    /// (`--store-file`), never on their command line.
    pub store: crate::store::Location,
    /// What device stages run on: `auto`, `cpu`, `cuda`, `cuda:N`.
    pub device: String,
    /// Job files and logs (on a filesystem the compute nodes share).
    pub jobs_dir: PathBuf,
    /// How often jobs and the store are polled.
    pub poll: Duration,
    pub quiet: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error("--executor slurm: {0}")]
    Detect(#[from] mosx_slurm::DetectError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The resources of each stage kind the plan uses (the kind's `resources:` entry over
/// `default`); the plan checked them already, for every executor.
pub fn resources(
    plan: &Plan,
    registry: &Registry,
) -> Result<BTreeMap<String, KindResources>, SpecError> {
    crate::plan::validate_resources::resources(plan, registry)
}

/// Submits the dirty stages of `plan` and follows them to the end, under the one scheduler
/// (`grow` may extend the plan meanwhile); the summary and the plan it ended with.
#[allow(clippy::too_many_arguments)]
pub fn run(
    plan: Arc<Plan>,
    store: Arc<dyn Store>,
    run: RunId,
    info: &RunInfo,
    statuses: &[Status],
    resources: &BTreeMap<String, KindResources>,
    opts: &SlurmOptions,
    grow: &mut dyn super::scheduler::Grow,
) -> Result<(Summary, Arc<Plan>), SlurmError> {
    let (dirty, _) = super::scheduler::start(&plan, statuses);
    let progress = RunProgress::new(dirty.len() as u64, opts.quiet);
    let cut_store = store.clone();
    let cut = super::PrunedCut { store: &*cut_store };
    let mut slurm = Slurm::new(plan.clone(), store, run, info, resources, opts, &progress)?;
    Ok(super::scheduler::run(
        plan, statuses, &mut slurm, &progress, &cut, grow,
    ))
}

/// The Slurm executor of one run (see the module note).
struct Slurm<'a> {
    plan: Arc<Plan>,
    store: Arc<dyn Store>,
    run: RunId,
    info: &'a RunInfo,
    resources: &'a BTreeMap<String, KindResources>,
    opts: &'a SlurmOptions,
    progress: &'a RunProgress,
    cluster: Cluster,
    /// Node → its place in the plan's topological order.
    position: HashMap<NodeIndex, usize>,
    /// This run's job files and logs.
    dir: PathBuf,
    /// `--store-file FILE [--objects DIR]` of every job.
    store_args: Vec<OsString>,
    cwd: PathBuf,
    /// The current job of every submitted stage (ended ones too: their children wait on it).
    flights: HashMap<NodeIndex, Flight>,
    /// Submitted stages not yet ended, in topological order.
    open: Vec<NodeIndex>,
    /// Ended stages whose job was not final yet when their row appeared: followed until it
    /// is, for the attempt's record only.
    closing: Vec<NodeIndex>,
    /// Stages reported ended (stored, or failed): their children need no `afterok` on them.
    ended: HashSet<NodeIndex>,
    /// Job ids Ctrl-C cancels.
    live: Arc<Mutex<Vec<JobId>>>,
    failures_in_a_row: u32,
    recorder: Recorder,
}

impl<'a> Slurm<'a> {
    fn new(
        plan: Arc<Plan>,
        store: Arc<dyn Store>,
        run: RunId,
        info: &'a RunInfo,
        resources: &'a BTreeMap<String, KindResources>,
        opts: &'a SlurmOptions,
        progress: &'a RunProgress,
    ) -> Result<Slurm<'a>, SlurmError> {
        let cluster = Cluster::detect()?;
        let dir = opts.jobs_dir.join(run.to_string());
        std::fs::create_dir_all(&dir).map_err(|source| SlurmError::Io {
            path: dir.clone(),
            source,
        })?;
        // The store location may hold a password: the jobs read it from a file only this user
        // can read, never from their command line (which `squeue`, `ps` and Slurm's records
        // show).
        let store_file = dir.join("store");
        opts.store
            .write_store_file(&store_file)
            .map_err(|source| SlurmError::Io {
                path: store_file.clone(),
                source,
            })?;
        let mut store_args: Vec<OsString> = vec!["--store-file".into(), store_file.into()];
        if let Some(o) = &opts.store.objects {
            store_args.extend(["--objects".into(), o.clone().into()]);
        }
        let cwd = std::env::current_dir().map_err(|source| SlurmError::Io {
            path: PathBuf::from("."),
            source,
        })?;
        Ok(Slurm {
            position: plan.positions(),
            plan,
            store,
            run,
            info,
            resources,
            opts,
            progress,
            cluster,
            dir,
            store_args,
            cwd,
            flights: HashMap::new(),
            open: Vec::new(),
            closing: Vec::new(),
            ended: HashSet::new(),
            live: Arc::new(Mutex::new(Vec::new())),
            failures_in_a_row: 0,
            recorder: Recorder::new(),
        })
    }

    /// The resources and retry policy of stage `i`'s kind.
    fn kind_resources(&self, i: NodeIndex) -> KindResources {
        self.resources
            .get(self.plan.graph[i].kind.name())
            .cloned()
            .unwrap_or_default()
    }

    /// Write a job's row in the store (a failure is said once, see `flight`).
    fn record(&mut self, i: NodeIndex) {
        let Some(f) = self.flights.get(&i) else {
            return;
        };
        if let Some(warning) = self.recorder.write(&*self.store, &f.row) {
            self.progress.println(&warning);
        }
    }

    /// Write stage `i`'s job file and submit it asking for `mem`, after the current jobs of
    /// its submitted parents.
    fn submit(
        &self,
        i: NodeIndex,
        force: bool,
        log: &Path,
        mem: Option<Memory>,
    ) -> Result<JobId, String> {
        let g = &self.plan.graph;
        let node = &g[i];
        let device_stage = node.kind.resource(&node.params) == Resource::Device;
        let device = if device_stage {
            self.opts.device.as_str()
        } else {
            "cpu"
        };
        let job = self.plan.job(i, self.run, self.info, device).forcing(force);
        let file = self.dir.join(format!("{}.json", node.key));
        write_job(&file, &job)?;
        let mut argv: Vec<OsString> = vec![self.opts.worker.clone().into(), "stage".into()];
        argv.extend(self.store_args.iter().cloned());
        argv.extend([
            "--device".into(),
            device.into(),
            "--job".into(),
            file.into(),
        ]);
        let mut req = JobRequest::new(format!("mosx:{}", node.name), argv, &self.cwd, log);
        // Only parents not ended yet: an ended parent's result is stored, and its job may be long
        // gone from Slurm's memory (`MinJobAge`), where `afterok` on it is an invalid
        // dependency (a trial that joined the run late, a child released after its parent).
        req.after_ok = g
            .neighbors_directed(i, Direction::Incoming)
            .filter(|p| !self.ended.contains(p))
            .filter_map(|p| self.flights.get(&p).map(|f| f.job))
            .collect();
        req.after_ok.sort();
        req.after_ok.dedup();
        let mut res = self.kind_resources(i).request;
        res.mem = mem;
        if device_stage && self.opts.device != "cpu" && res.gres.is_none() {
            res.gres = "gpu:1".parse::<Gres>().ok();
        }
        req.resources = res;
        self.cluster.submit(&req).map_err(|e| e.to_string())
    }

    /// One poll of Slurm and the store: the open stages that ended, and the ones still coming.
    fn poll(&mut self) -> Vec<Ended> {
        let plan = self.plan.clone();
        let g = &plan.graph;
        let ids: Vec<JobId> = self
            .open
            .iter()
            .chain(&self.closing)
            .map(|i| self.flights[i].job)
            .collect();
        let records = match self.cluster.jobs(&ids) {
            Ok(s) => {
                self.failures_in_a_row = 0;
                s
            }
            Err(e) => return self.states_unknown(&e),
        };
        self.settle(&records);
        let keys: Vec<String> = self.open.iter().map(|i| g[*i].key.clone()).collect();
        let checks = match self.store.check_many(&keys) {
            Ok(c) => c,
            Err(e) => {
                self.progress.println(&format!("  store: {e}"));
                return Vec::new();
            }
        };
        let mut round = retry::Round::new(&self.open);
        let mut out = Vec::new();
        let mut still = Vec::new();
        // Topological order: an upstream's resubmission comes before its descendants' jobs
        // are judged (see the module note).
        for i in std::mem::take(&mut self.open) {
            let judged = match round.renewed(i) {
                retry::Renewed::No => self.follow(i, &records, &checks, &mut round),
                retry::Renewed::Yes => None,
                retry::Renewed::Failed(error) => Some(ended(i, Done::Failed { error }, "")),
            };
            round.judged(i);
            match judged {
                Some(e) => out.push(e),
                None => still.push(i),
            }
        }
        self.open = still;
        out
    }

    /// Record the final state of the jobs of ended stages (`closing`) once Slurm has it.
    fn settle(&mut self, records: &HashMap<JobId, JobRecord>) {
        for i in std::mem::take(&mut self.closing) {
            let f = self
                .flights
                .get_mut(&i)
                .expect("a closing stage was submitted");
            let record = records.get(&f.job).cloned().unwrap_or_else(JobRecord::gone);
            if f.observe(&record) {
                self.record(i);
            }
            if !record.state.is_final() {
                self.closing.push(i);
            }
        }
    }

    /// Slurm did not answer: nothing ended this time, unless it failed 30 times in a row,
    /// when every open stage fails.
    fn states_unknown(&mut self, e: &mosx_slurm::CommandError) -> Vec<Ended> {
        // A transient controller hiccup: retry, but not forever.
        self.failures_in_a_row += 1;
        if self.failures_in_a_row < 30 {
            return Vec::new();
        }
        self.progress.println(&format!("  giving up on Slurm: {e}"));
        let error = format!("job state unknown: {e}");
        std::mem::take(&mut self.open)
            .into_iter()
            .map(|node| {
                ended(
                    node,
                    Done::Failed {
                        error: error.clone(),
                    },
                    "",
                )
            })
            .collect()
    }

    /// Open stage `i`, given its store check and its job's record: how it ended, or `None`
    /// while it is still coming (or was submitted again).
    fn follow(
        &mut self,
        i: NodeIndex,
        records: &HashMap<JobId, JobRecord>,
        checks: &HashMap<String, CacheCheck>,
        round: &mut retry::Round,
    ) -> Option<Ended> {
        let plan = self.plan.clone();
        let node = &plan.graph[i];
        let f = self
            .flights
            .get_mut(&i)
            .expect("every open stage was submitted");
        let record = records.get(&f.job).cloned().unwrap_or_else(JobRecord::gone);
        let changed = f.observe(&record);
        if matches!(checks.get(&node.key), Some(CacheCheck::Hit)) {
            // The stage's own time, as the worker recorded it (queueing excluded).
            let seconds = match self.store.record(&node.key) {
                Ok(Some(r)) => r.duration_ms as f64 / 1000.0,
                _ => f.started.unwrap_or(f.submitted).elapsed().as_secs_f64(),
            };
            let via = format!(" as job {}", f.job);
            if !record.state.is_final() {
                self.closing.push(i);
            }
            self.record(i);
            return Some(ended(i, Done::Ran { seconds }, &via));
        }
        if changed {
            self.record(i);
        }
        let f = &self.flights[&i];
        match record.state {
            JobState::Pending { reason } if reason == "PartitionConfig" => {
                // Asks for more than any node of the partition has: it would wait forever.
                let _ = self.cluster.cancel(&[f.job]);
                let error = format!(
                    "job {} cannot be scheduled (PartitionConfig): its resources exceed the partition's nodes",
                    f.job
                );
                Some(ended(i, Done::Failed { error }, ""))
            }
            JobState::Pending { .. } => None,
            JobState::Running => {
                if f.started.is_none() {
                    self.flights.get_mut(&i).expect("submitted").started = Some(Instant::now());
                    self.progress.started(&node.name);
                }
                None
            }
            state => {
                // Ended without its row. Read the store once more: the commit may have
                // landed between the two queries.
                if matches!(self.store.check(&node.key), Ok(CacheCheck::Hit)) {
                    return None;
                }
                self.ended_without_row(i, &state, round)
            }
        }
    }
}

fn ended(node: NodeIndex, done: Done, via: &str) -> Ended {
    Ended {
        node,
        done,
        via: via.to_string(),
    }
}

impl Executor for Slurm<'_> {
    /// Jobs wait on their parents' jobs (`afterok`), so every dirty stage is submitted at once.
    fn orders_dependencies(&self) -> bool {
        true
    }

    fn start(&mut self, i: NodeIndex, force: bool) -> Result<(), String> {
        let plan = self.plan.clone();
        let node = &plan.graph[i];
        let log = self.dir.join(format!("{}.log", node.key));
        let mem = self.kind_resources(i).request.mem;
        let id = self.submit(i, force, &log, mem)?;
        self.progress
            .println(&format!("  submitted {} as job {id}", node.name));
        let flight = Flight::new(&node.key, self.run, 1, id, log, force, mem, 0);
        self.track(i, flight);
        self.open.push(i);
        let position = &self.position;
        self.open.sort_by_key(|n| position.get(n).copied());
        Ok(())
    }

    /// Jobs already submitted keep their job files; new stages are submitted from `plan`.
    fn replan(&mut self, plan: Arc<Plan>) {
        self.position = plan.positions();
        self.plan = plan;
    }

    /// Follow: the store says what is done, Slurm what is still coming.
    fn wait(&mut self) -> Vec<Ended> {
        while !self.open.is_empty() {
            std::thread::sleep(self.opts.poll);
            let out = self.poll();
            if !out.is_empty() {
                self.ended.extend(out.iter().map(|e| e.node));
                return out;
            }
        }
        Vec::new()
    }

    /// Slurm cancels the jobs of a failed job's dependents itself (`--kill-on-invalid-dep`).
    fn withdraw(&mut self, i: NodeIndex) {
        self.open.retain(|o| *o != i);
        self.closing.retain(|o| *o != i);
    }

    /// Cancel this run's unfinished jobs.
    fn interrupt(&self) -> Box<dyn Fn() + Send + 'static> {
        let (cluster, live) = (self.cluster.clone(), self.live.clone());
        Box::new(move || {
            let ids: Vec<JobId> = live.lock().map(|l| l.clone()).unwrap_or_default();
            if !ids.is_empty() {
                let _ = cluster.cancel(&ids);
            }
            eprintln!(
                "\ninterrupted: submitted jobs cancelled; finished stages are cached; rerun to resume"
            );
        })
    }

    /// Record the final state of the last jobs (bounded: a few polls), then forget the jobs.
    fn finish(&mut self) {
        for _ in 0..20 {
            if self.closing.is_empty() {
                break;
            }
            std::thread::sleep(self.opts.poll);
            let ids: Vec<JobId> = self.closing.iter().map(|i| self.flights[i].job).collect();
            match self.cluster.jobs(&ids) {
                Ok(records) => self.settle(&records),
                Err(_) => break,
            }
        }
        if let Ok(mut l) = self.live.lock() {
            l.clear();
        }
    }
}

fn write_job(file: &Path, job: &Job) -> Result<(), String> {
    let text = serde_json::to_vec_pretty(job).map_err(|e| format!("job file: {e}"))?;
    let tmp = file.with_extension("json.tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, file))
        .map_err(|e| format!("{}: {e}", file.display()))
}

/// Why a job ended without its row: the worker's recorded error, else Slurm's state and the
/// tail of the job's log.
fn failure_message(
    store: &dyn Store,
    key: &str,
    state: &JobState,
    job: JobId,
    log: &Path,
) -> String {
    if let Ok(failed) = store.list(None, true) {
        if let Some(e) = failed
            .into_iter()
            .find(|s| s.key == key)
            .and_then(|s| s.error)
        {
            return e;
        }
    }
    let tail: Vec<String> = std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    let tail = tail[tail.len().saturating_sub(3)..].join(" | ");
    format!(
        "job {job} ended ({state:?}) without a result{}",
        if tail.is_empty() {
            format!(" (no output in {})", log.display())
        } else {
            format!(": {tail}")
        }
    )
}
