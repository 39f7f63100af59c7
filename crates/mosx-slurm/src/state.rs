//! A job's state as Slurm reports it, read from `squeue` and `sacct` output.
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

/// `squeue`'s `--Format`: id, state, raw wait status, reason (last: the rest of the line).
pub(crate) const SQUEUE_FORMAT: &str = "JobID:0|,State:0|,exit_code:0|,Reason:0";

/// `sacct`'s `--format` (with `--parsable2`, `|`-separated): reason last.
pub(crate) const SACCT_FORMAT: &str = "JobIDRaw,State,ExitCode,Reason";

/// Parses `squeue --noheader --states=all --Format=` [`SQUEUE_FORMAT`] output.
///
/// `exit_code` there is the raw wait status (`768` = exit code 3; `15` = SIGTERM).
pub(crate) fn parse_squeue(stdout: &str) -> Result<HashMap<JobId, JobState>, CommandError> {
    let mut states = HashMap::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let bad = |reason: &'static str| CommandError::Unparsable {
            command: "squeue",
            line: line.to_string(),
            reason,
        };
        let mut fields = line.splitn(4, '|');
        let (Some(id), Some(state), Some(status), Some(reason)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad(
                "expected 4 `|`-separated fields: job id, state, exit status, reason",
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
        states.insert(id, state);
    }
    Ok(states)
}

