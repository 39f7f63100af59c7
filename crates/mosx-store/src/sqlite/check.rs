//! Cache checks. A key is a hit when its stage row exists and every file artifact's object is
//! present with the recorded size and blake3 hash. Rows are read under the connection mutex in
//! one statement per chunk of keys; files are verified after the mutex is released.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{params_from_iter, Connection};

use super::SqliteStore;
use crate::error::{SqlCtx, StoreError};
use crate::objects::{verify_file, Fault};
use crate::{CacheCheck, MissReason};

/// Keys per `IN (...)` list; far below SQLite's bound-parameter limit.
const CHUNK: usize = 500;

/// One file artifact of a stored stage.
#[derive(Debug, Clone)]
pub(super) struct FileRef {
    pub(super) name: String,
    pub(super) path: String,
    pub(super) size: u64,
    pub(super) hash: String,
}

/// For each key of `keys` that has a stage row, its file artifacts (possibly none).
pub(super) fn load_file_refs(
    conn: &Connection,
    db: &Path,
    keys: &[&str],
) -> Result<HashMap<String, Vec<FileRef>>, StoreError> {
    let mut out: HashMap<String, Vec<FileRef>> = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(CHUNK) {
        let marks = vec!["?"; chunk.len()].join(",");
        let sql = format!(
            "SELECT s.key, a.name, a.path, a.size, a.hash
               FROM stages s LEFT JOIN artifacts a ON a.key = s.key AND a.path IS NOT NULL
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
                entry.push(FileRef {
                    name,
                    path,
                    size: size.max(0) as u64,
                    hash,
                });
            }
        }
    }
    for refs in out.values_mut() {
        refs.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(out)
}

/// Verify the object files of one stage; the first failing artifact (by name) decides.
pub(super) fn verify_refs(objects: &Path, refs: &[FileRef]) -> CacheCheck {
    for r in refs {
        match verify_file(&objects.join(&r.path), r.size, &r.hash) {
            Ok(()) => {}
            Err(Fault::Missing) => {
                return CacheCheck::Miss(MissReason::ObjectMissing {
                    artifact: r.name.clone(),
                })
            }
            Err(Fault::Mismatch(_)) => {
                return CacheCheck::Miss(MissReason::ObjectMismatch {
                    artifact: r.name.clone(),
                })
            }
        }
    }
    CacheCheck::Hit
}

impl SqliteStore {
    pub(super) fn check_impl(&self, key: &str) -> Result<CacheCheck, StoreError> {
        let refs = {
            let conn = self.conn();
            load_file_refs(&conn, &self.db, &[key])?
        };
        Ok(match refs.get(key) {
            None => CacheCheck::Miss(MissReason::NotFound),
            Some(files) => verify_refs(&self.objects, files),
        })
    }

    pub(super) fn check_many_impl(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, CacheCheck>, StoreError> {
        let keys_ref: Vec<&str> = keys.iter().map(String::as_str).collect();
        let refs = {
            let conn = self.conn();
            load_file_refs(&conn, &self.db, &keys_ref)?
        };
        let mut out = HashMap::with_capacity(keys.len());
        for key in keys {
            let c = match refs.get(key) {
                None => CacheCheck::Miss(MissReason::NotFound),
                Some(files) => verify_refs(&self.objects, files),
            };
            out.insert(key.clone(), c);
        }
        Ok(out)
    }
}
