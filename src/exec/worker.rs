//! The planner's side of the stage worker (`mosx-worker serve`, see [`super::protocol`]):
//! finding it, starting one long-lived worker per device, sending it jobs, and showing its
//! events on the run's progress.
//!
//! Invariants:
//! * A worker is started only when a stage that executes in the worker is to run. There is
//!   one per device, and it takes jobs one after another (one stage at a time on a device),
//!   so a backbone is loaded once per run.
//! * A worker dies with the planner: it is started with `PR_SET_PDEATHSIG = SIGKILL` from a
//!   thread that lives as long as the process (the signal follows the *thread* that forked).
//!   So a planner killed with SIGKILL leaves no worker computing, and the next run takes over
//!   the lease the worker held (its pid is gone).
//! * A worker that dies while running a job fails that job (recorded in the store, unless its
//!   row was committed before it died) and nothing else; the next job starts a fresh worker.
//! * Ctrl-C: [`WorkerPool::kill`] kills the workers and reaps them, before the planner
//!   releases the leases they held (all in this run's name).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex, OnceLock, TryLockError};
use std::time::Instant;

use mosx_store::{CacheCheck, Store};

use super::job::{Done, Job, Leases};
use super::progress::RunProgress;
use super::protocol::{Event, FatalReason, ProgressUpdate};
use crate::device::DeviceRequest;
use crate::stages::Progress;

/// The environment variable naming the worker executable.
pub const WORKER_ENV: &str = "MOSX_WORKER";
/// The worker's file name, looked up next to the planner's executable.
pub const WORKER_EXE: &str = "mosx-worker";

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("the stage worker is missing: {tried}; build it with `make build`")]
    Missing { tried: String },
    #[error("starting the stage worker {exe}: {source}")]
    Spawn {
        exe: PathBuf,
        source: std::io::Error,
    },
    /// `--device` names a device this machine does not have (a usage error).
    #[error("{0}")]
    Device(String),
    #[error("the stage worker cannot serve: {0}")]
    Fatal(String),
    #[error("the stage worker {exe} is version {found}, this mosx is {expected}; build both with `make build`")]
    Version {
        exe: PathBuf,
        found: String,
        expected: String,
    },
    #[error("the stage worker exited before it was ready ({0})")]
    Exited(String),
    #[error("the stage worker: {0}")]
    Protocol(String),
}

/// The worker executable: `$MOSX_WORKER` if set, else `mosx-worker` next to this executable.
pub fn locate() -> Result<PathBuf, WorkerError> {
    if let Some(p) = std::env::var_os(WORKER_ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(WorkerError::Missing {
                tried: format!("${WORKER_ENV} is {}, which does not exist", p.display()),
            })
        };
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(WORKER_EXE)));
    match beside {
        Some(p) if p.is_file() => Ok(p),
        Some(p) => Err(WorkerError::Missing {
            tried: format!(
                "${WORKER_ENV} is not set and {} does not exist",
                p.display()
            ),
        }),
        None => Err(WorkerError::Missing {
            tried: format!("${WORKER_ENV} is not set and this executable's folder is unknown"),
        }),
    }
}

/// `signal 9 (SIGKILL)` or `exit status 3`.
pub fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(sig) = status.signal() {
        let name = match sig {
            libc::SIGKILL => "SIGKILL",
            libc::SIGTERM => "SIGTERM",
            libc::SIGINT => "SIGINT",
            libc::SIGSEGV => "SIGSEGV",
            libc::SIGABRT => "SIGABRT",
            libc::SIGBUS => "SIGBUS",
            libc::SIGILL => "SIGILL",
            libc::SIGFPE => "SIGFPE",
            libc::SIGPIPE => "SIGPIPE",
            _ => "",
        };
        if name.is_empty() {
            format!("signal {sig}")
        } else {
            format!("signal {sig} ({name})")
        }
    } else {
        format!("exit status {}", status.code().unwrap_or(-1))
    }
}

