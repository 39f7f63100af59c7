//! A job's state as Slurm reports it, read from `squeue` and `sacct` output, with where and
//! when it ran ([`JobRecord`]).
//!
//! Invariants:
//! * `squeue --states=all` lists every job the controller still holds: pending,
//!   running, and finished within `MinJobAge` (default 300 s), with its final state,
//!   reason and exit status. It is the same record `scontrol show job` prints, read in
//!   one call for many jobs (`scontrol show job` takes one id per call).
//! * `sacct` (accounting storage) remembers jobs after the controller forgets them;
//!   without it a forgotten job is [`JobState::Gone`]: Slurm cannot say more.
//! * A job is final once [`JobState::is_final`]; jobs are submitted with
//!   `--no-requeue`, so Slurm does not move a final job back to pending (an
//!   administrator's `scontrol requeue` still can).
//! * A job that never ran because an `afterok` parent failed is
//!   [`JobState::DependencyNeverSatisfied`], whether Slurm cancelled it
//!   (`--kill-on-invalid-dep=yes`: `CANCELLED`, reason `DependencyNeverSatisfied`) or it
//!   still pends (`PENDING`, same reason).
//! * Unknown state names are errors, not guesses.
//! * Times are read as Unix seconds (the commands run with `SLURM_TIME_FORMAT=%s`); a job's
//!   start is kept only once it started (a pending job's `StartTime` is Slurm's estimate)
//!   and its end only once it is final (a running job's `EndTime` is its time limit).
//!   `N/A`, `NONE`, `Unknown` and an empty node list are "not known", not errors.

use std::collections::HashMap;

use crate::{CommandError, JobId};

/// Where a job is, as far as Slurm knows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting; `reason` is Slurm's (`None`, `Priority`, `Resources`, `Dependency`,
    /// `PartitionConfig`, …). Also a job requeued or held.
    Pending { reason: String },
    /// Started and not yet finished: running, configuring, completing (the command has
    /// ended, Slurm is cleaning up), suspended, signalling.
    Running,
    /// Exited with status 0.
    Completed,
    /// Exited non-zero or was killed by a signal; the two numbers of Slurm's
    /// `ExitCode=code:signal` (a job killed by a signal has `exit_code` 0).
    Failed { exit_code: i32, signal: i32 },
    /// Cancelled (`scancel`, or a federation sibling revoked).
    Cancelled,
    /// Reached its time limit (or its deadline).
    Timeout,
    /// Its node failed (or failed to boot).
    NodeFail,
    /// Killed for exceeding its memory (needs cgroup memory enforcement on the cluster).
    OutOfMemory,
    /// Preempted by a higher-priority job and not requeued.
    Preempted,
    /// Never ran and never will: an `afterok` parent did not complete successfully.
    DependencyNeverSatisfied,
    /// Slurm has no record of the job: the controller forgot it (`MinJobAge`) and there
    /// is no usable accounting storage, or the id never existed. The caller asks its
    /// own records (did the job write its result?).
    Gone,
}

impl JobState {
    /// Whether the job will not change state any more.
    pub fn is_final(&self) -> bool {
        !matches!(self, JobState::Pending { .. } | JobState::Running)
    }

    /// Whether the job ran to exit status 0.
    pub fn succeeded(&self) -> bool {
        matches!(self, JobState::Completed)
    }

    /// The state from a Slurm state name (`squeue`'s `%T`, or `sacct`'s `State` without
    /// its `by UID` suffix), the job's reason, and its exit code and signal. `None` for a
    /// name this client does not know.
    pub(crate) fn from_slurm(
        state: &str,
        reason: &str,
        exit_code: i32,
        signal: i32,
    ) -> Option<JobState> {
        let never = reason == "DependencyNeverSatisfied";
        Some(match state {
            "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESV_DEL_HOLD" if never => {
                JobState::DependencyNeverSatisfied
            }
            "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESV_DEL_HOLD" => {
                JobState::Pending {
                    reason: reason.to_string(),
                }
            }
            "RUNNING" | "CONFIGURING" | "COMPLETING" | "SUSPENDED" | "STOPPED" | "SIGNALING"
            | "RESIZING" | "STAGE_OUT" => JobState::Running,
            "COMPLETED" => JobState::Completed,
            "FAILED" | "SPECIAL_EXIT" => JobState::Failed { exit_code, signal },
            // A job cancelled while it waited on a failed parent keeps that reason.
            "CANCELLED" | "REVOKED" if never => JobState::DependencyNeverSatisfied,
            "CANCELLED" | "REVOKED" => JobState::Cancelled,
            "TIMEOUT" | "DEADLINE" => JobState::Timeout,
            "NODE_FAIL" | "BOOT_FAIL" => JobState::NodeFail,
            "OUT_OF_MEMORY" => JobState::OutOfMemory,
            "PREEMPTED" => JobState::Preempted,
            _ => return None,
        })
    }
}

