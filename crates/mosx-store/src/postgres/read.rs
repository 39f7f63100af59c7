//! Read-side queries on PostgreSQL (stage records, artifacts, metrics, listings, execution
//! counts), lineage, and `invalidate`.
//!
//! Invariants (as SQLite's): `artifact` never returns bytes that differ from the recorded
//! size/blake3 (file and inline alike); a NULL metric reads as NaN (float8 keeps NaN itself);
//! `list` reports a key as failed only if its latest execution failed and it has no stage row.

use std::collections::HashMap;
use std::path::PathBuf;

use sqlx::Row;

use super::{PgCtx, PgStore};
use crate::error::StoreError;
use crate::objects::{hash_bytes, read_verified, Fault};
use crate::{ArtifactMeta, StageRecord, StageSummary};

impl PgStore {
    pub(super) async fn record_async(&self, key: &str) -> Result<Option<StageRecord>, StoreError> {
        let site = &self.site;
        let mut conn = self.conn().await?;
        let Some(row) = sqlx::query(
            "SELECT kind, name, params, parts, started_at, finished_at, duration_ms, run_id,
                    mosx_version, git_commit, git_dirty, host, device, seed, spec_hash
               FROM stages WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(&mut *conn)
        .await
        .ctx(site, || format!("read stage row {key}"))?
        else {
            return Ok(None);
        };
        let read = || -> Result<_, sqlx::Error> {
            Ok((
                row.try_get::<String, _>(2)?,
                row.try_get::<String, _>(3)?,
                StageRecord {
                    key: key.to_string(),
                    kind: row.try_get(0)?,
                    name: row.try_get(1)?,
                    params: serde_json::Value::Null,
                    parts: serde_json::Value::Null,
                    started_at: row.try_get(4)?,
                    finished_at: row.try_get(5)?,
                    duration_ms: row.try_get(6)?,
                    run_id: row.try_get(7)?,
                    mosx_version: row.try_get(8)?,
                    git_commit: row.try_get(9)?,
                    git_dirty: row.try_get(10)?,
                    host: row.try_get(11)?,
                    device: row.try_get(12)?,
                    seed: row.try_get(13)?,
                    spec_hash: row.try_get(14)?,
                },
            ))
        };
        let (params_s, parts_s, mut rec) = read().ctx(site, || format!("read stage row {key}"))?;
        rec.params = serde_json::from_str(&params_s)
            .map_err(|e| self.json_err("stages", key, "params", e))?;
        rec.parts =
            serde_json::from_str(&parts_s).map_err(|e| self.json_err("stages", key, "parts", e))?;
        Ok(Some(rec))
    }

    pub(super) async fn artifact_async(
        &self,
        key: &str,
        name: &str,
    ) -> Result<Vec<u8>, StoreError> {
        let site = &self.site;
        /// size, hash, inline bytes, object path
        type Row = (i64, String, Option<Vec<u8>>, Option<String>);
        let row: Option<Row> = {
            let mut conn = self.conn().await?;
            sqlx::query_as(
                "SELECT size, hash, inline, path FROM artifacts WHERE key = $1 AND name = $2",
            )
            .bind(key)
            .bind(name)
            .fetch_optional(&mut *conn)
            .await
            .ctx(site, || format!("read artifact {name:?} of stage {key}"))?
        };
        let Some((size, hash, inline, path)) = row else {
            return Err(StoreError::ArtifactNotFound {
                db: site.loc.clone(),
                key: key.into(),
                name: name.into(),
            });
        };
        let size = size.max(0) as u64;
        let mismatch = |path: PathBuf, found: String| StoreError::ObjectMismatch {
            db: site.loc.clone(),
            key: key.into(),
            name: name.into(),
            path,
            expected_size: size,
            expected_hash: hash.clone(),
            found,
        };
        // An inline blob has no path of its own: errors name the store.
        let in_db = || PathBuf::from(site.loc.as_str());
        match (inline, path) {
            (Some(bytes), _) => {
                let h = hash_bytes(&bytes);
                if bytes.len() as u64 != size || h != hash {
                    return Err(mismatch(
                        in_db(),
                        format!("inline blob of {} bytes with blake3 {h}", bytes.len()),
                    ));
                }
                Ok(bytes)
            }
            (None, Some(rel)) => {
                let path = self.objects.join(rel);
                match read_verified(&path, size, &hash) {
                    Ok(bytes) => Ok(bytes),
                    Err(Fault::Missing) => Err(StoreError::ObjectMissing {
                        db: site.loc.clone(),
                        key: key.into(),
                        name: name.into(),
                        path,
                    }),
                    Err(Fault::Mismatch(found)) => Err(mismatch(path, found)),
                }
            }
            (None, None) => Err(mismatch(
                in_db(),
                "a row with neither inline bytes nor a path".into(),
            )),
        }
    }

    pub(super) async fn artifact_path_async(
        &self,
        key: &str,
        name: &str,
    ) -> Result<Option<PathBuf>, StoreError> {
        let mut conn = self.conn().await?;
        let path: Option<Option<String>> =
            sqlx::query_scalar("SELECT path FROM artifacts WHERE key = $1 AND name = $2")
                .bind(key)
                .bind(name)
                .fetch_optional(&mut *conn)
                .await
                .ctx(&self.site, || {
                    format!("read artifact {name:?} of stage {key}")
                })?;
        match path {
            None => Err(StoreError::ArtifactNotFound {
                db: self.site.loc.clone(),
                key: key.into(),
                name: name.into(),
            }),
            Some(p) => Ok(p.map(|rel| self.objects.join(rel))),
        }
    }

    pub(super) async fn artifacts_async(&self, key: &str) -> Result<Vec<ArtifactMeta>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<(String, String, i64, String, Option<String>)> = sqlx::query_as(
            "SELECT name, format, size, hash, path FROM artifacts WHERE key = $1 ORDER BY name",
        )
        .bind(key)
        .fetch_all(&mut *conn)
        .await
        .ctx(&self.site, || format!("list artifacts of stage {key}"))?;
        Ok(rows
            .into_iter()
            .map(|(name, format, size, hash, path)| ArtifactMeta {
                name,
                format,
                size: size.max(0) as u64,
                hash,
                location: path.unwrap_or_else(|| "inline".to_string()),
            })
            .collect())
    }

