//! `mosx-worker serve` (jobs as JSON lines on stdin, events on stdout: `mosx_stage::exec::protocol`)
//! and `mosx-worker stage --job FILE` (one job, as a cluster job runs it). Either way a job
//! runs through `mosx_stage::job::execute`: this process takes the lease, heartbeats, runs the
//! stage and commits its row, exactly as the planner does for its in-process stages.
//!
//! Invariants:
//! * The event stream carries only protocol events: at start, stdout is duplicated for the
//!   events and file descriptor 1 is then pointed at stderr, so anything else written to
//!   stdout (a library's print) lands on stderr.
//! * A job is verified before it runs (`Job::verify`): its key is the hash of its parts, and
//!   the code units it claims (libtorch included) are the ones this worker runs. A job that
//!   fails verification is recorded failed and never run, so no result is cached under a key
//!   that does not describe the code that computed it.
//! * Jobs run one after another. A job line that is not a job is answered by a `rejected`
//!   event and the worker reads on; EOF ends the worker (exit 0).
//! * Ctrl-C releases the leases this worker holds, then exits 130; a killed worker's lease is
//!   taken over by the next run (its pid is gone).

use std::fs::File;
use std::io::{BufRead, Write};
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mosx_stage::args::StoreArgs;
use mosx_stage::console::ConsoleReport;
use mosx_stage::device::DeviceRequest;
use mosx_stage::job::{execute, Done, Job, JobError, Leases, Report};
use mosx_stage::progress::RunProgress;
use mosx_stage::protocol::{Event, FatalReason, ProgressUpdate};
use mosx_stage::source::StoreSource;
use mosx_stage::Progress;
use mosx_store::Store;

use crate::device;
use crate::runners;

/// The libtorch this worker links (build script).
pub const LIBTORCH: &str = env!("MOSX_WORKER_LIBTORCH");

/// This binary's code table (its build script's), which the jobs' code units are checked
/// against.
pub static CODE: mosx_stage::code::CodeTable = mosx_stage::code_table!();

/// Exit codes.
const EXIT_OK: i32 = 0;
const EXIT_FAILED: i32 = 1;
const EXIT_USAGE: i32 = 2;

#[derive(clap::Args)]
#[command(
    about = "Serve jobs: JSON lines on stdin, events as JSON lines on stdout (started by `mosx run`)"
)]
pub struct ServeArgs {
    /// The store the jobs' stages are read from and committed to. `mosx run` passes it in
    /// MOSX_STORE, never on the command line (a URL's password).
    #[command(flatten)]
    pub store: StoreArgs,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: DeviceRequest,
}

#[derive(clap::Args)]
#[command(
    about = "Run one job (a JSON file): take its lease, run it, commit its row; exit 0 when the row is committed, 1 on failure",
    after_help = "Example (what a cluster job runs, in the project folder):\n  mosx-worker stage --store-file jobs/7/store --job jobs/7/0123abcd.json"
)]
pub struct StageArgs {
    /// The store, relative to the job's project folder (`dir`) unless absolute; `--store-file`
    /// is read before the job's folder becomes the working directory.
    #[command(flatten)]
    pub store: StoreArgs,
    /// auto, cpu, cuda or cuda:N (default: the job's `device`).
    #[arg(long)]
    pub device: Option<DeviceRequest>,
    /// The job file (`mosx_stage::job::Job` as JSON).
    #[arg(long, value_name = "FILE")]
    pub job: PathBuf,
}

/// A worker: a store, the device it resolved, and what it holds.
struct Worker {
    store: Arc<dyn Store>,
    source: StoreSource,
    leases: Arc<Leases>,
    device: tch::Device,
    label: String,
}

impl Worker {
    fn new(store: Arc<dyn Store>, device: tch::Device, label: String) -> Worker {
        let leases = Arc::new(Leases::default());
        install_interrupt(store.clone(), leases.clone());
        Worker {
            source: StoreSource::new(store.clone()),
            store,
            leases,
            device,
            label,
        }
    }

