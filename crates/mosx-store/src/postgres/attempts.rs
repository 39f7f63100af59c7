//! `job_attempts` rows on PostgreSQL, as SQLite's: the cluster jobs of each stage, one row
//! per (key, run, attempt), overwritten as the executor learns more about the job.

use sqlx::Row;

use super::{PgCtx, PgStore};
use crate::error::StoreError;
use crate::JobAttempt;

impl PgStore {
    pub(super) async fn record_attempt_async(&self, a: &JobAttempt) -> Result<(), StoreError> {
        let what = || {
            format!(
                "record attempt {} of stage {} (job {})",
                a.attempt, a.key, a.job_id
            )
        };
        self.writable(what)?;
        let mem = a.mem_mib.map(|m| i64::try_from(m).unwrap_or(i64::MAX));
        let mut conn = self.conn().await?;
        sqlx::query(
            "INSERT INTO job_attempts (key, run_id, attempt, job_id, state, node, submitted_at,
                                       started_at, finished_at, mem_mib, note)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (key, run_id, attempt) DO UPDATE SET
                 job_id = excluded.job_id, state = excluded.state, node = excluded.node,
                 submitted_at = excluded.submitted_at, started_at = excluded.started_at,
                 finished_at = excluded.finished_at, mem_mib = excluded.mem_mib,
                 note = excluded.note",
        )
        .bind(&a.key)
        .bind(a.run_id)
        .bind(i32::try_from(a.attempt).unwrap_or(i32::MAX))
        .bind(&a.job_id)
        .bind(&a.state)
        .bind(&a.node)
        .bind(a.submitted_at)
        .bind(a.started_at)
        .bind(a.finished_at)
        .bind(mem)
        .bind(&a.note)
        .execute(&mut *conn)
        .await
        .ctx(&self.site, what)?;
        Ok(())
    }

    pub(super) async fn attempts_async(&self, key: &str) -> Result<Vec<JobAttempt>, StoreError> {
        let what = || format!("read the attempts of stage {key}");
        let mut conn = self.conn().await?;
        let rows = sqlx::query(
            "SELECT run_id, attempt, job_id, state, node, submitted_at, started_at, finished_at,
                    mem_mib, note
               FROM job_attempts WHERE key = $1 ORDER BY run_id, attempt",
        )
        .bind(key)
        .fetch_all(&mut *conn)
        .await
        .ctx(&self.site, what)?;
        rows.iter()
            .map(|r| -> Result<JobAttempt, sqlx::Error> {
                let attempt: i32 = r.try_get(1)?;
                let mem: Option<i64> = r.try_get(8)?;
                Ok(JobAttempt {
                    key: key.to_string(),
                    run_id: r.try_get(0)?,
                    attempt: attempt.max(0) as u32,
                    job_id: r.try_get(2)?,
                    state: r.try_get(3)?,
                    node: r.try_get(4)?,
                    submitted_at: r.try_get(5)?,
                    started_at: r.try_get(6)?,
                    finished_at: r.try_get(7)?,
                    mem_mib: mem.map(|m| m.max(0) as u64),
                    note: r.try_get(9)?,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .ctx(&self.site, what)
    }
}