    pub(super) async fn metrics_async(&self, key: &str) -> Result<Vec<(String, f64)>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<(String, Option<f64>)> =
            sqlx::query_as("SELECT name, value FROM metrics WHERE key = $1 ORDER BY name")
                .bind(key)
                .fetch_all(&mut *conn)
                .await
                .ctx(&self.site, || format!("list metrics of stage {key}"))?;
        Ok(rows
            .into_iter()
            .map(|(n, v)| (n, v.unwrap_or(f64::NAN)))
            .collect())
    }

    pub(super) async fn find_prefix_async(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn().await?;
        sqlx::query_scalar(
            "SELECT key FROM stages WHERE starts_with(key, $1)
             UNION
             SELECT key FROM executions WHERE starts_with(key, $1)
             ORDER BY 1",
        )
        .bind(prefix)
        .fetch_all(&mut *conn)
        .await
        .ctx(&self.site, || format!("find keys with prefix {prefix:?}"))
    }

    pub(super) async fn list_async(
        &self,
        kind: Option<&str>,
        failed_only: bool,
    ) -> Result<Vec<StageSummary>, StoreError> {
        let site = &self.site;
        let mut conn = self.conn().await?;
        let mut out = Vec::new();
        if !failed_only {
            let rows: Vec<(String, String, String, f64, i64)> = sqlx::query_as(
                "SELECT key, kind, name, finished_at, duration_ms FROM stages
                  WHERE $1::text IS NULL OR kind = $1",
            )
            .bind(kind)
            .fetch_all(&mut *conn)
            .await
            .ctx(site, || "list stages".into())?;
            out.extend(
                rows.into_iter()
                    .map(|(key, kind, name, finished_at, duration_ms)| StageSummary {
                        key,
                        kind,
                        name,
                        status: "ok".into(),
                        finished_at,
                        duration_ms,
                        error: None,
                    }),
            );
        }
        type Failed = (
            String,
            Option<String>,
            Option<String>,
            f64,
            Option<f64>,
            Option<String>,
        );
        let rows: Vec<Failed> = sqlx::query_as(
            "SELECT e.key, e.kind, e.name, e.started_at, e.finished_at, e.error FROM executions e
              WHERE e.id = (SELECT MAX(id) FROM executions x WHERE x.key = e.key)
                AND e.status = 'failed'
                AND NOT EXISTS (SELECT 1 FROM stages s WHERE s.key = e.key)
                AND ($1::text IS NULL OR e.kind = $1)",
        )
        .bind(kind)
        .fetch_all(&mut *conn)
        .await
        .ctx(site, || "list failed stages".into())?;
        for (key, kind, name, started, finished, error) in rows {
            let finished = finished.unwrap_or(started);
            out.push(StageSummary {
                key,
                kind: kind.unwrap_or_default(),
                name: name.unwrap_or_default(),
                status: "failed".into(),
                finished_at: finished,
                duration_ms: ((finished - started) * 1000.0).round().max(0.0) as i64,
                error,
            });
        }
        out.sort_by(|a, b| {
            a.finished_at
                .total_cmp(&b.finished_at)
                .then_with(|| a.key.cmp(&b.key))
        });
        Ok(out)
    }

    pub(super) async fn executions_async(&self, key: &str) -> Result<usize, StoreError> {
        let mut conn = self.conn().await?;
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM executions WHERE key = $1 AND status = 'ok'")
                .bind(key)
                .fetch_one(&mut *conn)
                .await
                .ctx(&self.site, || format!("count executions of stage {key}"))?;
        Ok(n.max(0) as usize)
    }

    pub(super) async fn lineage_get_async(
        &self,
        scope: &str,
        node: &str,
    ) -> Result<Option<(String, serde_json::Value)>, StoreError> {
        let mut conn = self.conn().await?;
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT key, parts FROM lineage WHERE scope = $1 AND node = $2")
                .bind(scope)
                .bind(node)
                .fetch_optional(&mut *conn)
                .await
                .ctx(&self.site, || {
                    format!("read lineage of node {node:?} in {scope:?}")
                })?;
        match row {
            None => Ok(None),
            Some((key, parts)) => {
                let parts = serde_json::from_str(&parts).map_err(|e| {
                    self.json_err("lineage", &format!("{scope}/{node}"), "parts", e)
                })?;
                Ok(Some((key, parts)))
            }
        }
    }

    /// Write lineage entries in one statement. With `only_changed`, an entry whose node already
    /// records the same key is left as it is (`lineage_put_many`); otherwise every entry is
    /// written (`lineage_put`). A node given twice keeps its last entry.
    pub(super) async fn lineage_put_many_async(
        &self,
        scope: &str,
        entries: &[(String, String, serde_json::Value)],
        only_changed: bool,
    ) -> Result<(), StoreError> {
        self.writable(|| format!("write {} lineage entries of {scope:?}", entries.len()))?;
        if entries.is_empty() {
            return Ok(());
        }
        let mut last: HashMap<&str, (&str, String)> = HashMap::with_capacity(entries.len());
        for (node, key, parts) in entries {
            last.insert(node, (key, parts.to_string()));
        }
        let (mut nodes, mut keys, mut parts) = (Vec::new(), Vec::new(), Vec::new());
        for (node, (key, p)) in last {
            nodes.push(node);
            keys.push(key);
            parts.push(p);
        }
        // With `only_changed`, a node already recording the same key keeps its row.
        let sql = if only_changed {
            concat!(
                "INSERT INTO lineage (scope, node, key, parts, updated_at)
                 SELECT $1, n, k, p, ",
                db_now!(),
                " FROM UNNEST($2::text[], $3::text[], $4::text[]) AS u(n, k, p)
                 ON CONFLICT (scope, node) DO UPDATE SET key = EXCLUDED.key, parts = EXCLUDED.parts,
                                                         updated_at = EXCLUDED.updated_at
                 WHERE lineage.key <> EXCLUDED.key"
            )
        } else {
            concat!(
                "INSERT INTO lineage (scope, node, key, parts, updated_at)
                 SELECT $1, n, k, p, ",
                db_now!(),
                " FROM UNNEST($2::text[], $3::text[], $4::text[]) AS u(n, k, p)
                 ON CONFLICT (scope, node) DO UPDATE SET key = EXCLUDED.key, parts = EXCLUDED.parts,
                                                         updated_at = EXCLUDED.updated_at"
            )
        };
        let mut conn = self.conn().await?;
        sqlx::query(sql)
            .bind(scope)
            .bind(&nodes)
            .bind(&keys)
            .bind(&parts)
            .execute(&mut *conn)
            .await
            .ctx(&self.site, || {
                format!("write {} lineage entries of {scope:?}", nodes.len())
            })?;
        Ok(())
    }

    /// Delete a stage row; artifacts and metrics go with it (ON DELETE CASCADE).
    pub(super) async fn invalidate_async(&self, key: &str) -> Result<bool, StoreError> {
        self.writable(|| format!("invalidate stage {key}"))?;
        let mut conn = self.conn().await?;
        let n = sqlx::query("DELETE FROM stages WHERE key = $1")
            .bind(key)
            .execute(&mut *conn)
            .await
            .ctx(&self.site, || format!("delete stage {key}"))?
            .rows_affected();
        Ok(n > 0)
    }
}