    /// Verify `job`, then run it (a kind of the worker on its runner, any other in-process).
    fn run_job(&self, job: &Job, report: &dyn Report) -> Done {
        let registry = mosx_kinds::registry::builtin();
        let Some(kind) = registry.get(&job.kind) else {
            return job.fail(
                &*self.store,
                JobError::UnknownKind(job.kind.clone()).to_string(),
            );
        };
        if let Err(e) = job.verify(&**kind, &CODE, Some(LIBTORCH)) {
            return job.fail(&*self.store, e.to_string());
        }
        let (store, source, leases) = (&*self.store, &self.source, &*self.leases);
        match runners::runner(&job.kind) {
            Some(r) => execute(job, store, source, leases, report, &self.label, |ctx| {
                r.run(ctx, self.device)
            }),
            None => execute(job, store, source, leases, report, &self.label, |ctx| {
                kind.run(ctx)
            }),
        }
    }
}

/// Ctrl-C: release the leases held, then exit 130.
fn install_interrupt(store: Arc<dyn Store>, leases: Arc<Leases>) {
    let _ = ctrlc::set_handler(move || {
        leases.release_all(&*store);
        eprintln!("mosx-worker: interrupted; the stages it ran are released");
        std::process::exit(130);
    });
}

/// The event stream: the original stdout, with file descriptor 1 pointed at stderr.
struct Events {
    out: Mutex<File>,
}

impl Events {
    fn take_stdout() -> std::io::Result<Events> {
        // SAFETY: dup/dup2 on the standard descriptors; the duplicate is owned by the File.
        let fd = unsafe { libc::dup(1) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let file = unsafe { File::from_raw_fd(fd) };
        if unsafe { libc::dup2(2, 1) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Events {
            out: Mutex::new(file),
        })
    }

    /// Write one event. A planner that stopped reading is gone: nothing left to serve.
    fn send(&self, e: &Event) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if out
            .write_all(e.to_line().as_bytes())
            .and_then(|_| out.flush())
            .is_err()
        {
            eprintln!("mosx-worker: the planner stopped reading events; exiting");
            std::process::exit(EXIT_FAILED);
        }
    }
}

/// A job's report as events.
struct EventReport<'a> {
    events: &'a Events,
    key: &'a str,
}

impl EventReport<'_> {
    fn update(&self, update: ProgressUpdate) {
        self.events.send(&Event::Progress {
            key: self.key.to_string(),
            update,
        });
    }
}

impl Report for EventReport<'_> {
    fn holder_busy(&self, pid: u32, host: &str) {
        self.events.send(&Event::Waiting {
            key: self.key.to_string(),
            pid,
            host: host.to_string(),
        });
    }
    fn started(&self) {
        self.events.send(&Event::Started {
            key: self.key.to_string(),
        });
    }
    fn progress(&self) -> &dyn Progress {
        self
    }
}

impl Progress for EventReport<'_> {
    fn start(&self, label: &str, total: u64) {
        self.update(ProgressUpdate::Start {
            label: label.to_string(),
            total,
        });
    }
    fn inc(&self, n: u64) {
        self.update(ProgressUpdate::Inc { n });
    }
    fn message(&self, msg: &str) {
        self.update(ProgressUpdate::Message {
            text: msg.to_string(),
        });
    }
    fn finish(&self) {
        self.update(ProgressUpdate::Finish);
    }
}

/// `mosx-worker serve`: returns the exit code.
pub fn serve(a: ServeArgs) -> i32 {
    let events = match Events::take_stdout() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("mosx-worker: cannot set up the event stream: {e}");
            return EXIT_FAILED;
        }
    };
    let worker = match start_worker(a, &events) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let here = std::env::current_dir().ok();
    let stdin = std::io::stdin();
    for (n, line) in stdin.lock().lines().enumerate() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let job: Job = match serde_json::from_str(&line) {
            Ok(j) => j,
            Err(e) => {
                events.send(&Event::Rejected {
                    line: n + 1,
                    error: format!("not a job: {e}"),
                });
                continue;
            }
        };
        let done = serve_job(&worker, &job, &events, here.as_deref());
        events.send(&Event::finished(&job.key, &done));
    }
    EXIT_OK
}

