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

use std::collections::HashSet;

use rusqlite::{params, Transaction};

use super::check::{load_file_refs, record_memos, verify_refs};
use super::SqliteStore;
use crate::error::{SqlCtx, StoreError};
use crate::objects::{
    hash_bytes, rel_path, validate_key, validate_name, Memo, TempObject, INLINE_MAX,
};
use crate::{Artifact, RunId, StageRecord};

/// An artifact row ready to insert.
struct ArtifactRow<'a> {
    name: &'a str,
    format: &'a str,
    size: u64,
    hash: String,
    inline: Option<&'a [u8]>,
    path: Option<String>,
}

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
        .ctx(&store.db, || format!("finish execution of stage {}", rec.key))?;
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
        .ctx(&store.db, || {
            format!("insert execution of stage {}", rec.key)
        })?;
    }
    tx.execute(
        "DELETE FROM leases WHERE key = ?1 AND run_id = ?2",
        params![rec.key, run],
    )
    .ctx(&store.db, || format!("delete lease of stage {}", rec.key))?;
    Ok(())
}

impl SqliteStore {
    fn validate_commit(
        &self,
        rec: &StageRecord,
        artifacts: &[Artifact],
        metrics: &[(String, f64)],
    ) -> Result<(), StoreError> {
        let key = &rec.key;
        validate_key(key).map_err(|reason| StoreError::InvalidKey {
            db: self.db.clone(),
            key: key.clone(),
            reason,
        })?;
        let mut seen = HashSet::new();
        for a in artifacts {
            validate_name(&a.name).map_err(|reason| StoreError::InvalidArtifactName {
                db: self.db.clone(),
                key: key.clone(),
                name: a.name.clone(),
                reason,
            })?;
            if !seen.insert(a.name.as_str()) {
                return Err(StoreError::Duplicate {
                    db: self.db.clone(),
                    key: key.clone(),
                    what: "artifact",
                    name: a.name.clone(),
                });
            }
        }
        // An artifact "a" and another "a/b" cannot both be files.
        for a in artifacts {
            let mut prefix = a.name.as_str();
            while let Some(i) = prefix.rfind('/') {
                prefix = &prefix[..i];
                if seen.contains(prefix) {
                    return Err(StoreError::InvalidArtifactName {
                        db: self.db.clone(),
                        key: key.clone(),
                        name: a.name.clone(),
                        reason: format!("artifact {prefix:?} is also given, a name cannot be both file and folder"),
                    });
                }
            }
        }
        let mut seen = HashSet::new();
        for (name, _) in metrics {
            if !seen.insert(name.as_str()) {
                return Err(StoreError::Duplicate {
                    db: self.db.clone(),
                    key: key.clone(),
                    what: "metric",
                    name: name.clone(),
                });
            }
        }
        Ok(())
    }

    pub(super) fn commit_impl(
        &self,
        rec: &StageRecord,
        artifacts: &[Artifact],
        metrics: &[(String, f64)],
    ) -> Result<(), StoreError> {
        self.validate_commit(rec, artifacts, metrics)?;
        let key = rec.key.as_str();
        let run = rec.run_id;

        let mut rows = Vec::with_capacity(artifacts.len());
        let mut temps = Vec::new();
        // (object path, hash) of each entry of `temps`, in order.
        let mut temp_ids = Vec::new();
        for a in artifacts {
            let hash = hash_bytes(&a.bytes);
            let size = a.bytes.len() as u64;
            if a.bytes.len() > INLINE_MAX {
                let t =
                    TempObject::write(&self.objects, key, &a.name, &a.bytes, &self.host, self.pid)
                        .map_err(|cause| {
                            self.io_err(
                                &self.objects.join(key).join(&a.name),
                                format!("write object of artifact {:?} of stage {key}", a.name),
                                cause,
                            )
                        })?;
                temps.push(t);
                temp_ids.push((rel_path(key, &a.name), hash.clone()));
                rows.push(ArtifactRow {
                    name: &a.name,
                    format: &a.format,
                    size,
                    hash,
                    inline: None,
                    path: Some(rel_path(key, &a.name)),
                });
            } else {
                rows.push(ArtifactRow {
                    name: &a.name,
                    format: &a.format,
                    size,
                    hash,
                    inline: Some(&a.bytes),
                    path: None,
                });
            }
        }
        let params_json = rec.params.to_string();
        let parts_json = rec.parts.to_string();

        self.write_tx(
            || format!("commit stage {key} ({})", rec.name),
            |tx| {
                if let Some(files) = load_file_refs(tx, &self.db, &[key])?.get(key) {
                    let mut updates = Vec::new();
                    if verify_refs(&self.objects, files, &mut updates).is_hit() {
                        // Another holder stored this key first: keep its data; our temp files are
                        // removed when `temps` drops.
                        record_memos(tx, &self.db, &updates)?;
                        return finish_execution(tx, self, rec, run);
                    }
                    tx.execute("DELETE FROM stages WHERE key = ?1", params![key])
                        .ctx(&self.db, || format!("delete stage {key} whose object files are invalid"))?;
                }
                for t in temps.iter_mut() {
                    t.install().map_err(|cause| self.io_err(&t.final_path, format!("install object of stage {key}"), cause))?;
                }
                let memos: Vec<_> = temps
                    .iter()
                    .zip(&temp_ids)
                    .map(|(t, (path, hash))| {
                        (path.clone(), Memo { stat: t.stat, hash: hash.clone(), verified_at: t.stat_at })
                    })
                    .collect();
                record_memos(tx, &self.db, &memos)?;
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
                        run,
                        rec.mosx_version,
                        rec.git_commit,
                        rec.git_dirty,
                        rec.host,
                        rec.device,
                        rec.seed,
                        rec.spec_hash
                    ],
                )
                .ctx(&self.db, || format!("insert stage row {key} ({})", rec.name))?;
                {
                    let mut stmt = tx
                        .prepare_cached(
                            "INSERT INTO artifacts (key, name, format, size, hash, inline, path)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        )
                        .ctx(&self.db, || "prepare artifact insert".into())?;
                    for r in &rows {
                        stmt.execute(params![key, r.name, r.format, r.size as i64, r.hash, r.inline, r.path])
                            .ctx(&self.db, || format!("insert artifact {:?} of stage {key}", r.name))?;
                    }
                    let mut stmt = tx
                        .prepare_cached("INSERT INTO metrics (key, name, value) VALUES (?1, ?2, ?3)")
                        .ctx(&self.db, || "prepare metric insert".into())?;
                    for (name, value) in metrics {
                        // SQLite stores NaN as NULL; NULL is read back as NaN.
                        let v = if value.is_nan() { None } else { Some(*value) };
                        stmt.execute(params![key, name, v])
                            .ctx(&self.db, || format!("insert metric {name:?} of stage {key}"))?;
                    }
                }
                finish_execution(tx, self, rec, run)
            },
        )
    }
}