/// A job's state, and where and when it ran, as far as Slurm knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub state: JobState,
    /// The node (or node list) it ran on; `None` before it started, or if it never did.
    pub node: Option<String>,
    /// When it started, in Unix seconds; `None` while it waits.
    pub started: Option<i64>,
    /// When it ended, in Unix seconds; `None` until it is final.
    pub ended: Option<i64>,
}

impl JobRecord {
    /// A job Slurm has no record of ([`JobState::Gone`]).
    pub fn gone() -> JobRecord {
        JobRecord {
            state: JobState::Gone,
            node: None,
            started: None,
            ended: None,
        }
    }

    /// The record from the fields after the state: node list, start and end times.
    fn new(state: JobState, node: &str, start: &str, end: &str) -> Result<JobRecord, &'static str> {
        let started = match state {
            JobState::Pending { .. } | JobState::DependencyNeverSatisfied => None,
            _ => time(start).map_err(|()| "start time is not Unix seconds")?,
        };
        let ended = if state.is_final() {
            time(end).map_err(|()| "end time is not Unix seconds")?
        } else {
            None
        };
        let node = node.trim();
        let node = (!node.is_empty() && node != "None assigned" && node != "(null)")
            .then(|| node.to_string());
        Ok(JobRecord {
            state,
            node,
            started,
            ended,
        })
    }
}

/// A time Slurm printed with `SLURM_TIME_FORMAT=%s`: `None` where it has none.
fn time(field: &str) -> Result<Option<i64>, ()> {
    match field.trim() {
        "" | "N/A" | "NONE" | "None" | "Unknown" | "0" => Ok(None),
        t => t.parse().map(Some).map_err(|_| ()),
    }
}

impl std::fmt::Display for JobState {
    /// Slurm's name of the state (`NODE_FAIL`, `OUT_OF_MEMORY`, …), with the exit code or
    /// signal of a failure and the reason of a job that will never run.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobState::Pending { .. } => f.write_str("PENDING"),
            JobState::Running => f.write_str("RUNNING"),
            JobState::Completed => f.write_str("COMPLETED"),
            JobState::Failed {
                exit_code,
                signal: 0,
            } => write!(f, "FAILED (exit code {exit_code})"),
            JobState::Failed { signal, .. } => write!(f, "FAILED (signal {signal})"),
            JobState::Cancelled => f.write_str("CANCELLED"),
            JobState::Timeout => f.write_str("TIMEOUT"),
            JobState::NodeFail => f.write_str("NODE_FAIL"),
            JobState::OutOfMemory => f.write_str("OUT_OF_MEMORY"),
            JobState::Preempted => f.write_str("PREEMPTED"),
            JobState::DependencyNeverSatisfied => {
                f.write_str("CANCELLED (DependencyNeverSatisfied)")
            }
            JobState::Gone => f.write_str("UNKNOWN (no longer known to Slurm)"),
        }
    }
}

/// `squeue`'s `--Format`: id, state, raw wait status, node list, start, end, reason (last:
/// the rest of the line).
pub(crate) const SQUEUE_FORMAT: &str =
    "JobID:0|,State:0|,exit_code:0|,NodeList:0|,StartTime:0|,EndTime:0|,Reason:0";

/// `sacct`'s `--format` (with `--parsable2`, `|`-separated): reason last.
pub(crate) const SACCT_FORMAT: &str = "JobIDRaw,State,ExitCode,NodeList,Start,End,Reason";