/// Resolves the device, opens the store and announces the worker (`hello`); on failure
/// sends the fatal event and returns the exit code.
fn start_worker(a: ServeArgs, events: &Events) -> Result<Worker, i32> {
    let fatal = |reason: FatalReason, error: String, code: i32| {
        events.send(&Event::Fatal { reason, error });
        code
    };
    let (device, label) = device::resolve(a.device)
        .map_err(|e| fatal(FatalReason::Device, e.to_string(), EXIT_USAGE))?;
    let location = a
        .store
        .location(None)
        .map_err(|e| fatal(FatalReason::Store, e, EXIT_USAGE))?;
    let store = mosx_stage::store::open(&location).map_err(|e| {
        fatal(
            FatalReason::Store,
            format!("opening store {location}: {e}"),
            EXIT_FAILED,
        )
    })?;
    events.send(&Event::Hello {
        version: mosx_stage::VERSION.into(),
        device: label.clone(),
        libtorch: LIBTORCH.into(),
        pid: std::process::id(),
    });
    Ok(Worker::new(store, device, label))
}

/// Runs one job read from stdin, or records it failed when its folder is not this worker's:
/// relative paths in the params are the planner's, so it must run in the same folder.
fn serve_job(worker: &Worker, job: &Job, events: &Events, here: Option<&Path>) -> Done {
    if !same_dir(here, &job.dir) {
        return job.fail(
            &*worker.store,
            JobError::Folder {
                name: job.name.clone(),
                job: job.dir.clone(),
                here: here.map(Path::to_path_buf).unwrap_or_default(),
            }
            .to_string(),
        );
    }
    let report = EventReport {
        events,
        key: &job.key,
    };
    worker.run_job(job, &report)
}

fn same_dir(here: Option<&Path>, dir: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    here.and_then(canon).is_some_and(|h| canon(dir) == Some(h))
}

/// `mosx-worker stage`: returns the exit code.
pub fn stage(a: StageArgs) -> i32 {
    // Before the job's folder becomes the working directory: the file is named as given.
    let location = match a.store.location(None) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let job: Job = match std::fs::read_to_string(&a.job)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("not a job: {e}")))
    {
        Ok(j) => j,
        Err(e) => {
            eprintln!("error: {}: {e}", a.job.display());
            return EXIT_USAGE;
        }
    };
    if let Err(e) = std::env::set_current_dir(&job.dir) {
        eprintln!(
            "error: job `{}`: its project folder {}: {e}",
            job.name,
            job.dir.display()
        );
        return EXIT_USAGE;
    }
    let request = match a.device {
        Some(d) => Ok(d),
        None => DeviceRequest::parse(Some(&job.device)),
    };
    let resolved = request
        .map_err(|e| e.to_string())
        .and_then(|r| device::resolve(r).map_err(|e| e.to_string()));
    let (device, label) = match resolved {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let store = match mosx_stage::store::open(&location) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: opening store {location}: {e}");
            return EXIT_FAILED;
        }
    };
    let worker = Worker::new(store, device, label.clone());
    let progress = RunProgress::new(1, false);
    let report = ConsoleReport::new(&progress, &job.name);
    let done = worker.run_job(&job, &report);
    progress.clear();
    match done {
        Done::Ran { seconds } => {
            eprintln!(
                "ran {} ({}) on {label} in {seconds:.2}s",
                job.name, job.kind
            );
            EXIT_OK
        }
        Done::ByOther => {
            eprintln!("{}: computed by another mosx process", job.name);
            EXIT_OK
        }
        Done::Failed { error } => {
            eprintln!("FAILED {}: {error}", job.name);
            EXIT_FAILED
        }
    }
}