/// Parses `sacct --noheader --parsable2 --allocations --format=` [`SACCT_FORMAT`] output.
///
/// `State` may carry a suffix (`CANCELLED by 0`); `ExitCode` is `code:signal`.
pub(crate) fn parse_sacct(stdout: &str) -> Result<HashMap<JobId, JobState>, CommandError> {
    let mut states = HashMap::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let bad = |reason: &'static str| CommandError::Unparsable {
            command: "sacct",
            line: line.to_string(),
            reason,
        };
        let mut fields = line.splitn(4, '|');
        let (Some(id), Some(state), Some(exit), Some(reason)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad(
                "expected 4 `|`-separated fields: job id, state, exit code, reason",
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
        states.insert(id, state);
    }
    Ok(states)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded from Slurm 22.05.8 (Debian 12 `slurmctld`, the one-node cluster of
    /// `tools/ci/slurm.sh`) with `squeue --noheader --states=all --jobs=…
    /// --Format='JobID:0|,State:0|,exit_code:0|,Reason:0'`. Jobs: 2 ran `exit 3`; 3 and 5
    /// are its child and grandchild (`afterok`, `--kill-on-invalid-dep=yes`); 4 a child
    /// without that flag, left pending, then cancelled with `scancel`; 6 `afterok` on the
    /// completed job 1; 7 `afterok` on the never-seen job 99999 (it ran); 11 `--mem=50M`
    /// allocating 300 MB under task/cgroup; 13 `--cpus-per-task=8` on a 2-CPU node,
    /// cancelled; 17 a running `sleep`, cancelled; 24 running; 25 waiting on 24; 26 just
    /// submitted behind 24 and 25; 27 is job 24's line right after its submission,
    /// renumbered to keep ids unique. Jobs 2-7 were printed with padded columns
    /// (`JobID:8,State:12,…`), same values.
    const SQUEUE_22_05: &str = "\
2|FAILED|768|NonZeroExitCode
3|CANCELLED|0|DependencyNeverSatisfied
4|CANCELLED|0|DependencyNeverSatisfied
5|CANCELLED|0|DependencyNeverSatisfied
6|COMPLETED|0|None
7|COMPLETED|0|None
11|OUT_OF_MEMORY|253|OutOfMemory
13|CANCELLED|0|PartitionConfig
17|CANCELLED|15|None
24|RUNNING|0|None
25|PENDING|0|Dependency
26|PENDING|0|Priority
27|PENDING|0|None
";

    #[test]
    fn squeue_output_of_slurm_22_05() {
        let s = parse_squeue(SQUEUE_22_05).unwrap();
        let st = |id| s[&JobId(id)].clone();
        assert_eq!(
            st(2),
            JobState::Failed {
                exit_code: 3,
                signal: 0
            }
        );
        for id in [3, 4, 5] {
            assert_eq!(st(id), JobState::DependencyNeverSatisfied, "job {id}");
        }
        assert_eq!(st(6), JobState::Completed);
        assert_eq!(st(7), JobState::Completed);
        assert_eq!(st(11), JobState::OutOfMemory);
        assert_eq!(st(13), JobState::Cancelled);
        assert_eq!(st(17), JobState::Cancelled);
        assert_eq!(st(24), JobState::Running);
        assert_eq!(
            st(25),
            JobState::Pending {
                reason: "Dependency".into()
            }
        );
        assert_eq!(
            st(26),
            JobState::Pending {
                reason: "Priority".into()
            }
        );
        assert_eq!(
            st(27),
            JobState::Pending {
                reason: "None".into()
            }
        );
        assert_eq!(s.len(), 13);
        assert!(!st(25).is_final() && !st(24).is_final() && st(3).is_final());
        assert!(st(6).succeeded() && !st(2).succeeded());
    }

    /// Recorded from Slurm 22.05.8: a pending child without `--kill-on-invalid-dep`
    /// whose parent failed stays `PENDING`, reason `DependencyNeverSatisfied`.
    #[test]
    fn pending_forever_is_dependency_never_satisfied() {
        let s = parse_squeue("4|PENDING|0|DependencyNeverSatisfied\n").unwrap();
        assert_eq!(s[&JobId(4)], JobState::DependencyNeverSatisfied);
    }

    #[test]
    fn a_signal_is_not_an_exit_code() {
        // Wait status 9: killed by SIGKILL; 0x8b00: exit code 139.
        let s =
            parse_squeue("1|FAILED|9|NonZeroExitCode\n2|FAILED|35584|NonZeroExitCode\n").unwrap();
        assert_eq!(
            s[&JobId(1)],
            JobState::Failed {
                exit_code: 0,
                signal: 9
            }
        );
        assert_eq!(
            s[&JobId(2)],
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
            ("12|RUNNING|0", "4 `|`-separated"),
            ("12_3|RUNNING|0|None", "job id"),
            ("12|RUNNING|x|None", "exit status"),
            ("12|LIMBO|0|None", "unknown job state"),
        ] {
            let e = parse_squeue(line).unwrap_err();
            let text = e.to_string();
            assert!(text.contains(line) && text.contains(why), "{text}");
        }
        assert!(parse_squeue("").unwrap().is_empty());
    }

    /// Not recorded: the cluster of `tools/ci/slurm.sh` has no accounting storage. The
    /// lines follow sacct(1) of 22.05 with `--parsable2 --noheader --allocations`.
    #[test]
    fn sacct_lines() {
        let s = parse_sacct(
            "5|COMPLETED|0:0|None\n6|FAILED|2:0|None\n7|CANCELLED by 0|0:15|None\n\
             8|CANCELLED by 0|0:0|DependencyNeverSatisfied\n9|TIMEOUT|0:0|None\n\
             10|OUT_OF_MEMORY|0:125|None\n11|PENDING|0:0|Priority\n",
        )
        .unwrap();
        assert_eq!(s[&JobId(5)], JobState::Completed);
        assert_eq!(
            s[&JobId(6)],
            JobState::Failed {
                exit_code: 2,
                signal: 0
            }
        );
        assert_eq!(s[&JobId(7)], JobState::Cancelled);
        assert_eq!(s[&JobId(8)], JobState::DependencyNeverSatisfied);
        assert_eq!(s[&JobId(9)], JobState::Timeout);
        assert_eq!(s[&JobId(10)], JobState::OutOfMemory);
        assert_eq!(
            s[&JobId(11)],
            JobState::Pending {
                reason: "Priority".into()
            }
        );
        assert!(parse_sacct("5|COMPLETED|0|None").is_err());
    }
}
