//! One stage execution, written once: the lease, the heartbeat, the run, then the commit or
//! the recorded failure. The planner runs its in-process stages through [`execute`], and the
//! stage worker (`mosx-worker`, locally or as a cluster job) runs the jobs it is sent through
//! the same function, so both commit rows alike.
//!
//! Invariants:
//! * A [`Job`] holds everything needed to run a stage and commit its row without the spec:
//!   the kind's name, the normalised params, the fingerprint parts (whose key is the job's
//!   key), the upstream keys by slot, the run id and the provenance the row records.
//! * [`execute`] takes the lease before running, waiting while a live holder computes the key
//!   (a key finished meanwhile is [`Done::ByOther`]); the lease's holder is the executing
//!   process, so a dead executor's lease is taken over by the next run (pid liveness on the
//!   same host, heartbeat age elsewhere). While the stage runs, the lease is refreshed every
//!   10 s. Then the lease ends exactly once: by the commit (object files fsynced first, then
//!   one transaction) when the stage succeeded, by a recorded failure when it returned an
//!   error or panicked.
//! * While held, a lease is in the process's [`Leases`], so Ctrl-C can release it.
//! * A forced job (`--force`) deletes nothing before it runs: its lease is taken although the
//!   key is stored, and its commit replaces the stored row in one transaction, so a forced run
//!   that is killed or fails leaves the old result valid.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Display;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use mosx_store::{Lease, RunId, StageRecord, Store};

use crate::artifact::{ArtifactSource, Inputs, Output};
use crate::code::{CodeTable, UnknownUnit, LIBTORCH_UNIT};
use crate::kind::{Progress, StageCtx, StageKind};
use crate::parts::Parts;

/// Everything needed to run one stage and commit its row, without the spec. Sent to the
/// worker as one JSON line (`serve`) or one file (`stage --job FILE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub key: String,
    /// The node's display name.
    pub name: String,
    /// The stage kind's name (`train`).
    pub kind: String,
    /// Normalised params (locations included).
    pub params: Value,
    /// The fingerprint parts the key is the hash of; recorded in the row.
    pub parts: Parts,
    /// The stage's seed, if its params have one (provenance).
    pub seed: Option<i64>,
    /// Slot → upstream key.
    pub inputs: BTreeMap<String, String>,
    pub run: RunId,
    /// The provenance fields of the run the row records.
    pub record: RecordInfo,
    /// The device asked for: a label (`cpu`, `cuda:1`) or `auto`. A worker runs the stage on
    /// the device it resolved and records that device's label.
    pub device: String,
    /// The project folder the params' relative paths (data, models, `templates/`) are in.
    pub dir: std::path::PathBuf,
    /// The templates folder the plan resolved ([`crate::project::Project`]); required, so a
    /// job without it is refused rather than read from another folder.
    pub templates: std::path::PathBuf,
    /// Where the spec wrote each parameter (`windows` → `spec.yaml:9:40:
    /// stages.ml_sample.params.windows`), so a run-time error about a parameter's value is
    /// located (see `StageCtx::param_error`). Not part of the key.
    #[serde(default)]
    pub locations: BTreeMap<String, String>,
    /// A forced rerun (`--force`): the lease is taken even though the key is stored, and the
    /// commit replaces the stored row in its own transaction (until then the old one is valid).
    #[serde(default)]
    pub force: bool,
}

/// The fields of [`RunInfo`] that a stage row records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordInfo {
    pub mosx_version: String,
    pub git_commit: Option<String>,
    pub git_dirty: bool,
    pub host: String,
    pub spec_hash: String,
}

/// Why a worker refuses a job before running it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobError {
    #[error("unknown stage kind `{0}`")]
    UnknownKind(String),
    #[error("job `{name}`: its key {key} is not the hash of its parts ({computed})")]
    KeyMismatch {
        name: String,
        key: String,
        computed: String,
    },
    #[error("job `{name}`: code version of `{kind}` is {here} here, {job} in the job")]
    CodeVersion {
        name: String,
        kind: String,
        here: u32,
        job: u32,
    },
    #[error(
        "job `{name}`: this worker runs other code than the key was computed for: {unit} is {here} here, {job} in the job (rebuild the planner and the worker from the same sources: make build)"
    )]
    Code {
        name: String,
        unit: String,
        here: String,
        job: String,
    },
    #[error("job `{name}`: {source}")]
    Units { name: String, source: UnknownUnit },
    #[error(
        "job `{name}`: sent from the project folder {}, but this worker runs in {}",
        .job.display(),
        .here.display()
    )]
    Folder {
        name: String,
        job: std::path::PathBuf,
        here: std::path::PathBuf,
    },
}