/// Starts `cmd` from a thread that lives as long as the process, so that a worker started
/// with `PR_SET_PDEATHSIG` is killed when the process dies, not when some thread ends.
fn spawn_tied(cmd: Command) -> std::io::Result<Child> {
    type Request = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let tx = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        // The sender is never dropped (static), so this thread never ends.
        let started = std::thread::Builder::new()
            .name("mosx-worker-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            });
        if let Err(e) = started {
            eprintln!("warning: no spawner thread for the stage worker: {e}");
        }
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    tx.lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, reply_tx))
        .map_err(|_| std::io::Error::other("the worker spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| std::io::Error::other("the worker spawner thread is gone"))?
}

/// Makes the process `cmd` starts die with SIGKILL when the planner dies (Linux:
/// `PR_SET_PDEATHSIG`, see the module note); elsewhere nothing.
fn die_with_planner(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: runs in the child between fork and exec and calls only async-signal-safe
        // functions (prctl, getppid).
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The planner died between the fork and the prctl: nobody to serve.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("the planner is gone"));
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// A running `mosx-worker serve`.
struct LocalWorker {
    child: Child,
    stdin: ChildStdin,
    events: BufReader<ChildStdout>,
}

/// How a job on a worker went wrong (beyond the job's own failure).
enum Lost {
    /// No worker could be started.
    Start(WorkerError),
    /// The worker's event stream ended or broke: it died.
    Died,
    /// The worker sent something the protocol does not allow.
    Protocol(String),
}

impl LocalWorker {
    fn send(&mut self, job: &Job) -> std::io::Result<()> {
        let mut line = serde_json::to_string(job).map_err(std::io::Error::other)?;
        line.push('\n');
        self.stdin.write_all(line.as_bytes())?;
        self.stdin.flush()
    }

    fn next_event(&mut self) -> Result<Event, Lost> {
        let mut line = String::new();
        match self.events.read_line(&mut line) {
            Ok(0) | Err(_) => Err(Lost::Died),
            Ok(_) => serde_json::from_str(line.trim_end()).map_err(|e| {
                Lost::Protocol(format!("unreadable event `{}`: {e}", line.trim_end()))
            }),
        }
    }
}

/// The workers of one run: one per device (today, one device per run).
pub struct WorkerPool {
    exe: PathBuf,
    store: crate::store::Location,
    device: DeviceRequest,
    slot: Mutex<Option<LocalWorker>>,
    /// The device label the worker resolved (from its hello).
    label: Mutex<Option<String>>,
    /// Pids of the live workers, for [`WorkerPool::kill`].
    pids: Mutex<HashSet<u32>>,
}

impl WorkerPool {
    /// A pool for `device` that starts workers on the store at `store`.
    pub fn new(
        store: &crate::store::Location,
        device: DeviceRequest,
    ) -> Result<WorkerPool, WorkerError> {
        Ok(WorkerPool {
            exe: locate()?,
            store: store.clone(),
            device,
            slot: Mutex::new(None),
            label: Mutex::new(None),
            pids: Mutex::new(HashSet::new()),
        })
    }

    /// The device label the workers run on (the request until a worker said hello).
    pub fn label(&self) -> String {
        self.label
            .lock()
            .ok()
            .and_then(|l| l.clone())
            .unwrap_or_else(|| self.device.label())
    }

    /// Start the worker now if none runs, and return the label of the device it resolved.
    pub fn start(&self) -> Result<String, WorkerError> {
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(self.spawn()?);
        }
        Ok(self.label())
    }

    /// Start a worker and wait for its hello.
    fn spawn(&self) -> Result<LocalWorker, WorkerError> {
        let w = self.launch(self.serve_command())?;
        self.handshake(w)
    }

    /// `mosx-worker serve --device D` on this pool's store, tied to the planner's life.
    fn serve_command(&self) -> Command {
        let mut cmd = Command::new(&self.exe);
        // The store location (maybe holding a password) goes in the environment, never argv.
        cmd.arg("serve")
            .env_remove(crate::store::OBJECTS_ENV)
            .envs(self.store.env())
            .arg("--device")
            .arg(self.device.label())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        die_with_planner(&mut cmd);
        cmd
    }

    /// Start `cmd` (recording its pid) with pipes to its stdin and stdout.
    fn launch(&self, cmd: Command) -> Result<LocalWorker, WorkerError> {
        let mut child = spawn_tied(cmd).map_err(|source| WorkerError::Spawn {
            exe: self.exe.clone(),
            source,
        })?;
        self.pids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(child.id());
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(WorkerError::Protocol("no pipes to the worker".into()));
        };
        Ok(LocalWorker {
            child,
            stdin,
            events: BufReader::new(stdout),
        })
    }

    /// Read the worker's first event: a hello of this mosx's version (whose device label the
    /// pool keeps) gives the worker back; anything else reaps it and is the error.
    fn handshake(&self, mut w: LocalWorker) -> Result<LocalWorker, WorkerError> {
        let hello = match w.next_event() {
            Ok(e) => e,
            Err(Lost::Protocol(m)) => {
                self.reap(w, true);
                return Err(WorkerError::Protocol(m));
            }
            Err(_) => {
                let status = self.reap(w, false);
                return Err(WorkerError::Exited(status));
            }
        };
        match hello {
            Event::Hello {
                version, device, ..
            } => {
                if version != crate::provenance::VERSION {
                    self.reap(w, true);
                    return Err(WorkerError::Version {
                        exe: self.exe.clone(),
                        found: version,
                        expected: crate::provenance::VERSION.into(),
                    });
                }
                if let Ok(mut l) = self.label.lock() {
                    *l = Some(device);
                }
                Ok(w)
            }
            Event::Fatal { reason, error } => {
                self.reap(w, false);
                Err(match reason {
                    FatalReason::Device => WorkerError::Device(error),
                    FatalReason::Store => WorkerError::Fatal(error),
                })
            }
            other => {
                self.reap(w, true);
                Err(WorkerError::Protocol(format!(
                    "expected a hello, got {other:?}"
                )))
            }
        }
    }

    /// Wait for a worker to end (killing it first if `kill`) and say how it ended.
    fn reap(&self, w: LocalWorker, kill: bool) -> String {
        let LocalWorker {
            mut child, stdin, ..
        } = w;
        drop(stdin);
        if kill {
            let _ = child.kill();
        }
        let status = child
            .wait()
            .map(describe)
            .unwrap_or_else(|e| format!("unknown status: {e}"));
        self.pids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&child.id());
        status
    }

    /// Runs `job` on this device's worker (starting one if none runs) and shows its events
    /// on `progress`. The job's lease is the worker's; it is in `leases` meanwhile, so that
    /// Ctrl-C releases it once the worker is killed.
    pub fn run(
        &self,
        job: &Job,
        progress: &RunProgress,
        leases: &Leases,
        store: &dyn Store,
    ) -> Done {
        // One stage at a time on the device: a stage queued behind another says so, and its
        // time counts from when the worker starts it.
        let mut slot = match self.slot.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                progress.waiting(&job.name, &self.label());
                self.slot.lock().unwrap_or_else(|p| p.into_inner())
            }
        };
        leases.insert(&job.key, job.run);
        let t0 = Instant::now();
        let stage = progress.stage(&job.name);
        let outcome = self.run_on(&mut slot, job, progress, &stage);
        stage.finish();
        let done = match outcome {
            Ok(done) => done,
            Err(Lost::Start(e)) => job.fail(store, e.to_string()),
            Err(lost) => {
                let status = match slot.take() {
                    Some(w) => self.reap(w, matches!(lost, Lost::Protocol(_))),
                    None => "gone".into(),
                };
                let why = match lost {
                    Lost::Protocol(m) => {
                        format!("worker broke the protocol ({m}); killed: {status}")
                    }
                    _ => format!("worker exited: {status}"),
                };
                // The worker may have committed the row just before it died.
                match store.check(&job.key) {
                    Ok(CacheCheck::Hit) => Done::Ran {
                        seconds: t0.elapsed().as_secs_f64(),
                    },
                    _ => job.fail(store, why),
                }
            }
        };
        leases.remove(&job.key, job.run);
        done
    }

    fn run_on(
        &self,
        slot: &mut Option<LocalWorker>,
        job: &Job,
        progress: &RunProgress,
        stage: &dyn Progress,
    ) -> Result<Done, Lost> {
        if slot.is_none() {
            *slot = Some(self.spawn().map_err(Lost::Start)?);
        }
        let Some(w) = slot.as_mut() else {
            return Err(Lost::Died);
        };
        w.send(job).map_err(|_| Lost::Died)?;
        loop {
            let event = w.next_event()?;
            match event {
                Event::Waiting { key, pid, host } if key == job.key => progress.println(&format!(
                    "  waiting for {}: running in pid {pid} on {host}",
                    job.name
                )),
                Event::Started { key } if key == job.key => progress.started(&job.name),
                Event::Progress { key, update } if key == job.key => match update {
                    ProgressUpdate::Start { label, total } => stage.start(&label, total),
                    ProgressUpdate::Inc { n } => stage.inc(n),
                    ProgressUpdate::Message { text } => stage.message(&text),
                    ProgressUpdate::Finish => stage.finish(),
                },
                other => {
                    return match other.outcome() {
                        Some((key, done)) if key == job.key => Ok(done),
                        _ => Err(Lost::Protocol(format!(
                            "unexpected event while running `{}`: {other:?}",
                            job.name
                        ))),
                    }
                }
            }
        }
    }

    /// Kill every worker and wait for it to be gone (Ctrl-C; callable from any thread while
    /// a job runs: it does not wait for the job's lock).
    pub fn kill(&self) {
        let pids: Vec<u32> = self
            .pids
            .lock()
            .map(|p| p.iter().copied().collect())
            .unwrap_or_default();
        for pid in pids {
            // SAFETY: plain syscalls on a child of this process (not yet reaped: its pid is
            // still in `pids`, so it cannot have been reused).
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
                libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0);
            }
        }
    }

    /// Close the workers' input (they exit 0 between jobs) and wait for them.
    pub fn shutdown(&self) {
        let w = self.slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(w) = w {
            self.reap(w, false);
        }
    }

    /// The worker executable this pool starts.
    pub fn exe(&self) -> &Path {
        &self.exe
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        self.shutdown();
    }
}
