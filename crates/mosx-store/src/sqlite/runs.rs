//! `runs` rows: one per `mosx` invocation. A run is `running` until `end_run`; a lease whose run
//! has ended is dead (see `liveness`).

use rusqlite::params;

use super::SqliteStore;
use crate::error::{SqlCtx, StoreError};
use crate::liveness::now;
use crate::{RunId, RunInfo};

impl SqliteStore {
    pub(super) fn begin_run_impl(&self, info: &RunInfo) -> Result<RunId, StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO runs (started_at, status, spec_path, spec_hash, argv, mosx_version, git_commit,
                               git_dirty, host, device, pid)
             VALUES (?1, 'running', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                now(),
                info.spec_path,
                info.spec_hash,
                info.argv,
                info.mosx_version,
                info.git_commit,
                info.git_dirty,
                info.host,
                info.device,
                info.pid
            ],
        )
        .ctx(&self.loc, || format!("insert run for spec {}", info.spec_path))?;
        Ok(conn.last_insert_rowid())
    }

    pub(super) fn end_run_impl(
        &self,
        run: RunId,
        status: &str,
        summary: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let summary = summary.to_string();
        let n = self
            .conn()
            .execute(
                "UPDATE runs SET status = ?2, finished_at = ?3, summary = ?4 WHERE id = ?1",
                params![run, status, now(), summary],
            )
            .ctx(&self.loc, || format!("end run {run}"))?;
        if n == 0 {
            return Err(StoreError::RunNotFound {
                db: self.loc.clone(),
                run,
            });
        }
        Ok(())
    }
}