impl Job {
    /// This job as a forced rerun when `force` (see [`Job::force`]).
    pub fn forcing(mut self, force: bool) -> Job {
        self.force = force;
        self
    }

    /// Checks that this process would compute what the job's key stands for: the key is the
    /// hash of the parts, and the kind's code version and code units in this binary's `code`
    /// table (with `libtorch`, when given, as the version this process runs) are those of the
    /// parts.
    pub fn verify(
        &self,
        kind: &dyn StageKind,
        code: &CodeTable,
        libtorch: Option<&str>,
    ) -> Result<(), JobError> {
        let computed = self.parts.key();
        if computed != self.key {
            return Err(JobError::KeyMismatch {
                name: self.name.clone(),
                key: self.key.clone(),
                computed,
            });
        }
        if kind.code_version() != self.parts.code_version {
            return Err(JobError::CodeVersion {
                name: self.name.clone(),
                kind: self.kind.clone(),
                here: kind.code_version(),
                job: self.parts.code_version,
            });
        }
        let mut here = code
            .code_of(kind, &self.params)
            .map_err(|source| JobError::Units {
                name: self.name.clone(),
                source,
            })?;
        if let (Some(v), Some(slot)) = (libtorch, here.get_mut(LIBTORCH_UNIT)) {
            *slot = v.to_string();
        }
        let units: std::collections::BTreeSet<&String> =
            here.keys().chain(self.parts.code.keys()).collect();
        for unit in units {
            let (h, j) = (here.get(unit), self.parts.code.get(unit));
            if h != j {
                let show = |x: Option<&String>| x.cloned().unwrap_or_else(|| "(absent)".into());
                return Err(JobError::Code {
                    name: self.name.clone(),
                    unit: unit.clone(),
                    here: show(h),
                    job: show(j),
                });
            }
        }
        Ok(())
    }

    /// The row of this job's stage, run on `device` from `started` (Unix seconds) for `took`.
    fn record_row(&self, device: &str, started: f64, took: Duration) -> StageRecord {
        StageRecord {
            key: self.key.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
            params: self.params.clone(),
            parts: serde_json::to_value(&self.parts).unwrap_or_default(),
            started_at: started,
            finished_at: now(),
            duration_ms: took.as_millis() as i64,
            run_id: self.run,
            mosx_version: self.record.mosx_version.clone(),
            git_commit: self.record.git_commit.clone(),
            git_dirty: self.record.git_dirty,
            host: self.record.host.clone(),
            device: device.to_string(),
            seed: self.seed,
            spec_hash: self.record.spec_hash.clone(),
        }
    }

    /// Record that the job failed with `error` (before or while running) and drop its lease.
    pub fn fail(&self, store: &dyn Store, error: String) -> Done {
        let _ = store.record_failure(&self.key, &self.name, &self.kind, self.run, &error);
        let _ = store.release(&self.key, self.run);
        Done::Failed { error }
    }
}

/// How a stage execution ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    /// Run and committed, in this many seconds (from when it started running).
    Ran { seconds: f64 },
    /// Committed by another process while this one waited for its lease.
    ByOther,
    /// Failed; the failure is recorded in the store and nothing was cached.
    Failed { error: String },
}

/// What an execution tells whoever watches it.
pub trait Report: Sync {
    /// Another live process holds the lease (said once; the execution waits).
    fn holder_busy(&self, pid: u32, host: &str);
    /// The lease is taken and the stage starts running.
    fn started(&self);
    /// The stage's inner loop (epochs, batches).
    fn progress(&self) -> &dyn Progress;
}

/// The leases this process holds, as (key, run), so that Ctrl-C can release them.
#[derive(Default)]
pub struct Leases {
    held: Mutex<HashSet<(String, RunId)>>,
}

impl Leases {
    pub fn insert(&self, key: &str, run: RunId) {
        if let Ok(mut h) = self.held.lock() {
            h.insert((key.to_string(), run));
        }
    }

    pub fn remove(&self, key: &str, run: RunId) {
        if let Ok(mut h) = self.held.lock() {
            h.remove(&(key.to_string(), run));
        }
    }

