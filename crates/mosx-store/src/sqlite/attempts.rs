//! `job_attempts` rows on SQLite: the cluster jobs of each stage, one row per (key, run,
//! attempt), overwritten as the executor learns more about the job.

use rusqlite::params;

use super::SqliteStore;
use crate::error::{SqlCtx, StoreError};
use crate::JobAttempt;

impl SqliteStore {
    pub(super) fn record_attempt_impl(&self, a: &JobAttempt) -> Result<(), StoreError> {
        let mem = a.mem_mib.map(|m| i64::try_from(m).unwrap_or(i64::MAX));
        self.conn()
            .execute(
                "INSERT INTO job_attempts (key, run_id, attempt, job_id, state, node, submitted_at,
                                           started_at, finished_at, mem_mib, note)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (key, run_id, attempt) DO UPDATE SET
                     job_id = excluded.job_id, state = excluded.state, node = excluded.node,
                     submitted_at = excluded.submitted_at, started_at = excluded.started_at,
                     finished_at = excluded.finished_at, mem_mib = excluded.mem_mib,
                     note = excluded.note",
                params![
                    a.key,
                    a.run_id,
                    a.attempt,
                    a.job_id,
                    a.state,
                    a.node,
                    a.submitted_at,
                    a.started_at,
                    a.finished_at,
                    mem,
                    a.note
                ],
            )
            .ctx(&self.loc, || {
                format!(
                    "record attempt {} of stage {} (job {})",
                    a.attempt, a.key, a.job_id
                )
            })?;
        Ok(())
    }

    pub(super) fn attempts_impl(&self, key: &str) -> Result<Vec<JobAttempt>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT run_id, attempt, job_id, state, node, submitted_at, started_at,
                        finished_at, mem_mib, note
                   FROM job_attempts WHERE key = ?1 ORDER BY run_id, attempt",
            )
            .ctx(&self.loc, || format!("read the attempts of stage {key}"))?;
        let rows = stmt
            .query_map(params![key], |r| {
                let mem: Option<i64> = r.get(8)?;
                Ok(JobAttempt {
                    key: key.to_string(),
                    run_id: r.get(0)?,
                    attempt: r.get(1)?,
                    job_id: r.get(2)?,
                    state: r.get(3)?,
                    node: r.get(4)?,
                    submitted_at: r.get(5)?,
                    started_at: r.get(6)?,
                    finished_at: r.get(7)?,
                    mem_mib: mem.map(|m| m.max(0) as u64),
                    note: r.get(9)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .ctx(&self.loc, || format!("read the attempts of stage {key}"))?;
        Ok(rows)
    }
}