/// The number of `|`-separated fields of both formats.
const FIELDS: usize = 7;

/// Parses `squeue --noheader --states=all --Format=` [`SQUEUE_FORMAT`] output.
///
/// `exit_code` there is the raw wait status (`768` = exit code 3; `15` = SIGTERM).
pub(crate) fn parse_squeue(stdout: &str) -> Result<HashMap<JobId, JobRecord>, CommandError> {
    let mut states = HashMap::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let bad = |reason: &'static str| CommandError::Unparsable {
            command: "squeue",
            line: line.to_string(),
            reason,
        };
        let fields: Vec<&str> = line.splitn(FIELDS, '|').collect();
        let [id, state, status, node, start, end, reason] = fields[..] else {
            return Err(bad(
                "expected 7 `|`-separated fields: job id, state, exit status, node, start, end, reason",
            ));
        };
        let id: JobId = id
            .trim()
            .parse()
            .map_err(|_| bad("job id is not a number"))?;
        let status: i32 = status
            .trim()
            .parse()
            .map_err(|_| bad("exit status is not a number"))?;
        let (exit_code, signal) = ((status >> 8) & 0xff, status & 0x7f);
        let state = JobState::from_slurm(state.trim(), reason.trim(), exit_code, signal)
            .ok_or_else(|| bad("unknown job state"))?;
        states.insert(id, JobRecord::new(state, node, start, end).map_err(bad)?);
    }
    Ok(states)
}

