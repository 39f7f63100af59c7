//! mosx-slurm: submit, follow and cancel Slurm jobs through the cluster's own commands.
//!
//! A [`Cluster`] is the set of Slurm client commands found on `PATH` (`sbatch`, `squeue`,
//! `scancel`, `scontrol`, and `sacct` when accounting storage answers). It knows nothing
//! of stages or stores: a job is a command line with resources and `afterok`
//! dependencies ([`JobRequest`]); its fate is a [`JobState`].
//!
//! Invariants:
//! * Each method runs at most one process per Slurm command: [`Cluster::jobs`] (and
//!   [`Cluster::states`]) asks `squeue` once for all the ids and `sacct` once for those the controller has
//!   forgotten, [`Cluster::cancel`] runs one `scancel`.
//! * Commands are run directly (never through a shell) with the options that decide
//!   their output given explicitly; the caller's `SQUEUE_*`, `SACCT_*` and `SCANCEL_*`
//!   variables (which filter or reformat output, or make `scancel` interactive) are
//!   removed. `SBATCH_*` variables are kept, so site defaults such as
//!   `SBATCH_ACCOUNT`, `SBATCH_QOS` or `SBATCH_PARTITION` apply to what a request leaves
//!   unset; `SBATCH_WAIT` and `SBATCH_ARRAY_INX`, which would change what `sbatch`
//!   does, are removed. `squeue` and `sacct` run with `SLURM_TIME_FORMAT=%s`, so times
//!   are read as Unix seconds whatever the site's format or time zone.
//! * A command that fails, or prints what this crate cannot read, is an error naming the
//!   command and carrying its stderr or the offending line; nothing is guessed.
//! * No timeout is imposed: the commands have Slurm's own (`MessageTimeout`).
//!
//! Dependencies and reruns: `afterok` holds a child until its parents completed with
//! exit code 0 and, with `--kill-on-invalid-dep=yes` (always given), removes it when a
//! parent did not ([`JobState::DependencyNeverSatisfied`]). Slurm 22.05 evaluates it
//! against the jobs its controller holds: a parent that completed is satisfied at once,
//! a parent that failed kills the child at once, and a parent id the controller does not
//! hold (finished longer than `MinJobAge` ago, or never existed) counts as satisfied,
//! even if that job failed. So a caller lists in [`JobRequest::after_ok`] only parents it
//! has just submitted or that [`Cluster::states`] still reports pending or running, and
//! decides about finished parents from its own records (skip the child if a parent's
//! result is missing).

mod job;
mod resources;
mod retry;
mod state;

pub use job::{Environment, JobId, JobRequest, RequestError};
pub use resources::{Gres, Memory, Partition, ResourceError, Resources, TimeLimit};
pub use retry::{NoRetry, Retry, RetryPolicy};
pub use state::{JobRecord, JobState};

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// The Slurm commands this client runs.
const REQUIRED: [&str; 4] = ["sbatch", "squeue", "scancel", "scontrol"];

/// A Slurm release, as `sbatch --version` prints it (`slurm-wlm 22.05.8`, `slurm 23.11.4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlurmVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl std::fmt::Display for SlurmVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02}.{}", self.major, self.minor, self.patch)
    }
}

impl SlurmVersion {
    /// Reads the last word of a `--version` line: `MAJOR.MINOR[.PATCH[-suffix]]`.
    fn parse(line: &str) -> Option<SlurmVersion> {
        let word = line.split_whitespace().last()?;
        let mut parts = word.split(['.', '-']);
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        Some(SlurmVersion {
            major,
            minor,
            patch,
        })
    }
}

/// Whether finished jobs can be read from accounting storage (`sacct`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accounting {
    /// `sacct` answers; jobs the controller forgot are read from it.
    Usable(PathBuf),
    /// `sacct` is installed but does not answer (e.g. `AccountingStorageType=none`:
    /// "Slurm accounting storage is disabled"); `why` is its stderr.
    Unusable { path: PathBuf, why: String },
    /// No `sacct` on `PATH`.
    Missing,
}

/// The Slurm commands of one cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    sbatch: PathBuf,
    squeue: PathBuf,
    scancel: PathBuf,
    scontrol: PathBuf,
    accounting: Accounting,
    version: SlurmVersion,
}

/// Why no [`Cluster`] was found.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("Slurm command(s) not found on PATH: {}", .commands.join(", "))]
    Missing { commands: Vec<&'static str> },
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("cannot read a Slurm version from `sbatch --version`: {output:?}")]
    Version { output: String },
}

/// A Slurm command that could not be run, failed, or printed something unreadable.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("cannot run `{command}` ({path}): {source}")]
    Spawn {
        command: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: &'static str,
        status: ExitStatus,
        stderr: String,
    },
    #[error("cannot read `{command}` output {line:?}: {reason}")]
    Unparsable {
        command: &'static str,
        line: String,
        reason: &'static str,
    },
}

/// Why a job was not submitted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("job `{name}`: {source}")]
    Request { name: String, source: RequestError },
    #[error("job `{name}`: {source}")]
    Command { name: String, source: CommandError },
}

