//! Cache checks. A key is a hit when its stage row exists and every file artifact's object is
//! present with the recorded size and blake3 hash. Rows (joined with their verification memo,
//! the `object_stat` row of the object path) are read under the connection mutex in one
//! statement per chunk of keys; files are verified after the mutex is released.
//!
//! Invariants:
//! - an object whose current stat (size, mtime_ns, inode, device) equals its settled memo and
//!   whose memo hash equals the artifact row's hash is trusted without being read; any other
//!   object is hashed in full (see `objects.rs` for what the memo can and cannot detect);
//! - memos of objects that were hashed and matched are upserted in one write transaction per
//!   `check`/`check_many` call, and only when there is one to write: a check that trusted every
//!   object writes nothing.

use std::collections::HashMap;

use rusqlite::{params, params_from_iter, Connection};

use super::SqliteStore;
use crate::error::{SqlCtx, StoreError, StoreLocation};
use crate::objects::{Memo, ObjectStat};
use crate::verify::{sort_refs, verify_many, verify_refs, FileRef, MemoUpdate};
use crate::{CacheCheck, MissReason};

/// Keys per `IN (...)` list; far below SQLite's bound-parameter limit.
const CHUNK: usize = 500;

fn read_memo(row: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Memo>> {
    let size: Option<i64> = row.get(5)?;
    let (Some(size), Some(mtime_ns), Some(ino), Some(dev), Some(hash), Some(verified_at)) = (
        size,
        row.get::<_, Option<i64>>(6)?,
        row.get::<_, Option<i64>>(7)?,
        row.get::<_, Option<i64>>(8)?,
        row.get::<_, Option<String>>(9)?,
        row.get::<_, Option<f64>>(10)?,
    ) else {
        return Ok(None);
    };
    Ok(Some(Memo {
        stat: ObjectStat {
            size: size.max(0) as u64,
            mtime_ns,
            // inode and device numbers are u64, stored bit for bit in SQLite's i64.
            ino: ino as u64,
            dev: dev as u64,
        },
        hash,
        verified_at,
    }))
}

/// For each key of `keys` that has a stage row, its file artifacts (possibly none).
pub(super) fn load_file_refs(
    conn: &Connection,
    db: &StoreLocation,
    keys: &[&str],
) -> Result<HashMap<String, Vec<FileRef>>, StoreError> {
    let mut out: HashMap<String, Vec<FileRef>> = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(CHUNK) {
        let marks = vec!["?"; chunk.len()].join(",");
        let sql = format!(
            "SELECT s.key, a.name, a.path, a.size, a.hash,
                    o.size, o.mtime_ns, o.ino, o.dev, o.hash, o.verified_at
               FROM stages s
               LEFT JOIN artifacts a ON a.key = s.key AND a.path IS NOT NULL
               LEFT JOIN object_stat o ON o.path = a.path
              WHERE s.key IN ({marks})"
        );
        let mut stmt = conn
            .prepare_cached(&sql)
            .ctx(db, || "prepare cache check".into())?;
        let mut rows = stmt
            .query(params_from_iter(chunk.iter()))
            .ctx(db, || "run cache check".into())?;
        while let Some(row) = rows.next().ctx(db, || "read cache check row".into())? {
            let key: String = row.get(0).ctx(db, || "read stages.key".into())?;
            let entry = out.entry(key).or_default();
            let name: Option<String> = row.get(1).ctx(db, || "read artifacts.name".into())?;
            if let Some(name) = name {
                let path: String = row
                    .get(2)
                    .ctx(db, || format!("read artifacts.path of {name}"))?;
                let size: i64 = row
                    .get(3)
                    .ctx(db, || format!("read artifacts.size of {name}"))?;
                let hash: String = row
                    .get(4)
                    .ctx(db, || format!("read artifacts.hash of {name}"))?;
                let memo = read_memo(row).ctx(db, || format!("read object_stat row of {path}"))?;
                entry.push(FileRef {
                    name,
                    path,
                    size: size.max(0) as u64,
                    hash,
                    memo,
                });
            }
        }
    }
    sort_refs(&mut out);
    Ok(out)
}

/// Upsert verification memos (inside the caller's transaction).
pub(super) fn record_memos(
    conn: &Connection,
    db: &StoreLocation,
    updates: &[MemoUpdate],
) -> Result<(), StoreError> {
    if updates.is_empty() {
        return Ok(());
    }
    let mut stmt = conn
        .prepare_cached(
            "INSERT OR REPLACE INTO object_stat (path, size, mtime_ns, ino, dev, hash, verified_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .ctx(db, || "prepare object_stat upsert".into())?;
    for (path, m) in updates {
        stmt.execute(params![
            path,
            m.stat.size as i64,
            m.stat.mtime_ns,
            m.stat.ino as i64,
            m.stat.dev as i64,
            m.hash,
            m.verified_at
        ])
        .ctx(db, || format!("record object_stat of {path}"))?;
    }
    Ok(())
}

impl SqliteStore {
    pub(super) fn check_impl(&self, key: &str) -> Result<CacheCheck, StoreError> {
        let refs = {
            let conn = self.conn();
            load_file_refs(&conn, &self.loc, &[key])?
        };
        let mut updates = Vec::new();
        let c = match refs.get(key) {
            None => CacheCheck::Miss(MissReason::NotFound),
            Some(files) => verify_refs(&self.objects, files, &mut updates),
        };
        self.store_memos(&updates)?;
        Ok(c)
    }

    pub(super) fn check_many_impl(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, CacheCheck>, StoreError> {
        let keys_ref: Vec<&str> = keys.iter().map(String::as_str).collect();
        let refs = {
            let conn = self.conn();
            load_file_refs(&conn, &self.loc, &keys_ref)?
        };
        let mut updates = Vec::new();
        let out = verify_many(&self.objects, keys, &refs, &mut updates);
        self.store_memos(&updates)?;
        Ok(out)
    }

    /// Record memos in their own write transaction; nothing at all when there are none or the
    /// store is read-only (the objects were hashed in full, so the answer is the same).
    fn store_memos(&self, updates: &[MemoUpdate]) -> Result<(), StoreError> {
        if updates.is_empty() || self.read_only {
            return Ok(());
        }
        self.write_tx(
            || {
                format!(
                    "record the verification memo of {} object(s)",
                    updates.len()
                )
            },
            |tx| record_memos(tx, &self.loc, updates),
        )
    }
}