/// Parses `sacct --noheader --parsable2 --allocations --format=` [`SACCT_FORMAT`] output.
///
/// `State` may carry a suffix (`CANCELLED by 0`); `ExitCode` is `code:signal`.
pub(crate) fn parse_sacct(stdout: &str) -> Result<HashMap<JobId, JobRecord>, CommandError> {
    let mut states = HashMap::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let bad = |reason: &'static str| CommandError::Unparsable {
            command: "sacct",
            line: line.to_string(),
            reason,
        };
        let fields: Vec<&str> = line.splitn(FIELDS, '|').collect();
        let [id, state, exit, node, start, end, reason] = fields[..] else {
            return Err(bad(
                "expected 7 `|`-separated fields: job id, state, exit code, node, start, end, reason",
            ));
        };
        let id: JobId = id
            .trim()
            .parse()
            .map_err(|_| bad("job id is not a number"))?;
        let (code, signal) = exit
            .trim()
            .split_once(':')
            .ok_or_else(|| bad("exit code is not `code:signal`"))?;
        let code: i32 = code.parse().map_err(|_| bad("exit code is not a number"))?;
        let signal: i32 = signal
            .parse()
            .map_err(|_| bad("exit signal is not a number"))?;
        let name = state.split_whitespace().next().unwrap_or("");
        let state = JobState::from_slurm(name, reason.trim(), code, signal)
            .ok_or_else(|| bad("unknown job state"))?;
        states.insert(id, JobRecord::new(state, node, start, end).map_err(bad)?);
    }
    Ok(states)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded from Slurm 22.05.8 (Debian 12 `slurmctld`, the one-node cluster of
    /// `tools/ci/slurm.sh`, cgroup v1) with `SLURM_TIME_FORMAT=%s squeue --all --noheader
    /// --states=all --jobs=… --Format=` [`SQUEUE_FORMAT`] (squeue sorts by state). Jobs: 5
    /// ran `exit 3`; 6 and 7 are its child and grandchild (`afterok`,
    /// `--kill-on-invalid-dep=yes`); 8 a child without that flag, left pending (reason
    /// `DependencyNeverSatisfied`), then cancelled with `scancel`; 9 `true`; 10 `afterok` on
    /// the completed job 9; 11 `afterok` on the never-seen job 99999 (it ran); 12 `--mem=50M`
    /// allocating 300 MB under task/cgroup; 13 `--cpus-per-task=8` on a 2-CPU node,
    /// cancelled; 15 a running `sleep` whose node was set down (`scontrol update
    /// nodename=vm state=down`); 16 running (its `EndTime` is `NONE`: no time limit); 17
    /// waiting on 16; 18 just submitted behind them.
    const SQUEUE_22_05: &str = "\
6|CANCELLED|0||1796230418|1796230418|DependencyNeverSatisfied
7|CANCELLED|0||1796230418|1796230418|DependencyNeverSatisfied
8|CANCELLED|0||1796230419|1796230419|DependencyNeverSatisfied
13|CANCELLED|0||1796230421|1796230421|PartitionConfig
9|COMPLETED|0|vm|1796230418|1796230418|None
10|COMPLETED|0|vm|1796230421|1796230421|None
11|COMPLETED|0|vm|1796230421|1796230421|None
5|FAILED|768|vm|1796230418|1796230418|NonZeroExitCode
15|NODE_FAIL|15|vm|1796230427|1796230427|NodeDown
12|OUT_OF_MEMORY|253|vm|1796230424|1796230425|OutOfMemory
17|PENDING|0||N/A|N/A|Dependency
18|PENDING|0||N/A|N/A|None
16|RUNNING|0|vm|1796230430|NONE|None
";

    #[test]
    fn squeue_output_of_slurm_22_05() {
        let s = parse_squeue(SQUEUE_22_05).unwrap();
        let st = |id| s[&JobId(id)].state.clone();
        assert_eq!(
            st(5),
            JobState::Failed {
                exit_code: 3,
                signal: 0
            }
        );
        for id in [6, 7, 8] {
            assert_eq!(st(id), JobState::DependencyNeverSatisfied, "job {id}");
        }
        for id in [9, 10, 11] {
            assert_eq!(st(id), JobState::Completed, "job {id}");
        }
        assert_eq!(st(12), JobState::OutOfMemory);
        assert_eq!(st(13), JobState::Cancelled);
        assert_eq!(st(15), JobState::NodeFail);
        assert_eq!(st(16), JobState::Running);
        assert_eq!(
            st(17),
            JobState::Pending {
                reason: "Dependency".into()
            }
        );
        assert_eq!(
            st(18),
            JobState::Pending {
                reason: "None".into()
            }
        );
        assert_eq!(s.len(), 13);
        assert!(!st(17).is_final() && !st(16).is_final() && st(6).is_final());
        assert!(st(9).succeeded() && !st(5).succeeded());
        assert_eq!(st(5).to_string(), "FAILED (exit code 3)");
        assert_eq!(st(15).to_string(), "NODE_FAIL");
        assert_eq!(st(12).to_string(), "OUT_OF_MEMORY");
    }

    #[test]
    fn where_and_when_a_job_ran() {
        let s = parse_squeue(SQUEUE_22_05).unwrap();
        let oom = &s[&JobId(12)];
        assert_eq!(oom.node.as_deref(), Some("vm"));
        assert_eq!(
            (oom.started, oom.ended),
            (Some(1796230424), Some(1796230425))
        );
        // Running: started, no end yet (`NONE`).
        let running = &s[&JobId(16)];
        assert_eq!((running.started, running.ended), (Some(1796230430), None));
        // Pending: no node, no times (`N/A`).
        assert_eq!(
            s[&JobId(17)],
            JobRecord {
                state: JobState::Pending {
                    reason: "Dependency".into()
                },
                node: None,
                started: None,
                ended: None
            }
        );
        // Never ran: no node and no start, though Slurm prints its cancellation time there.
        let never = &s[&JobId(6)];
        assert_eq!((never.node.as_deref(), never.started), (None, None));
        let e = parse_squeue("12|COMPLETED|0|vm|yesterday|1|None").unwrap_err();
        assert!(e.to_string().contains("start time"), "{e}");
    }

    /// Recorded from Slurm 22.05.8: a pending child without `--kill-on-invalid-dep`
    /// whose parent failed stays `PENDING`, reason `DependencyNeverSatisfied`.
    #[test]
    fn pending_forever_is_dependency_never_satisfied() {
        let s = parse_squeue("4|PENDING|0||N/A|N/A|DependencyNeverSatisfied\n").unwrap();
        assert_eq!(s[&JobId(4)].state, JobState::DependencyNeverSatisfied);
    }

    #[test]
    fn a_signal_is_not_an_exit_code() {
        // Wait status 9: killed by SIGKILL; 0x8b00: exit code 139.
        let s = parse_squeue(
            "1|FAILED|9|vm|5|6|NonZeroExitCode\n2|FAILED|35584|vm|5|6|NonZeroExitCode\n",
        )
        .unwrap();
        assert_eq!(
            s[&JobId(1)].state,
            JobState::Failed {
                exit_code: 0,
                signal: 9
            }
        );
        assert_eq!(
            s[&JobId(2)].state,
            JobState::Failed {
                exit_code: 139,
                signal: 0
            }
        );
    }

    #[test]
    fn every_slurm_state_name_is_known() {
        // The job states of squeue(1) in Slurm 22.05, long form.
        for name in [
            "BOOT_FAIL",
            "CANCELLED",
            "COMPLETED",
            "CONFIGURING",
            "COMPLETING",
            "DEADLINE",
            "FAILED",
            "NODE_FAIL",
            "OUT_OF_MEMORY",
            "PENDING",
            "PREEMPTED",
            "RUNNING",
            "RESV_DEL_HOLD",
            "REQUEUE_FED",
            "REQUEUE_HOLD",
            "REQUEUED",
            "RESIZING",
            "REVOKED",
            "SIGNALING",
            "SPECIAL_EXIT",
            "STAGE_OUT",
            "STOPPED",
            "SUSPENDED",
            "TIMEOUT",
        ] {
            assert!(JobState::from_slurm(name, "None", 0, 0).is_some(), "{name}");
        }
    }

    #[test]
    fn malformed_squeue_lines_are_errors_naming_the_line() {
        for (line, why) in [
            ("12|RUNNING|0|vm|1|NONE", "7 `|`-separated"),
            ("12_3|RUNNING|0|vm|1|NONE|None", "job id"),
            ("12|RUNNING|x|vm|1|NONE|None", "exit status"),
            ("12|LIMBO|0|vm|1|NONE|None", "unknown job state"),
        ] {
            let e = parse_squeue(line).unwrap_err();
            let text = e.to_string();
            assert!(text.contains(line) && text.contains(why), "{text}");
        }
        assert!(parse_squeue("").unwrap().is_empty());
    }

    /// Not recorded: the cluster of `tools/ci/slurm.sh` has no accounting storage. The
    /// lines follow sacct(1) of 22.05 with `--parsable2 --noheader --allocations` (a job
    /// that never ran has `None assigned` nodes and an `Unknown` start).
    #[test]
    fn sacct_lines() {
        let s = parse_sacct(
            "5|COMPLETED|0:0|vm|100|160|None\n6|FAILED|2:0|vm|100|101|None\n\
             7|CANCELLED by 0|0:15|vm|100|130|None\n\
             8|CANCELLED by 0|0:0|None assigned|Unknown|130|DependencyNeverSatisfied\n\
             9|TIMEOUT|0:0|vm|100|700|None\n10|OUT_OF_MEMORY|0:125|vm|100|105|None\n\
             11|PENDING|0:0|None assigned|Unknown|Unknown|Priority\n\
             12|NODE_FAIL|0:0|vm|100|120|None\n13|BOOT_FAIL|0:0|vm|100|100|None\n\
             14|PREEMPTED|0:15|vm|100|150|None\n",
        )
        .unwrap();
        let st = |id| s[&JobId(id)].state.clone();
        assert_eq!(st(5), JobState::Completed);
        assert_eq!(
            st(6),
            JobState::Failed {
                exit_code: 2,
                signal: 0
            }
        );
        assert_eq!(st(7), JobState::Cancelled);
        assert_eq!(st(8), JobState::DependencyNeverSatisfied);
        assert_eq!(st(9), JobState::Timeout);
        assert_eq!(st(10), JobState::OutOfMemory);
        assert_eq!(
            st(11),
            JobState::Pending {
                reason: "Priority".into()
            }
        );
        assert_eq!((st(12), st(13)), (JobState::NodeFail, JobState::NodeFail));
        assert_eq!(st(14), JobState::Preempted);
        assert_eq!(s[&JobId(8)].node, None);
        assert_eq!(
            (s[&JobId(5)].started, s[&JobId(5)].ended),
            (Some(100), Some(160))
        );
        assert!(parse_sacct("5|COMPLETED|0|vm|1|2|None").is_err());
    }
}