impl Cluster {
    /// Finds the Slurm commands on `PATH` and reads the version; probes `sacct`.
    pub fn detect() -> Result<Cluster, DetectError> {
        Cluster::detect_on(&std::env::var_os("PATH").unwrap_or_default())
    }

    /// As [`Cluster::detect`], searching `search_path` (a `PATH`-style list) instead.
    pub fn detect_on(search_path: &OsStr) -> Result<Cluster, DetectError> {
        let found: Vec<Option<PathBuf>> =
            REQUIRED.iter().map(|c| find_on(search_path, c)).collect();
        let missing: Vec<&'static str> = REQUIRED
            .iter()
            .zip(&found)
            .filter(|(_, p)| p.is_none())
            .map(|(c, _)| *c)
            .collect();
        if !missing.is_empty() {
            return Err(DetectError::Missing { commands: missing });
        }
        let [sbatch, squeue, scancel, scontrol] = <[Option<PathBuf>; 4]>::try_from(found)
            .expect("one entry per required command")
            .map(|p| p.expect("checked above"));
        let out = run("sbatch", &sbatch, &["--version"], None)?;
        let version =
            out.lines()
                .find_map(SlurmVersion::parse)
                .ok_or_else(|| DetectError::Version {
                    output: out.clone(),
                })?;
        let accounting = match find_on(search_path, "sacct") {
            None => Accounting::Missing,
            // A query that needs the database and matches nothing: succeeds only when
            // accounting storage answers.
            Some(path) => match run(
                "sacct",
                &path,
                &[
                    "--noheader",
                    "--parsable2",
                    "--allocations",
                    "--jobs=1",
                    "--format=JobIDRaw",
                ],
                None,
            ) {
                Ok(_) => Accounting::Usable(path),
                Err(CommandError::Failed { stderr, .. }) => {
                    Accounting::Unusable { path, why: stderr }
                }
                Err(e) => return Err(e.into()),
            },
        };
        Ok(Cluster {
            sbatch,
            squeue,
            scancel,
            scontrol,
            accounting,
            version,
        })
    }

    /// The Slurm release of the client commands.
    pub fn version(&self) -> SlurmVersion {
        self.version
    }

    /// Whether `sacct` can read finished jobs.
    pub fn accounting(&self) -> &Accounting {
        &self.accounting
    }

    /// Where `scontrol` is (for callers that show a job's details to a person).
    pub fn scontrol(&self) -> &Path {
        &self.scontrol
    }

    /// Checks that the controller answers (`scontrol ping`), e.g. before submitting a
    /// whole graph of jobs.
    pub fn ping(&self) -> Result<(), CommandError> {
        run("scontrol", &self.scontrol, &["ping"], None).map(drop)
    }

    /// Submits `job` with `sbatch --parsable`, the command as a batch script on stdin.
    pub fn submit(&self, job: &JobRequest) -> Result<JobId, SubmitError> {
        job.validate().map_err(|source| SubmitError::Request {
            name: job.name.clone(),
            source,
        })?;
        let command_error = |source| SubmitError::Command {
            name: job.name.clone(),
            source,
        };
        let out = run(
            "sbatch",
            &self.sbatch,
            &job.sbatch_args(),
            Some(&job.batch_script()),
        )
        .map_err(command_error)?;
        // `ID` or, on a multi-cluster setup, `ID;CLUSTER`.
        let line = out
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        let id = line.split(';').next().unwrap_or("");
        id.parse().map_err(|_| {
            command_error(CommandError::Unparsable {
                command: "sbatch",
                line: out.clone(),
                reason: "expected the job id (`sbatch --parsable`)",
            })
        })
    }

    /// The state of each job in `ids` (every id is a key), as [`Cluster::jobs`] reads it.
    pub fn states(&self, ids: &[JobId]) -> Result<HashMap<JobId, JobState>, CommandError> {
        Ok(self
            .jobs(ids)?
            .into_iter()
            .map(|(id, r)| (id, r.state))
            .collect())
    }