    /// Release every lease held (Ctrl-C): the stages left nothing behind and run again next
    /// time.
    pub fn release_all(&self, store: &dyn Store) {
        let held = match self.held.lock() {
            Ok(h) => h.clone(),
            Err(p) => p.into_inner().clone(),
        };
        for (key, run) in held {
            let _ = store.release(&key, run);
        }
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Runs `job` with `run` on `device` (a label) and ends its lease (see the module note). Inputs
/// are read through `source`.
pub fn execute<E: Display>(
    job: &Job,
    store: &dyn Store,
    source: &dyn ArtifactSource,
    leases: &Leases,
    report: &dyn Report,
    device: &str,
    run: impl FnOnce(&StageCtx<'_>) -> Result<Output, E>,
) -> Done {
    let work_dir = match store.work_dir(&job.key) {
        Ok(d) => d,
        Err(e) => {
            return Done::Failed {
                error: format!("store: {e}"),
            }
        }
    };
    if let Some(done) = take_lease(job, store, report) {
        return done;
    }
    leases.insert(&job.key, job.run);
    report.started();
    let started = now();
    let t0 = Instant::now();
    let ctx = StageCtx {
        name: &job.name,
        params: &job.params,
        inputs: Inputs {
            slots: &job.inputs,
            source,
        },
        device,
        progress: report.progress(),
        work_dir,
        locations: &job.locations,
        templates: &job.templates,
    };
    let result = run_with_heartbeat(job, store, &ctx, run);
    let took = t0.elapsed();
    let done = match result {
        Ok(Ok(out)) => commit(job, store, device, started, took, &out),
        Ok(Err(e)) => job.fail(store, e.to_string()),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            job.fail(store, format!("panicked: {msg}"))
        }
    };
    leases.remove(&job.key, job.run);
    done
}

/// Take `job`'s lease, waiting while another live process computes the stage: `None` once
/// taken, else how the job ended (done by the other, or the store failed).
fn take_lease(job: &Job, store: &dyn Store, report: &dyn Report) -> Option<Done> {
    let mut announced = false;
    loop {
        let lease = if job.force {
            store.acquire_replacing(&job.key, job.run)
        } else {
            store.acquire(&job.key, job.run)
        };
        match lease {
            Ok(Lease::Acquired) => return None,
            Ok(Lease::Done) => return Some(Done::ByOther),
            Ok(Lease::Busy { pid, host, .. }) => {
                if !announced {
                    report.holder_busy(pid, &host);
                    announced = true;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => {
                return Some(Done::Failed {
                    error: format!("store: {e}"),
                })
            }
        }
    }
}

/// `run(ctx)` with the lease's heartbeat beside it; a panic is caught and returned.
fn run_with_heartbeat<E>(
    job: &Job,
    store: &dyn Store,
    ctx: &StageCtx<'_>,
    run: impl FnOnce(&StageCtx<'_>) -> Result<Output, E>,
) -> std::thread::Result<Result<Output, E>> {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| heartbeat(store, &job.key, job.run, &stop));
        // Tests slow stages down to kill runs inside them.
        if let Some(ms) = std::env::var("MOSX_TEST_STAGE_DELAY_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            std::thread::sleep(Duration::from_millis(ms));
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(ctx)));
        ctx.progress.finish();
        stop.store(true, Ordering::SeqCst);
        r
    })
}

/// Commit the row and the output of a stage that ran; a store failure is the stage's.
fn commit(
    job: &Job,
    store: &dyn Store,
    device: &str,
    started: f64,
    took: Duration,
    out: &Output,
) -> Done {
    let row = job.record_row(device, started, took);
    let committed = if job.force {
        store.commit_replacing(&row, &out.artifacts, &out.metrics)
    } else {
        store.commit(&row, &out.artifacts, &out.metrics)
    };
    match committed {
        Ok(()) => Done::Ran {
            seconds: took.as_secs_f64(),
        },
        Err(e) => job.fail(store, format!("store: {e}")),
    }
}

/// Refresh the lease every 10 s until `stop`.
fn heartbeat(store: &dyn Store, key: &str, run: RunId, stop: &AtomicBool) {
    let mut last = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
        if last.elapsed() >= Duration::from_secs(10) {
            let _ = store.heartbeat(key, run);
            last = Instant::now();
        }
    }
}
