//! `commit`: store a computed stage.
//!
//! Order (crash safety): large artifacts are written to fsynced temp files without any lock;
//! then, inside one `BEGIN IMMEDIATE` transaction, the temp files are renamed into place and the
//! stage row, artifact rows, metric rows, the finished execution row and the lease deletion are
//! written. A crash before the COMMIT leaves at most object files no row refers to (removed by
//! `gc`), never a stage row without its artifacts. Renaming only under the write lock means a
//! concurrent `gc` (which scans under the same lock) cannot delete an object about to be
//! referenced, and a valid existing object is never overwritten. Each installed object's
//! verification memo (its stat, taken from the fsynced temp file, and its hash) is written in the
//! same transaction, so a check right after the commit need not read it.
//!
//! A forced rerun (`commit_replacing`) deletes the key's old row in that same transaction, so
//! the old result is valid until the new one is committed.

use rusqlite::{params, Transaction};

use super::check::{load_file_refs, record_memos};
use super::SqliteStore;
use crate::error::{SqlCtx, StoreError};
use crate::prepare::{ArtifactRow, Prepared};
use crate::verify::verify_refs;
use crate::{Artifact, RunId, StageRecord};

/// Close `run`'s running execution of the key as ok, or insert an ok row if there is none
/// (commit without acquire, or after the lease was taken over).
fn finish_execution(
    tx: &Transaction<'_>,
    store: &SqliteStore,
    rec: &StageRecord,
    run: RunId,
) -> Result<(), StoreError> {
    let n = tx
        .execute(
            "UPDATE executions SET status = 'ok', finished_at = ?3, kind = ?4, name = ?5
              WHERE id = (SELECT MAX(id) FROM executions WHERE key = ?1 AND run_id = ?2 AND status = 'running')",
            params![rec.key, run, rec.finished_at, rec.kind, rec.name],
        )
        .ctx(&store.loc, || format!("finish execution of stage {}", rec.key))?;
    if n == 0 {
        tx.execute(
            "INSERT INTO executions (key, run_id, kind, name, started_at, finished_at, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'ok')",
            params![
                rec.key,
                run,
                rec.kind,
                rec.name,
                rec.started_at,
                rec.finished_at
            ],
        )
        .ctx(&store.loc, || {
            format!("insert execution of stage {}", rec.key)
        })?;
    }
    tx.execute(
        "DELETE FROM leases WHERE key = ?1 AND run_id = ?2",
        params![rec.key, run],
    )
    .ctx(&store.loc, || format!("delete lease of stage {}", rec.key))?;
    Ok(())
}

impl SqliteStore {
    pub(super) fn commit_impl(
        &self,
        rec: &StageRecord,
        artifacts: &[Artifact],
        metrics: &[(String, f64)],
        replace: bool,
    ) -> Result<(), StoreError> {
        let mut prep = Prepared::write(
            &self.loc,
            &self.objects,
            &self.host,
            self.pid,
            rec,
            artifacts,
            metrics,
        )?;
        let key = rec.key.as_str();
        let run = rec.run_id;
        let params_json = rec.params.to_string();
        let parts_json = rec.parts.to_string();

        self.write_tx(
            || format!("commit stage {key} ({})", rec.name),
            |tx| {
                if replace {
                    // A forced rerun: the old row (artifacts and metrics cascade) goes in the
                    // transaction that inserts the new one.
                    tx.execute("DELETE FROM stages WHERE key = ?1", params![key])
                        .ctx(&self.loc, || format!("replace stage {key}"))?;
                } else if self.keep_stored_row(tx, key)? {
                    // Another holder stored this key first: keep its data; our temp files are
                    // removed when `prep` drops.
                    return finish_execution(tx, self, rec, run);
                }
                let memos = prep.install(&self.loc, key)?;
                record_memos(tx, &self.loc, &memos)?;
                self.insert_stage_row(tx, rec, &params_json, &parts_json)?;
                self.insert_artifact_rows(tx, key, &prep.rows)?;
                self.insert_metric_rows(tx, key, metrics)?;
                finish_execution(tx, self, rec, run)
            },
        )
    }

    /// Under the write lock: whether `key` already has a stage row whose object files verify
    /// (its verification memos are recorded); a row whose files are invalid is deleted.
    fn keep_stored_row(&self, tx: &Transaction<'_>, key: &str) -> Result<bool, StoreError> {
        let Some(files) = load_file_refs(tx, &self.loc, &[key])?.remove(key) else {
            return Ok(false);
        };
        let mut updates = Vec::new();
        if verify_refs(&self.objects, &files, &mut updates).is_hit() {
            record_memos(tx, &self.loc, &updates)?;
            return Ok(true);
        }
        tx.execute("DELETE FROM stages WHERE key = ?1", params![key])
            .ctx(&self.loc, || {
                format!("delete stage {key} whose object files are invalid")
            })?;
        Ok(false)
    }

    /// Insert the stage row of `rec` (`params_json` and `parts_json`: its JSON columns).
    fn insert_stage_row(
        &self,
        tx: &Transaction<'_>,
        rec: &StageRecord,
        params_json: &str,
        parts_json: &str,
    ) -> Result<(), StoreError> {
        let key = rec.key.as_str();
        tx.execute(
            "INSERT INTO stages (key, kind, name, params, parts, status, started_at, finished_at, duration_ms,
                                         run_id, mosx_version, git_commit, git_dirty, host, device, seed, spec_hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'ok', ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            params![
                key,
                rec.kind,
                rec.name,
                params_json,
                parts_json,
                rec.started_at,
                rec.finished_at,
                rec.duration_ms,
                rec.run_id,
                rec.mosx_version,
                rec.git_commit,
                rec.git_dirty,
                rec.host,
                rec.device,
                rec.seed,
                rec.spec_hash
            ],
        )
        .ctx(&self.loc, || format!("insert stage row {key} ({})", rec.name))?;
        Ok(())
    }

    /// Insert one artifact row per prepared artifact of `key`.
    fn insert_artifact_rows(
        &self,
        tx: &Transaction<'_>,
        key: &str,
        rows: &[ArtifactRow<'_>],
    ) -> Result<(), StoreError> {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO artifacts (key, name, format, size, hash, inline, path)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .ctx(&self.loc, || "prepare artifact insert".into())?;
        for r in rows {
            stmt.execute(params![
                key,
                r.name,
                r.format,
                r.size as i64,
                r.hash,
                r.inline,
                r.path
            ])
            .ctx(&self.loc, || {
                format!("insert artifact {:?} of stage {key}", r.name)
            })?;
        }
        Ok(())
    }

    /// Insert one metric row per metric of `key`.
    fn insert_metric_rows(
        &self,
        tx: &Transaction<'_>,
        key: &str,
        metrics: &[(String, f64)],
    ) -> Result<(), StoreError> {
        let mut stmt = tx
            .prepare_cached("INSERT INTO metrics (key, name, value) VALUES (?1, ?2, ?3)")
            .ctx(&self.loc, || "prepare metric insert".into())?;
        for (name, value) in metrics {
            // SQLite stores NaN as NULL; NULL is read back as NaN.
            let v = if value.is_nan() { None } else { Some(*value) };
            stmt.execute(params![key, name, v]).ctx(&self.loc, || {
                format!("insert metric {name:?} of stage {key}")
            })?;
        }
        Ok(())
    }
}
