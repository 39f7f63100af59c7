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
//! * Resources come from the spec's `resources:` (the stage kind's entry over `default`),
//!   validated before anything is submitted; a device stage asks for one GPU
//!   (`gres: gpu:1`) unless the run is `--device cpu` or the spec names its gres.
//! * Job files and logs go to `<objects>/.jobs/<run>/`, which must be visible from the
//!   compute nodes (a cluster filesystem), as the objects folder is. The store location is
//!   `<objects>/.jobs/<run>/store` (mode 0600), read by the jobs through `--store-file`: a
//!   URL's password is never on a job's command line or in its batch script.
//! * Ctrl-C cancels every job of this run that has not finished; finished stages stay
//!   cached and a rerun submits only what the store lacks.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use petgraph::graph::NodeIndex;
use petgraph::Direction;

use mosx_slurm::{Cluster, Gres, JobId, JobRequest, JobState, Resources};
use mosx_spec::SpecError;
use mosx_store::{CacheCheck, RunId, RunInfo, Store};

use super::job::Job;
use super::progress::RunProgress;
use super::{Status, Summary};
use crate::plan::Plan;
use crate::stages::{Registry, Resource};

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
) -> Result<BTreeMap<String, Resources>, SpecError> {
    crate::plan::validate_resources::resources(plan, registry)
}

/// A submitted stage.
struct Flight {
    job: JobId,
    submitted: Instant,
    started: Option<Instant>,
    log: PathBuf,
}

