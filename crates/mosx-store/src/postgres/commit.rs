//! `commit` on PostgreSQL: store a computed stage.
//!
//! Order (crash safety, as SQLite's): large artifacts are written to fsynced temp files without
//! any lock; then one transaction takes the shared gc lock and the key's lock, re-checks an
//! existing row (a valid one wins: the new data is discarded), renames the temp files into
//! place, and writes the memos, the stage, artifact and metric rows (each kind in one
//! statement), the finished execution row and the lease row's deletion; the lease lock is given
//! up inside the same transaction. A crash before COMMIT leaves at most object files no row
//! refers to (removed by `gc`), never a stage row without its artifacts; `gc` holds the gc lock
//! exclusively while it judges files, so it never removes an object a commit is installing.

use sqlx::PgConnection;

use super::check::record_memos;
use super::{PgCtx, PgStore};
use crate::error::StoreError;
use crate::prepare::{ArtifactRow, Prepared};
use crate::{Artifact, RunId, StageRecord};

impl PgStore {
    /// Close `run`'s running execution of the key as ok, or insert an ok row if there is none
    /// (commit without acquire, or after the lease was taken over); delete its lease row.
    async fn finish_execution(
        &self,
        conn: &mut PgConnection,
        rec: &StageRecord,
        run: RunId,
    ) -> Result<(), StoreError> {
        let site = &self.site;
        let n = sqlx::query(
            "UPDATE executions SET status = 'ok', finished_at = $3, kind = $4, name = $5
              WHERE id = (SELECT MAX(id) FROM executions
                           WHERE key = $1 AND run_id = $2 AND status = 'running')",
        )
        .bind(&rec.key)
        .bind(run)
        .bind(rec.finished_at)
        .bind(&rec.kind)
        .bind(&rec.name)
        .execute(&mut *conn)
        .await
        .ctx(site, || format!("finish execution of stage {}", rec.key))?
        .rows_affected();
        if n == 0 {
            sqlx::query(
                "INSERT INTO executions (key, run_id, kind, name, started_at, finished_at, status)
                 VALUES ($1, $2, $3, $4, $5, $6, 'ok')",
            )
            .bind(&rec.key)
            .bind(run)
            .bind(&rec.kind)
            .bind(&rec.name)
            .bind(rec.started_at)
            .bind(rec.finished_at)
            .execute(&mut *conn)
            .await
            .ctx(site, || format!("insert execution of stage {}", rec.key))?;
        }
        self.end_lease(conn, &rec.key, run).await
    }

    pub(super) async fn commit_async(
        &self,
        rec: &StageRecord,
        artifacts: &[Artifact],
        metrics: &[(String, f64)],
        replace: bool,
    ) -> Result<(), StoreError> {
        let key = rec.key.as_str();
        let what = || format!("commit stage {key} ({})", rec.name);
        self.writable(what)?;
        let site = &self.site;
        let mut prep = Prepared::write(
            &site.loc,
            &self.objects,
            &self.host,
            self.pid,
            rec,
            artifacts,
            metrics,
        )?;
        let run = rec.run_id;
        let mut tx = self.begin(what).await?;
        self.lock_for_commit(&mut tx, key).await?;
        if replace {
            // A forced rerun: the old row (artifacts and metrics cascade) goes in the
            // transaction that inserts the new one.
            sqlx::query("DELETE FROM stages WHERE key = $1")
                .bind(key)
                .execute(&mut *tx)
                .await
                .ctx(site, || format!("replace stage {key}"))?;
        } else if self.keep_valid_row(&mut tx, key, true).await? {
            // Another holder stored this key first: keep its data; our temp files are
            // removed when `prep` drops.
            self.finish_execution(&mut tx, rec, run).await?;
            return tx
                .commit()
                .await
                .ctx(site, || format!("commit transaction to {}", what()));
        }
        let memos = prep.install(&site.loc, key)?;
        record_memos(&mut tx, site, &memos).await?;
        self.insert_stage_row(&mut tx, rec).await?;
        if !prep.rows.is_empty() {
            self.insert_artifact_rows(&mut tx, key, &prep.rows).await?;
        }
        if !metrics.is_empty() {
            self.insert_metric_rows(&mut tx, key, metrics).await?;
        }
        self.finish_execution(&mut tx, rec, run).await?;
        tx.commit()
            .await
            .ctx(site, || format!("commit transaction to {}", what()))
    }

