//! Read-side queries: stage records, artifacts, metrics, listings, execution counts.
//!
//! Invariants: `artifact` never returns bytes that differ from the recorded size/blake3 (file
//! and inline alike); metrics stored as NULL are NaN; `list` reports a key as failed only if its
//! latest execution failed and it has no stage row.

use std::path::PathBuf;

use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::error::{SqlCtx, StoreError};
use crate::objects::{hash_bytes, read_verified, Fault};
use crate::{ArtifactMeta, StageRecord, StageSummary};

/// Columns of an artifact row needed to produce its bytes.
struct ArtifactRow {
    size: u64,
    hash: String,
    inline: Option<Vec<u8>>,
    path: Option<String>,
}

impl SqliteStore {
    pub(super) fn record_impl(&self, key: &str) -> Result<Option<StageRecord>, StoreError> {
        type Raw = (
            String,
            String,
            String,
            String,
            f64,
            f64,
            i64,
            i64,
            String,
            Option<String>,
            bool,
            String,
            String,
            Option<i64>,
            String,
        );
        let raw: Option<Raw> = self
            .conn()
            .query_row(
                "SELECT kind, name, params, parts, started_at, finished_at, duration_ms, run_id, mosx_version,
                        git_commit, git_dirty, host, device, seed, spec_hash
                   FROM stages WHERE key = ?1",
                params![key],
                |r| {
                    Ok((
                        r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?,
                        r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?, r.get(12)?, r.get(13)?, r.get(14)?,
                    ))
                },
            )
            .optional()
            .ctx(&self.loc, || format!("read stage row {key}"))?;
        let Some((
            kind,
            name,
            params_s,
            parts_s,
            started_at,
            finished_at,
            duration_ms,
            run_id,
            mosx_version,
            git_commit,
            git_dirty,
            host,
            device,
            seed,
            spec_hash,
        )) = raw
        else {
            return Ok(None);
        };
        let params = serde_json::from_str(&params_s)
            .map_err(|e| self.json_err("stages", key, "params", e))?;
        let parts =
            serde_json::from_str(&parts_s).map_err(|e| self.json_err("stages", key, "parts", e))?;
        Ok(Some(StageRecord {
            key: key.to_string(),
            kind,
            name,
            params,
            parts,
            started_at,
            finished_at,
            duration_ms,
            run_id,
            mosx_version,
            git_commit,
            git_dirty,
            host,
            device,
            seed,
            spec_hash,
        }))
    }

    fn artifact_row(&self, key: &str, name: &str) -> Result<ArtifactRow, StoreError> {
        self.conn()
            .query_row(
                "SELECT size, hash, inline, path FROM artifacts WHERE key = ?1 AND name = ?2",
                params![key, name],
                |r| {
                    Ok(ArtifactRow {
                        size: r.get::<_, i64>(0)?.max(0) as u64,
                        hash: r.get(1)?,
                        inline: r.get(2)?,
                        path: r.get(3)?,
                    })
                },
            )
            .optional()
            .ctx(&self.loc, || {
                format!("read artifact {name:?} of stage {key}")
            })?
            .ok_or_else(|| StoreError::ArtifactNotFound {
                db: self.loc.clone(),
                key: key.into(),
                name: name.into(),
            })
    }

    pub(super) fn artifact_impl(&self, key: &str, name: &str) -> Result<Vec<u8>, StoreError> {
        let row = self.artifact_row(key, name)?;
        let mismatch = |path: PathBuf, found: String| StoreError::ObjectMismatch {
            db: self.loc.clone(),
            key: key.into(),
            name: name.into(),
            path,
            expected_size: row.size,
            expected_hash: row.hash.clone(),
            found,
        };
        match (&row.inline, &row.path) {
            (Some(bytes), _) => {
                let h = hash_bytes(bytes);
                if bytes.len() as u64 != row.size || h != row.hash {
                    return Err(mismatch(
                        self.db.clone(),
                        format!("inline blob of {} bytes with blake3 {h}", bytes.len()),
                    ));
                }
                Ok(bytes.clone())
            }
            (None, Some(rel)) => {
                let path = self.objects.join(rel);
                match read_verified(&path, row.size, &row.hash) {
                    Ok(bytes) => Ok(bytes),
                    Err(Fault::Missing) => Err(StoreError::ObjectMissing {
                        db: self.loc.clone(),
                        key: key.into(),
                        name: name.into(),
                        path,
                    }),
                    Err(Fault::Mismatch(found)) => Err(mismatch(path, found)),
                }
            }
            (None, None) => Err(mismatch(
                self.db.clone(),
                "a row with neither inline bytes nor a path".into(),
            )),
        }
    }

    pub(super) fn artifact_path_impl(
        &self,
        key: &str,
        name: &str,
    ) -> Result<Option<PathBuf>, StoreError> {
        let path: Option<Option<String>> = self
            .conn()
            .query_row(
                "SELECT path FROM artifacts WHERE key = ?1 AND name = ?2",
                params![key, name],
                |r| r.get(0),
            )
            .optional()
            .ctx(&self.loc, || {
                format!("read artifact {name:?} of stage {key}")
            })?;
        match path {
            None => Err(StoreError::ArtifactNotFound {
                db: self.loc.clone(),
                key: key.into(),
                name: name.into(),
            }),
            Some(p) => Ok(p.map(|rel| self.objects.join(rel))),
        }
    }

