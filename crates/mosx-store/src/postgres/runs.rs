//! `runs` rows on PostgreSQL. A run is `running` until `end_run`. The store that begins a run
//! holds the run's advisory lock in its lease session until `end_run` (or until the session
//! ends): that is how `recover` and `fsck` tell a run whose process is gone, on any machine.

use super::{PgCtx, PgStore};
use crate::error::StoreError;
use crate::{RunId, RunInfo};

impl PgStore {
    pub(super) async fn begin_run_async(&self, info: &RunInfo) -> Result<RunId, StoreError> {
        let what = || format!("insert run for spec {}", info.spec_path);
        self.writable(what)?;
        let sql = concat!(
            "INSERT INTO runs (started_at, status, spec_path, spec_hash, argv, mosx_version,
                               git_commit, git_dirty, host, device, pid)
             VALUES (",
            db_now!(),
            ", 'running', $1, $2, $3, $4, $5, $6, $7, $8, $9)
             RETURNING id"
        );
        let id: i64 = {
            let mut conn = self.conn().await?;
            sqlx::query_scalar(sql)
                .bind(&info.spec_path)
                .bind(&info.spec_hash)
                .bind(&info.argv)
                .bind(&info.mosx_version)
                .bind(&info.git_commit)
                .bind(info.git_dirty)
                .bind(&info.host)
                .bind(&info.device)
                .bind(info.pid as i64)
                .fetch_one(&mut *conn)
                .await
                .ctx(&self.site, what)?
        };
        let mut ls = self.session(what).await?;
        // A fresh id: nobody else can hold its lock.
        if ls
            .try_lock(self, self.lock_id("run", &id.to_string()), || {
                format!("take the lock of run {id}")
            })
            .await?
        {
            ls.runs.insert(id);
        }
        Ok(id)
    }

    pub(super) async fn end_run_async(
        &self,
        run: RunId,
        status: &str,
        summary: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let what = || format!("end run {run}");
        self.writable(what)?;
        let sql = concat!(
            "UPDATE runs SET status = $2, finished_at = ",
            db_now!(),
            ", summary = $3 WHERE id = $1"
        );
        let n = {
            let mut conn = self.conn().await?;
            sqlx::query(sql)
                .bind(run)
                .bind(status)
                .bind(summary.to_string())
                .execute(&mut *conn)
                .await
                .ctx(&self.site, what)?
                .rows_affected()
        };
        if n == 0 {
            return Err(StoreError::RunNotFound {
                db: self.site.loc.clone(),
                run,
            });
        }
        // The run is over: its locks go, and so do this session's leases of it (their rows
        // stay, dead, as SQLite's leases of an ended run).
        let mut ls = self.session(what).await?;
        if ls.runs.remove(&run) {
            ls.unlock(self.lock_id("run", &run.to_string())).await;
        }
        let keys: Vec<String> = ls
            .held
            .iter()
            .filter(|(_, r)| **r == run)
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            ls.held.remove(&k);
            ls.unlock(self.lock_id("lease", &k)).await;
        }
        ls.lost.retain(|_, r| *r != run);
        Ok(())
    }
}