    /// Take the gc lock shared and `key`'s lock for the caller's transaction.
    async fn lock_for_commit(&self, conn: &mut PgConnection, key: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock_shared($1), pg_advisory_xact_lock($2)")
            .bind(self.lock_id("gc", ""))
            .bind(self.lock_id("key", key))
            .execute(&mut *conn)
            .await
            .ctx(&self.site, || format!("lock stage {key} for its commit"))?;
        Ok(())
    }

    /// Insert the stage row of `rec`.
    async fn insert_stage_row(
        &self,
        conn: &mut PgConnection,
        rec: &StageRecord,
    ) -> Result<(), StoreError> {
        let key = rec.key.as_str();
        sqlx::query(
            "INSERT INTO stages (key, kind, name, params, parts, status, started_at, finished_at,
                                 duration_ms, run_id, mosx_version, git_commit, git_dirty, host,
                                 device, seed, spec_hash)
             VALUES ($1, $2, $3, $4, $5, 'ok', $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(key)
        .bind(&rec.kind)
        .bind(&rec.name)
        .bind(rec.params.to_string())
        .bind(rec.parts.to_string())
        .bind(rec.started_at)
        .bind(rec.finished_at)
        .bind(rec.duration_ms)
        .bind(rec.run_id)
        .bind(&rec.mosx_version)
        .bind(&rec.git_commit)
        .bind(rec.git_dirty)
        .bind(&rec.host)
        .bind(&rec.device)
        .bind(rec.seed)
        .bind(&rec.spec_hash)
        .execute(&mut *conn)
        .await
        .ctx(&self.site, || {
            format!("insert stage row {key} ({})", rec.name)
        })?;
        Ok(())
    }

    /// Insert the artifact rows of `key`, all in one statement.
    async fn insert_artifact_rows(
        &self,
        conn: &mut PgConnection,
        key: &str,
        rows: &[ArtifactRow<'_>],
    ) -> Result<(), StoreError> {
        let names: Vec<&str> = rows.iter().map(|r| r.name).collect();
        let formats: Vec<&str> = rows.iter().map(|r| r.format).collect();
        let sizes: Vec<i64> = rows.iter().map(|r| r.size as i64).collect();
        let hashes: Vec<&str> = rows.iter().map(|r| r.hash.as_str()).collect();
        let inlines: Vec<Option<&[u8]>> = rows.iter().map(|r| r.inline).collect();
        let paths: Vec<Option<&str>> = rows.iter().map(|r| r.path.as_deref()).collect();
        sqlx::query(
            "INSERT INTO artifacts (key, name, format, size, hash, inline, path)
                 SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::text[],
                                          $6::bytea[], $7::text[])",
        )
        .bind(key)
        .bind(&names)
        .bind(&formats)
        .bind(&sizes)
        .bind(&hashes)
        .bind(&inlines)
        .bind(&paths)
        .execute(&mut *conn)
        .await
        .ctx(&self.site, || {
            format!("insert {} artifact row(s) of stage {key}", names.len())
        })?;
        Ok(())
    }

    /// Insert the metric rows of `key`, all in one statement.
    async fn insert_metric_rows(
        &self,
        conn: &mut PgConnection,
        key: &str,
        metrics: &[(String, f64)],
    ) -> Result<(), StoreError> {
        // float8 holds NaN and ±infinity as they are.
        let names: Vec<&str> = metrics.iter().map(|(n, _)| n.as_str()).collect();
        let values: Vec<f64> = metrics.iter().map(|(_, v)| *v).collect();
        sqlx::query(
            "INSERT INTO metrics (key, name, value)
                 SELECT $1, * FROM UNNEST($2::text[], $3::float8[])",
        )
        .bind(key)
        .bind(&names)
        .bind(&values)
        .execute(&mut *conn)
        .await
        .ctx(&self.site, || {
            format!("insert {} metric row(s) of stage {key}", names.len())
        })?;
        Ok(())
    }
}
