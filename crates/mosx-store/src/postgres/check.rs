//! Cache checks on PostgreSQL. The rows of any number of keys (stage, file artifacts, their
//! verification memos) come back from one statement (`key = ANY($1)`: one round trip for a
//! 1,001-stage plan); files are verified by the shared `verify` module; the memos worth keeping
//! are upserted in one statement (arrays unnested), and only when there is one to write.

use std::collections::HashMap;

use sqlx::{PgConnection, Row};

use super::{PgCtx, PgStore, Site};
use crate::error::StoreError;
use crate::objects::{Memo, ObjectStat};
use crate::verify::{sort_refs, verify_many, verify_refs, FileRef, MemoUpdate};
use crate::{CacheCheck, MissReason};

/// For each key of `keys` that has a stage row, its file artifacts (possibly none).
pub(super) async fn load_file_refs(
    conn: &mut PgConnection,
    site: &Site,
    keys: &[&str],
) -> Result<HashMap<String, Vec<FileRef>>, StoreError> {
    let rows = sqlx::query(
        "SELECT s.key, a.name, a.path, a.size, a.hash,
                o.size AS o_size, o.mtime_ns, o.ino, o.dev, o.hash AS o_hash, o.verified_at
           FROM stages s
           LEFT JOIN artifacts a ON a.key = s.key AND a.path IS NOT NULL
           LEFT JOIN object_stat o ON o.path = a.path
          WHERE s.key = ANY($1)",
    )
    .bind(keys)
    .fetch_all(conn)
    .await
    .ctx(site, || format!("run cache check of {} key(s)", keys.len()))?;
    let mut out: HashMap<String, Vec<FileRef>> = HashMap::with_capacity(keys.len());
    for row in &rows {
        let read = || -> Result<(String, Option<FileRef>), sqlx::Error> {
            let key: String = row.try_get(0)?;
            let Some(name) = row.try_get::<Option<String>, _>(1)? else {
                return Ok((key, None));
            };
            let memo = match (
                row.try_get::<Option<i64>, _>(5)?,
                row.try_get::<Option<i64>, _>(6)?,
                row.try_get::<Option<i64>, _>(7)?,
                row.try_get::<Option<i64>, _>(8)?,
                row.try_get::<Option<String>, _>(9)?,
                row.try_get::<Option<f64>, _>(10)?,
            ) {
                (Some(size), Some(mtime_ns), Some(ino), Some(dev), Some(hash), Some(at)) => {
                    Some(Memo {
                        stat: ObjectStat {
                            size: size.max(0) as u64,
                            mtime_ns,
                            // inode and device numbers are u64, stored bit for bit in BIGINT.
                            ino: ino as u64,
                            dev: dev as u64,
                        },
                        hash,
                        verified_at: at,
                    })
                }
                _ => None,
            };
            let file = FileRef {
                name,
                path: row.try_get(2)?,
                size: row.try_get::<i64, _>(3)?.max(0) as u64,
                hash: row.try_get(4)?,
                memo,
            };
            Ok((key, Some(file)))
        };
        let (key, file) = read().ctx(site, || "read a cache check row".into())?;
        let entry = out.entry(key).or_default();
        entry.extend(file);
    }
    sort_refs(&mut out);
    Ok(out)
}

/// Upsert verification memos (one statement; a path given twice keeps its last memo).
pub(super) async fn record_memos(
    conn: &mut PgConnection,
    site: &Site,
    updates: &[MemoUpdate],
) -> Result<(), StoreError> {
    if updates.is_empty() {
        return Ok(());
    }
    let mut last: HashMap<&str, &Memo> = HashMap::with_capacity(updates.len());
    for (path, m) in updates {
        last.insert(path, m);
    }
    let (mut paths, mut sizes, mut mtimes, mut inos, mut devs, mut hashes, mut ats) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for (path, m) in last {
        paths.push(path);
        sizes.push(m.stat.size as i64);
        mtimes.push(m.stat.mtime_ns);
        inos.push(m.stat.ino as i64);
        devs.push(m.stat.dev as i64);
        hashes.push(m.hash.as_str());
        ats.push(m.verified_at);
    }
    sqlx::query(
        "INSERT INTO object_stat (path, size, mtime_ns, ino, dev, hash, verified_at)
         SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[],
                              $6::text[], $7::float8[])
         ON CONFLICT (path) DO UPDATE SET size = EXCLUDED.size, mtime_ns = EXCLUDED.mtime_ns,
             ino = EXCLUDED.ino, dev = EXCLUDED.dev, hash = EXCLUDED.hash,
             verified_at = EXCLUDED.verified_at",
    )
    .bind(&paths)
    .bind(&sizes)
    .bind(&mtimes)
    .bind(&inos)
    .bind(&devs)
    .bind(&hashes)
    .bind(&ats)
    .execute(conn)
    .await
    .ctx(site, || {
        format!("record the verification memo of {} object(s)", paths.len())
    })?;
    Ok(())
}

impl PgStore {
    pub(super) async fn check_async(&self, key: &str) -> Result<CacheCheck, StoreError> {
        let refs = {
            let mut conn = self.conn().await?;
            load_file_refs(&mut conn, &self.site, &[key]).await?
        };
        let mut updates = Vec::new();
        let c = match refs.get(key) {
            None => CacheCheck::Miss(MissReason::NotFound),
            Some(files) => verify_refs(&self.objects, files, &mut updates),
        };
        self.store_memos(&updates).await?;
        Ok(c)
    }

    pub(super) async fn check_many_async(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, CacheCheck>, StoreError> {
        let keys_ref: Vec<&str> = keys.iter().map(String::as_str).collect();
        let refs = {
            let mut conn = self.conn().await?;
            load_file_refs(&mut conn, &self.site, &keys_ref).await?
        };
        let mut updates = Vec::new();
        let out = verify_many(&self.objects, keys, &refs, &mut updates);
        self.store_memos(&updates).await?;
        Ok(out)
    }

    /// Record memos (autocommit); nothing at all when there are none or the store is read-only
    /// (the objects were hashed in full, so the answer is the same).
    async fn store_memos(&self, updates: &[MemoUpdate]) -> Result<(), StoreError> {
        if updates.is_empty() || self.read_only {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        record_memos(&mut conn, &self.site, updates).await
    }
}
