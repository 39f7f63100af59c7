//! The backend-neutral half of `commit`: validate the record, write large artifacts to fsynced
//! temp files (no lock held), and later install them under the backend's write lock.
//!
//! Invariants:
//! - nothing is written before the key, every artifact name and every metric name is valid and
//!   unique (a name cannot be both a file and a folder);
//! - a [`Prepared`] dropped before [`Prepared::install`] removes its temp files; an installed
//!   object's memo is its fsynced temp file's stat (a rename keeps it) and its hash.

use std::collections::HashSet;
use std::path::Path;

use crate::error::{StoreError, StoreLocation};
use crate::objects::{
    hash_bytes, rel_path, validate_key, validate_name, Memo, TempObject, INLINE_MAX,
};
use crate::verify::MemoUpdate;
use crate::{Artifact, StageRecord};

/// An artifact row ready to insert.
pub(crate) struct ArtifactRow<'a> {
    pub(crate) name: &'a str,
    pub(crate) format: &'a str,
    pub(crate) size: u64,
    pub(crate) hash: String,
    /// The bytes of an inline artifact (at most [`INLINE_MAX`]).
    pub(crate) inline: Option<&'a [u8]>,
    /// The object path (`<key>/<name>`) of a file artifact.
    pub(crate) path: Option<String>,
}

/// A validated stage whose object files are written to temp files, waiting for the backend's
/// transaction.
pub(crate) struct Prepared<'a> {
    pub(crate) rows: Vec<ArtifactRow<'a>>,
    /// Temp files with the object path and hash each will be recorded under.
    temps: Vec<(TempObject, String, String)>,
}

/// Check the key, artifact names and metric names of a stage to commit.
pub(crate) fn validate_commit(
    db: &StoreLocation,
    rec: &StageRecord,
    artifacts: &[Artifact],
    metrics: &[(String, f64)],
) -> Result<(), StoreError> {
    let key = &rec.key;
    validate_key(key).map_err(|reason| StoreError::InvalidKey {
        db: db.clone(),
        key: key.clone(),
        reason,
    })?;
    let mut seen = HashSet::new();
    for a in artifacts {
        validate_name(&a.name).map_err(|reason| StoreError::InvalidArtifactName {
            db: db.clone(),
            key: key.clone(),
            name: a.name.clone(),
            reason,
        })?;
        if !seen.insert(a.name.as_str()) {
            return Err(StoreError::Duplicate {
                db: db.clone(),
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
                    db: db.clone(),
                    key: key.clone(),
                    name: a.name.clone(),
                    reason: format!(
                        "artifact {prefix:?} is also given, a name cannot be both file and folder"
                    ),
                });
            }
        }
    }
    let mut seen = HashSet::new();
    for (name, _) in metrics {
        if !seen.insert(name.as_str()) {
            return Err(StoreError::Duplicate {
                db: db.clone(),
                key: key.clone(),
                what: "metric",
                name: name.clone(),
            });
        }
    }
    Ok(())
}

impl<'a> Prepared<'a> {
    /// Validate, hash every artifact and write those larger than [`INLINE_MAX`] to temp files
    /// beside their final paths under `objects`.
    pub(crate) fn write(
        db: &StoreLocation,
        objects: &Path,
        host: &str,
        pid: u32,
        rec: &StageRecord,
        artifacts: &'a [Artifact],
        metrics: &[(String, f64)],
    ) -> Result<Prepared<'a>, StoreError> {
        validate_commit(db, rec, artifacts, metrics)?;
        let key = rec.key.as_str();
        let mut rows = Vec::with_capacity(artifacts.len());
        let mut temps = Vec::new();
        for a in artifacts {
            let hash = hash_bytes(&a.bytes);
            let size = a.bytes.len() as u64;
            if a.bytes.len() > INLINE_MAX {
                let t = TempObject::write(objects, key, &a.name, &a.bytes, host, pid).map_err(
                    |cause| StoreError::Io {
                        db: db.clone(),
                        path: objects.join(key).join(&a.name),
                        context: format!("write object of artifact {:?} of stage {key}", a.name),
                        cause,
                    },
                )?;
                temps.push((t, rel_path(key, &a.name), hash.clone()));
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
        Ok(Prepared { rows, temps })
    }

    /// Rename every temp file onto its final path (fsyncing the directory); returns the memo
    /// of each installed object. Call only under the backend's write lock, just before the rows
    /// are written.
    pub(crate) fn install(
        &mut self,
        db: &StoreLocation,
        key: &str,
    ) -> Result<Vec<MemoUpdate>, StoreError> {
        let mut memos = Vec::with_capacity(self.temps.len());
        for (t, path, hash) in self.temps.iter_mut() {
            t.install().map_err(|cause| StoreError::Io {
                db: db.clone(),
                path: t.final_path.clone(),
                context: format!("install object of stage {key}"),
                cause,
            })?;
            memos.push((
                path.clone(),
                Memo {
                    stat: t.stat,
                    hash: hash.clone(),
                    verified_at: t.stat_at,
                },
            ));
        }
        Ok(memos)
    }
}