/// Submits the dirty stages of `plan` and follows them to the end.
#[allow(clippy::too_many_arguments)]
pub fn run(
    plan: &Plan,
    store: Arc<dyn Store>,
    run: RunId,
    info: &RunInfo,
    statuses: &[Status],
    resources: &BTreeMap<String, Resources>,
    opts: &SlurmOptions,
) -> Result<Summary, SlurmError> {
    let cluster = Cluster::detect()?;
    let g = &plan.graph;
    let (dirty, mut summary) = super::start(plan, statuses);
    let forced = super::forced(statuses);
    let dir = opts.jobs_dir.join(run.to_string());
    std::fs::create_dir_all(&dir).map_err(|source| SlurmError::Io {
        path: dir.clone(),
        source,
    })?;
    // The store location may hold a password: the jobs read it from a file only this user
    // can read, never from their command line (which `squeue`, `ps` and Slurm's records show).
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
    let progress = RunProgress::new(dirty.len() as u64, opts.quiet);
    let live: Arc<Mutex<Vec<JobId>>> = Arc::new(Mutex::new(Vec::new()));
    install_interrupt(cluster.clone(), live.clone());

    // Submit, parents first.
    let mut flights: HashMap<NodeIndex, Flight> = HashMap::new();
    let mut blocked: HashSet<NodeIndex> = HashSet::new();
    for &i in &plan.order {
        if !dirty.contains(&i) || blocked.contains(&i) {
            continue;
        }
        let node = &g[i];
        let device_stage = node.kind.resource(&node.params) == Resource::Device;
        let device = if device_stage {
            opts.device.as_str()
        } else {
            "cpu"
        };
        let job = plan.job(i, run, info, device).forcing(forced.contains(&i));
        let file = dir.join(format!("{}.json", node.key));
        let log = dir.join(format!("{}.log", node.key));
        let submitted = write_job(&file, &job).and_then(|()| {
            let mut argv: Vec<OsString> = vec![opts.worker.clone().into(), "stage".into()];
            argv.extend(store_args.iter().cloned());
            argv.extend([
                "--device".into(),
                device.into(),
                "--job".into(),
                file.clone().into(),
            ]);
            let mut req = JobRequest::new(format!("mosx:{}", node.name), argv, &cwd, &log);
            req.after_ok = g
                .neighbors_directed(i, Direction::Incoming)
                .filter_map(|p| flights.get(&p).map(|f| f.job))
                .collect();
            req.after_ok.sort();
            req.after_ok.dedup();
            let mut res = resources.get(node.kind.name()).cloned().unwrap_or_default();
            if device_stage && opts.device != "cpu" && res.gres.is_none() {
                res.gres = "gpu:1".parse::<Gres>().ok();
            }
            req.resources = res;
            cluster.submit(&req).map_err(|e| e.to_string())
        });
        match submitted {
            Ok(id) => {
                if let Ok(mut l) = live.lock() {
                    l.push(id);
                }
                progress.println(&format!("  submitted {} as job {id}", node.name));
                flights.insert(
                    i,
                    Flight {
                        job: id,
                        submitted: Instant::now(),
                        started: None,
                        log,
                    },
                );
            }
            Err(e) => {
                progress.println(&format!("  FAILED {}: {e}", node.name));
                summary.failed.push((node.name.clone(), e));
                progress.finished();
                skip_descendants(plan, i, &dirty, &mut blocked, &mut summary, &progress);
            }
        }
    }

    // Follow: the store says what is done, Slurm what is still coming.
    let mut open: Vec<NodeIndex> = flights.keys().copied().collect();
    open.sort();
    let mut failures_in_a_row = 0;
    while !open.is_empty() {
        std::thread::sleep(opts.poll);
        let ids: Vec<JobId> = open.iter().map(|i| flights[i].job).collect();
        let states = match cluster.states(&ids) {
            Ok(s) => {
                failures_in_a_row = 0;
                s
            }
            Err(e) => {
                // A transient controller hiccup: retry, but not forever.
                failures_in_a_row += 1;
                if failures_in_a_row >= 30 {
                    progress.println(&format!("  giving up on Slurm: {e}"));
                    for i in open.drain(..) {
                        summary
                            .failed
                            .push((g[i].name.clone(), format!("job state unknown: {e}")));
                    }
                    break;
                }
                continue;
            }
        };
        let keys: Vec<String> = open.iter().map(|i| g[*i].key.clone()).collect();
        let checks = match store.check_many(&keys) {
            Ok(c) => c,
            Err(e) => {
                progress.println(&format!("  store: {e}"));
                continue;
            }
        };
        let mut still = Vec::new();
        for i in std::mem::take(&mut open) {
            if blocked.contains(&i) {
                continue;
            }
            let node = &g[i];
            let f = flights.get_mut(&i).expect("every open stage was submitted");
            if matches!(checks.get(&node.key), Some(CacheCheck::Hit)) {
                // The stage's own time, as the worker recorded it (queueing excluded).
                let secs = match store.record(&node.key) {
                    Ok(Some(r)) => r.duration_ms as f64 / 1000.0,
                    _ => f.started.unwrap_or(f.submitted).elapsed().as_secs_f64(),
                };
                progress.finished();
                progress.println(&format!(
                    "  ran {} ({}) as job {} in {secs:.2}s",
                    node.name,
                    node.kind.name(),
                    f.job,
                ));
                summary.executed.push(node.name.clone());
                continue;
            }
            match states.get(&f.job).cloned().unwrap_or(JobState::Gone) {
                JobState::Pending { reason } if reason == "PartitionConfig" => {
                    // Asks for more than any node of the partition has: it would wait forever.
                    let _ = cluster.cancel(&[f.job]);
                    let e = format!(
                        "job {} cannot be scheduled (PartitionConfig): its resources exceed the partition's nodes",
                        f.job
                    );
                    fail(plan, i, e, &dirty, &mut blocked, &mut summary, &progress);
                }
                JobState::Pending { .. } => still.push(i),
                JobState::Running => {
                    if f.started.is_none() {
                        f.started = Some(Instant::now());
                        progress.started(&node.name);
                    }
                    still.push(i);
                }
                state => {
                    // Ended without its row. Read the store once more: the commit may have
                    // landed between the two queries.
                    if matches!(store.check(&node.key), Ok(CacheCheck::Hit)) {
                        still.push(i);
                        continue;
                    }
                    let e = failure_message(&*store, &node.key, &state, f.job, &f.log);
                    fail(plan, i, e, &dirty, &mut blocked, &mut summary, &progress);
                }
            }
        }
        open = still;
    }
    progress.clear();
    if let Ok(mut l) = live.lock() {
        l.clear();
    }
    Ok(summary)
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

fn fail(
    plan: &Plan,
    i: NodeIndex,
    error: String,
    dirty: &HashSet<NodeIndex>,
    blocked: &mut HashSet<NodeIndex>,
    summary: &mut Summary,
    progress: &RunProgress,
) {
    let name = &plan.graph[i].name;
    progress.finished();
    progress.println(&format!("  FAILED {name}: {error}"));
    summary.failed.push((name.clone(), error));
    skip_descendants(plan, i, dirty, blocked, summary, progress);
}

/// Marks the dirty descendants of `i` skipped (Slurm cancels their jobs itself).
fn skip_descendants(
    plan: &Plan,
    i: NodeIndex,
    dirty: &HashSet<NodeIndex>,
    blocked: &mut HashSet<NodeIndex>,
    summary: &mut Summary,
    progress: &RunProgress,
) {
    let g = &plan.graph;
    let name = g[i].name.clone();
    let mut dfs = petgraph::visit::Dfs::new(g, i);
    let _ = dfs.next(g);
    while let Some(d) = dfs.next(g) {
        if dirty.contains(&d) && blocked.insert(d) {
            progress.finished();
            summary
                .skipped
                .push((g[d].name.clone(), format!("upstream {name} failed")));
        }
    }
}

/// Ctrl-C: cancel this run's unfinished jobs, then exit 130.
fn install_interrupt(cluster: Cluster, live: Arc<Mutex<Vec<JobId>>>) {
    let _ = ctrlc::set_handler(move || {
        let ids: Vec<JobId> = live.lock().map(|l| l.clone()).unwrap_or_default();
        if !ids.is_empty() {
            let _ = cluster.cancel(&ids);
        }
        eprintln!(
            "\ninterrupted: submitted jobs cancelled; finished stages are cached; rerun to resume"
        );
        std::process::exit(130);
    });
}
