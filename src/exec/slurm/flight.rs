//! A stage's jobs under the Slurm executor: the job now running it ([`Flight`]) and the record of
//! each of its jobs in the store (`job_attempts`, one row per attempt, through
//! [`mosx_store::Store::record_attempt`]), which `mosx show` lists.
//!
//! Invariants:
//! * An attempt's row is written when the job is submitted (`PENDING`), when it is first seen
//!   running (node, start), and when it ends (final state, end, and what became of it: the
//!   note says why it was resubmitted, or why not). Each write overwrites the row of the same
//!   (key, run, attempt), so the row is always the latest knowledge.
//! * Attempts are numbered from 1 per stage and run; `resubmitted` counts only the
//!   resubmissions of the stage's own failures (the ones `retries` bounds), not those of a
//!   job cancelled because an upstream job was resubmitted.
//! * A failure to write a row is reported once per run and never fails the stage: the store
//!   decides success from the stage's result row, not from these.

use std::path::PathBuf;
use std::time::Instant;

use mosx_slurm::{JobId, JobRecord, JobState, Memory};
use mosx_store::{JobAttempt, RunId, Store};

/// The job now running a submitted stage, and its attempt's row.
pub(super) struct Flight {
    pub(super) job: JobId,
    pub(super) submitted: Instant,
    pub(super) started: Option<Instant>,
    pub(super) log: PathBuf,
    /// A forced rerun (`--force`); a resubmission is forced as the first job was.
    pub(super) force: bool,
    /// The memory this job asked for (`None`: Slurm's default).
    pub(super) mem: Option<Memory>,
    /// Resubmissions after this stage's own job failed (see the module note).
    pub(super) resubmitted: u32,
    /// What Slurm last said of the job.
    pub(super) last: JobState,
    pub(super) row: JobAttempt,
}

impl Flight {
    /// The first job (`attempt` 1) or a resubmission of stage `key` in `run`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        key: &str,
        run: RunId,
        attempt: u32,
        job: JobId,
        log: PathBuf,
        force: bool,
        mem: Option<Memory>,
        resubmitted: u32,
    ) -> Flight {
        Flight {
            job,
            submitted: Instant::now(),
            started: None,
            log,
            force,
            mem,
            resubmitted,
            last: JobState::Pending {
                reason: String::new(),
            },
            row: JobAttempt {
                key: key.to_string(),
                run_id: run,
                attempt,
                job_id: job.to_string(),
                state: JobState::Pending {
                    reason: String::new(),
                }
                .to_string(),
                node: None,
                submitted_at: unix_now(),
                started_at: None,
                finished_at: None,
                mem_mib: mem.map(Memory::mebibytes),
                note: None,
            },
        }
    }

    /// Take what Slurm says of the job into the row; whether the row changed.
    pub(super) fn observe(&mut self, record: &JobRecord) -> bool {
        let before = self.row.clone();
        self.last = record.state.clone();
        self.row.state = record.state.to_string();
        if record.node.is_some() {
            self.row.node.clone_from(&record.node);
        }
        if let Some(t) = record.started {
            self.row.started_at = Some(t as f64);
        }
        if let Some(t) = record.ended {
            self.row.finished_at = Some(t as f64);
        }
        self.row != before
    }

    /// What became of the attempt (`resubmitted as job 14 with mem 200M`, …).
    pub(super) fn note(&mut self, note: String) {
        self.row.note = Some(note);
    }
}

/// Writes attempt rows; the first failure is said once (see the module note).
pub(super) struct Recorder {
    warned: bool,
}

impl Recorder {
    pub(super) fn new() -> Recorder {
        Recorder { warned: false }
    }

    /// Write `row`; on failure, the message to print (only the first time).
    pub(super) fn write(&mut self, store: &dyn Store, row: &JobAttempt) -> Option<String> {
        match store.record_attempt(row) {
            Ok(()) => None,
            Err(_) if self.warned => None,
            Err(e) => {
                self.warned = true;
                Some(format!(
                    "  store: cannot record the cluster jobs of this run ({e}); `mosx show` will lack them"
                ))
            }
        }
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flight_row_follows_the_job_and_keeps_what_it_learnt() {
        let mem: Memory = "100M".parse().unwrap();
        let mut f = Flight::new("k", 3, 1, JobId(12), "x.log".into(), false, Some(mem), 0);
        assert_eq!(
            (f.row.state.as_str(), f.row.mem_mib, f.row.attempt),
            ("PENDING", Some(100), 1)
        );
        let running = JobRecord {
            state: JobState::Running,
            node: Some("vm".into()),
            started: Some(100),
            ended: None,
        };
        assert!(f.observe(&running));
        assert!(!f.observe(&running), "nothing new");
        // A forgotten job keeps its node and start.
        assert!(f.observe(&JobRecord::gone()));
        assert_eq!(f.row.node.as_deref(), Some("vm"));
        assert_eq!(f.row.started_at, Some(100.0));
        assert_eq!(f.row.state, "UNKNOWN (no longer known to Slurm)");
    }
}