    pub(super) fn artifacts_impl(&self, key: &str) -> Result<Vec<ArtifactMeta>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT name, format, size, hash, path FROM artifacts WHERE key = ?1 ORDER BY name",
            )
            .ctx(&self.loc, || format!("list artifacts of stage {key}"))?;
        let rows = stmt
            .query_map(params![key], |r| {
                Ok(ArtifactMeta {
                    name: r.get(0)?,
                    format: r.get(1)?,
                    size: r.get::<_, i64>(2)?.max(0) as u64,
                    hash: r.get(3)?,
                    location: r
                        .get::<_, Option<String>>(4)?
                        .unwrap_or_else(|| "inline".to_string()),
                })
            })
            .ctx(&self.loc, || format!("list artifacts of stage {key}"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .ctx(&self.loc, || format!("read artifact rows of stage {key}"))
    }

    pub(super) fn metrics_impl(&self, key: &str) -> Result<Vec<(String, f64)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT name, value FROM metrics WHERE key = ?1 ORDER BY name")
            .ctx(&self.loc, || format!("list metrics of stage {key}"))?;
        let rows = stmt
            .query_map(params![key], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<f64>>(1)?.unwrap_or(f64::NAN),
                ))
            })
            .ctx(&self.loc, || format!("list metrics of stage {key}"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .ctx(&self.loc, || format!("read metric rows of stage {key}"))
    }

    pub(super) fn find_prefix_impl(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT key FROM stages WHERE substr(key, 1, length(?1)) = ?1
                 UNION
                 SELECT key FROM executions WHERE substr(key, 1, length(?1)) = ?1
                 ORDER BY 1",
            )
            .ctx(&self.loc, || format!("find keys with prefix {prefix:?}"))?;
        let rows = stmt
            .query_map(params![prefix], |r| r.get(0))
            .ctx(&self.loc, || format!("find keys with prefix {prefix:?}"))?;
        rows.collect::<Result<Vec<String>, _>>()
            .ctx(&self.loc, || format!("read keys with prefix {prefix:?}"))
    }

    pub(super) fn list_impl(
        &self,
        kind: Option<&str>,
        failed_only: bool,
    ) -> Result<Vec<StageSummary>, StoreError> {
        let conn = self.conn();
        let mut out = Vec::new();
        if !failed_only {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT key, kind, name, finished_at, duration_ms FROM stages
                      WHERE ?1 IS NULL OR kind = ?1",
                )
                .ctx(&self.loc, || "list stages".into())?;
            let rows = stmt
                .query_map(params![kind], |r| {
                    Ok(StageSummary {
                        key: r.get(0)?,
                        kind: r.get(1)?,
                        name: r.get(2)?,
                        status: "ok".into(),
                        finished_at: r.get(3)?,
                        duration_ms: r.get(4)?,
                        error: None,
                    })
                })
                .ctx(&self.loc, || "list stages".into())?;
            for row in rows {
                out.push(row.ctx(&self.loc, || "read stage list row".into())?);
            }
        }
        let mut stmt = conn
            .prepare_cached(
                "SELECT e.key, e.kind, e.name, e.started_at, e.finished_at, e.error FROM executions e
                  WHERE e.id = (SELECT MAX(id) FROM executions x WHERE x.key = e.key)
                    AND e.status = 'failed'
                    AND NOT EXISTS (SELECT 1 FROM stages s WHERE s.key = e.key)
                    AND (?1 IS NULL OR e.kind = ?1)",
            )
            .ctx(&self.loc, || "list failed stages".into())?;
        let rows = stmt
            .query_map(params![kind], |r| {
                let started: f64 = r.get(3)?;
                let finished: Option<f64> = r.get(4)?;
                let finished = finished.unwrap_or(started);
                Ok(StageSummary {
                    key: r.get(0)?,
                    kind: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    name: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    status: "failed".into(),
                    finished_at: finished,
                    duration_ms: ((finished - started) * 1000.0).round().max(0.0) as i64,
                    error: r.get(5)?,
                })
            })
            .ctx(&self.loc, || "list failed stages".into())?;
        for row in rows {
            out.push(row.ctx(&self.loc, || "read failed stage row".into())?);
        }
        out.sort_by(|a, b| {
            a.finished_at
                .total_cmp(&b.finished_at)
                .then_with(|| a.key.cmp(&b.key))
        });
        Ok(out)
    }

    pub(super) fn executions_impl(&self, key: &str) -> Result<usize, StoreError> {
        let n: i64 = self
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM executions WHERE key = ?1 AND status = 'ok'",
                params![key],
                |r| r.get(0),
            )
            .ctx(&self.loc, || format!("count executions of stage {key}"))?;
        Ok(n.max(0) as usize)
    }
}