    /// The record (state, node, start and end) of each job in `ids` (every id is a key): one
    /// `squeue` for all of them, then, when accounting is usable, one `sacct` for those the
    /// controller no longer holds; the rest are [`JobState::Gone`].
    pub fn jobs(&self, ids: &[JobId]) -> Result<HashMap<JobId, JobRecord>, CommandError> {
        let mut wanted: Vec<JobId> = ids.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(HashMap::new());
        }
        let list = join_ids(&wanted);
        // `--all`: also jobs in hidden partitions or partitions of other groups.
        let squeue_args = [
            "--all",
            "--noheader",
            "--states=all",
            &format!("--jobs={list}"),
            &format!("--Format={}", state::SQUEUE_FORMAT),
        ];
        let mut states = match run("squeue", &self.squeue, &squeue_args, None) {
            Ok(out) => state::parse_squeue(&out)?,
            // `squeue --jobs=N` with one id asks the controller for that job alone and
            // fails when it holds no such job; with several ids it filters instead.
            Err(CommandError::Failed { stderr, .. })
                if wanted.len() == 1 && stderr.contains("Invalid job id specified") =>
            {
                HashMap::new()
            }
            Err(e) => return Err(e),
        };
        states.retain(|id, _| wanted.binary_search(id).is_ok());
        let forgotten: Vec<JobId> = wanted
            .iter()
            .copied()
            .filter(|id| !states.contains_key(id))
            .collect();
        if let (Accounting::Usable(sacct), false) = (&self.accounting, forgotten.is_empty()) {
            let args = [
                "--allusers",
                "--noheader",
                "--parsable2",
                "--allocations",
                &format!("--jobs={}", join_ids(&forgotten)),
                &format!("--format={}", state::SACCT_FORMAT),
            ];
            let recorded = state::parse_sacct(&run("sacct", sacct, &args, None)?)?;
            states.extend(
                recorded
                    .into_iter()
                    .filter(|(id, _)| forgotten.binary_search(id).is_ok()),
            );
        }
        for id in forgotten {
            states.entry(id).or_insert_with(JobRecord::gone);
        }
        Ok(states)
    }

    /// Cancels `ids` with one `scancel`. Jobs already finished or unknown to Slurm are
    /// left as they are (`scancel` ignores them), so cancelling twice is harmless.
    pub fn cancel(&self, ids: &[JobId]) -> Result<(), CommandError> {
        if ids.is_empty() {
            return Ok(());
        }
        let args: Vec<String> = ids.iter().map(JobId::to_string).collect();
        run("scancel", &self.scancel, &args, None).map(drop)
    }
}

fn join_ids(ids: &[JobId]) -> String {
    ids.iter()
        .map(JobId::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The first executable file `name` in the `PATH`-style `search_path`.
fn find_on(search_path: &OsStr, name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(search_path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Runs `path args…` (feeding `stdin` if given); its stdout on exit status 0, else an
/// error with its stderr.
fn run<A: AsRef<OsStr>>(
    command: &'static str,
    path: &Path,
    args: &[A],
    stdin: Option<&[u8]>,
) -> Result<String, CommandError> {
    let mut cmd = Command::new(path);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    // Slurm "input environment variables" that would filter, reformat or redirect what
    // these commands do (see the module notes).
    let unwanted = |key: &str| match command {
        "squeue" => key.starts_with("SQUEUE_"),
        "sacct" => key.starts_with("SACCT_"),
        "scancel" => key.starts_with("SCANCEL_"),
        "sbatch" => matches!(key, "SBATCH_WAIT" | "SBATCH_ARRAY_INX"),
        _ => false,
    };
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(unwanted) {
            cmd.env_remove(&key);
        }
    }
    if matches!(command, "squeue" | "sacct") {
        cmd.env("SLURM_TIME_FORMAT", "%s");
    }
    let spawn_error = |source| CommandError::Spawn {
        command,
        path: path.to_path_buf(),
        source,
    };
    let mut child = cmd.spawn().map_err(spawn_error)?;
    if let Some(input) = stdin {
        // Written before reading the output: a batch script is small, and sbatch reads
        // all of it before it prints anything. A command that exits without reading
        // (a rejected option) closes the pipe; its status and stderr tell why.
        let mut pipe = child.stdin.take().expect("stdin is piped");
        match pipe.write_all(input) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(spawn_error(e));
            }
            _ => drop(pipe),
        }
    }
    let out = child.wait_with_output().map_err(spawn_error)?;
    if !out.status.success() {
        return Err(CommandError::Failed {
            command,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    String::from_utf8(out.stdout).map_err(|e| CommandError::Unparsable {
        command,
        line: String::from_utf8_lossy(e.as_bytes()).into_owned(),
        reason: "output is not UTF-8",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn versions_as_slurm_prints_them() {
        let v = |s| SlurmVersion::parse(s).unwrap();
        assert_eq!(
            v("slurm-wlm 22.05.8"),
            SlurmVersion {
                major: 22,
                minor: 5,
                patch: 8
            }
        );
        assert_eq!(
            v("slurm 23.11.4"),
            SlurmVersion {
                major: 23,
                minor: 11,
                patch: 4
            }
        );
        assert_eq!(
            v("slurm 24.05.0-0rc1"),
            SlurmVersion {
                major: 24,
                minor: 5,
                patch: 0
            }
        );
        assert_eq!(v("slurm 22.05.8").to_string(), "22.05.8");
        assert!(SlurmVersion::parse("sbatch: error").is_none());
        assert!(SlurmVersion::parse("").is_none());
    }

    #[test]
    fn find_on_skips_empty_and_non_executable_entries() {
        let dir = std::env::temp_dir().join(format!("mosx-slurm-find-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plain = dir.join("squeue");
        std::fs::write(&plain, "").unwrap();
        let search = OsString::from(format!(":{}", dir.display()));
        assert_eq!(find_on(&search, "squeue"), None, "not executable");
        std::fs::set_permissions(&plain, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        assert_eq!(find_on(&search, "squeue"), Some(plain));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
