//! Rows to files: the backend-neutral half of a cache check. A backend loads, for each key with
//! a stage row, its file artifacts joined with their verification memo ([`FileRef`]); this module
//! decides hit or miss from the files and collects the memos worth recording.
//!
//! Invariants: the first failing artifact (in name order) decides the miss reason; a memo is
//! collected only for an object that was hashed, matched, did not change while it was read and
//! is settled (an unsettled memo could never vouch for the file, so writing it is wasted).

use std::collections::HashMap;
use std::path::Path;

use crate::objects::{check_file, Fault, Memo, Verified};
use crate::{CacheCheck, MissReason};

/// One file artifact of a stored stage.
#[derive(Debug, Clone)]
pub(crate) struct FileRef {
    pub(crate) name: String,
    /// Object path relative to the objects dir (`<key>/<name>`).
    pub(crate) path: String,
    pub(crate) size: u64,
    pub(crate) hash: String,
    /// The verification memo of `path`, if one is recorded.
    pub(crate) memo: Option<Memo>,
}

/// A memo to record: (object path relative to the objects dir, memo).
pub(crate) type MemoUpdate = (String, Memo);

/// Sort each stage's file refs by artifact name (the order that decides the miss reason).
pub(crate) fn sort_refs(refs: &mut HashMap<String, Vec<FileRef>>) {
    for r in refs.values_mut() {
        r.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

/// Verify the object files of one stage. Memos of objects that had to be hashed and matched are
/// appended to `updates`.
pub(crate) fn verify_refs(
    objects: &Path,
    refs: &[FileRef],
    updates: &mut Vec<MemoUpdate>,
) -> CacheCheck {
    for r in refs {
        match check_file(&objects.join(&r.path), r.size, &r.hash, r.memo.as_ref()) {
            Ok(Verified::Trusted) => {}
            Ok(Verified::Hashed(memo)) => {
                if let Some(m) = memo.filter(Memo::settled) {
                    updates.push((r.path.clone(), m));
                }
            }
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

/// The answers of a batched check: every input key (duplicates answered once), a miss
/// `NotFound` for keys without a stage row.
pub(crate) fn verify_many(
    objects: &Path,
    keys: &[String],
    refs: &HashMap<String, Vec<FileRef>>,
    updates: &mut Vec<MemoUpdate>,
) -> HashMap<String, CacheCheck> {
    let mut out = HashMap::with_capacity(keys.len());
    for key in keys {
        if out.contains_key(key) {
            continue;
        }
        let c = match refs.get(key) {
            None => CacheCheck::Miss(MissReason::NotFound),
            Some(files) => verify_refs(objects, files, updates),
        };
        out.insert(key.clone(), c);
    }
    out
}
