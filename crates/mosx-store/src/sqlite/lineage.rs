//! Lineage: the last key seen for a named node of a spec (scope), with its fingerprint parts,
//! so `--explain` can diff what changed. One row per (scope, node), overwritten on each put.

use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::error::{SqlCtx, StoreError};
use crate::liveness::now;

impl SqliteStore {
    pub(super) fn lineage_get_impl(
        &self,
        scope: &str,
        node: &str,
    ) -> Result<Option<(String, serde_json::Value)>, StoreError> {
        let row: Option<(String, String)> = self
            .conn()
            .query_row(
                "SELECT key, parts FROM lineage WHERE scope = ?1 AND node = ?2",
                params![scope, node],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .ctx(&self.loc, || {
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

    pub(super) fn lineage_put_impl(
        &self,
        scope: &str,
        node: &str,
        key: &str,
        parts: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO lineage (scope, node, key, parts, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (scope, node) DO UPDATE SET key = excluded.key, parts = excluded.parts,
                                                          updated_at = excluded.updated_at",
                params![scope, node, key, parts.to_string(), now()],
            )
            .ctx(&self.loc, || format!("write lineage of node {node:?} in {scope:?}"))?;
        Ok(())
    }
}

impl SqliteStore {
    pub(super) fn lineage_put_many_impl(
        &self,
        scope: &str,
        entries: &[(String, String, serde_json::Value)],
    ) -> Result<(), StoreError> {
        let t = now();
        self.write_tx(
            || format!("write {} lineage entries of {scope:?}", entries.len()),
            |tx| {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO lineage (scope, node, key, parts, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (scope, node) DO UPDATE SET key = excluded.key, parts = excluded.parts,
                                                                  updated_at = excluded.updated_at
                         WHERE lineage.key <> excluded.key",
                    )
                    .ctx(&self.loc, || "prepare lineage insert".to_string())?;
                for (node, key, parts) in entries {
                    stmt.execute(params![scope, node, key, parts.to_string(), t])
                        .ctx(&self.loc, || format!("write lineage of node {node:?} in {scope:?}"))?;
                }
                Ok(())
            },
        )
    }

    /// Delete a stage row; artifacts and metrics go with it (ON DELETE CASCADE).
    pub(super) fn invalidate_impl(&self, key: &str) -> Result<bool, StoreError> {
        self.write_tx(
            || format!("invalidate stage {key}"),
            |tx| {
                let n = tx
                    .execute("DELETE FROM stages WHERE key = ?1", params![key])
                    .ctx(&self.loc, || format!("delete stage {key}"))?;
                Ok(n > 0)
            },
        )
    }
}
