//! The file half of `gc` and `recover`, shared by both backends: walk the objects dir against
//! the set of referenced object paths, remove stale temp files and unheld scratch folders.
//!
//! Invariants (the backend guarantees the row set cannot change during the walk, see each
//! backend's `gc`):
//! - a file is kept iff an artifact row's `path` names it (`<key>/<name>`, relative);
//! - a temp file (`.tmp.<host>.<pid>.<nonce>`) is removed only when its writer is on this host
//!   and dead, or it is older than [`TEMP_MAX_AGE`] whoever wrote it;
//! - a scratch folder `.work/<key>` is removed only when no live lease holds `<key>`, and never
//!   by `recover` (the stage resumes from it);
//! - with `dry_run` nothing is removed and the same counts are reported.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::error::{StoreError, StoreLocation};
use crate::liveness::pid_alive;
use crate::objects::{host_tag, parse_temp_name, TEMP_PREFIX, WORK_DIR};
use crate::GcReport;

/// Temp files older than this are stale whoever wrote them.
pub(crate) const TEMP_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// What a walk of the objects dir found and did.
pub(crate) struct Swept {
    pub(crate) report: GcReport,
    /// Referenced object files found on disk (paths relative to the objects dir).
    pub(crate) kept: HashSet<String>,
}

struct Walk<'a> {
    db: &'a StoreLocation,
    referenced: &'a HashSet<String>,
    kept: HashSet<String>,
    my_host_tag: String,
    dry_run: bool,
    report: GcReport,
}

fn io_err(db: &StoreLocation, path: &Path, what: &str, cause: io::Error) -> StoreError {
    StoreError::Io {
        db: db.clone(),
        path: path.to_path_buf(),
        context: what.to_string(),
        cause,
    }
}

impl Walk<'_> {
    fn temp_is_stale(&self, file_name: &str, meta: &fs::Metadata) -> bool {
        let old = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age > TEMP_MAX_AGE);
        let writer_dead = match parse_temp_name(file_name) {
            Some((host, pid)) => host == self.my_host_tag && !pid_alive(pid),
            None => false,
        };
        old || writer_dead
    }

    fn remove_file(&mut self, path: &Path, size: u64) -> Result<(), StoreError> {
        if !self.dry_run {
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io_err(self.db, path, "gc: remove unreferenced object", e)),
            }
        }
        self.report.files_removed += 1;
        self.report.bytes_removed += size;
        Ok(())
    }

    /// Visit `dir` (object path `rel`, "" for the root); true if it is empty afterwards.
    fn dir(&mut self, dir: &Path, rel: &str) -> Result<bool, StoreError> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(io_err(self.db, dir, "gc: list directory", e)),
        };
        let mut empty = true;
        for entry in entries {
            let entry = entry.map_err(|e| io_err(self.db, dir, "gc: list directory", e))?;
            let path = entry.path();
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(self.db, &path, "gc: stat", e)),
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            if rel.is_empty() && name == WORK_DIR {
                // Scratch folders are handled after the walk, by lease.
                empty = false;
                continue;
            }
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if meta.is_dir() {
                if self.dir(&path, &child_rel)? {
                    if !self.dry_run {
                        // A concurrent writer may have just created a file in it: ignore failure.
                        let _ = fs::remove_dir(&path);
                    }
                } else {
                    empty = false;
                }
                continue;
            }
            let remove = if name.starts_with(TEMP_PREFIX) {
                self.temp_is_stale(&name, &meta)
            } else {
                !self.referenced.contains(&child_rel)
            };
            if remove {
                self.remove_file(&path, meta.len())?;
                if self.dry_run {
                    empty = false;
                }
            } else {
                if !name.starts_with(TEMP_PREFIX) {
                    self.kept.insert(child_rel);
                }
                empty = false;
            }
        }
        Ok(empty)
    }
}

/// Remove (or count) every file under `objects` that no row refers to, stale temp files and
/// empty folders; `.work/` is skipped.
pub(crate) fn sweep_objects(
    db: &StoreLocation,
    objects: &Path,
    referenced: &HashSet<String>,
    my_host: &str,
    dry_run: bool,
) -> Result<Swept, StoreError> {
    let mut walk = Walk {
        db,
        referenced,
        kept: HashSet::new(),
        my_host_tag: host_tag(my_host),
        dry_run,
        report: GcReport::default(),
    };
    walk.dir(objects, "")?;
    Ok(Swept {
        report: walk.report,
        kept: walk.kept,
    })
}

/// Remove (or count) the scratch folders `.work/<key>` of keys not in `live`.
pub(crate) fn sweep_work_dirs(
    db: &StoreLocation,
    objects: &Path,
    live: &HashSet<String>,
    dry_run: bool,
    report: &mut GcReport,
) -> Result<(), StoreError> {
    let Ok(entries) = fs::read_dir(objects.join(WORK_DIR)) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let key = entry.file_name().to_string_lossy().into_owned();
        if live.contains(&key) {
            continue;
        }
        let (files, bytes) = dir_size(&entry.path());
        report.files_removed += files;
        report.bytes_removed += bytes;
        if !dry_run {
            fs::remove_dir_all(entry.path())
                .map_err(|e| io_err(db, &entry.path(), "gc: remove a stale work folder", e))?;
        }
    }
    Ok(())
}

/// Number of files and bytes under `dir` (best effort).
fn dir_size(dir: &Path) -> (usize, u64) {
    let mut acc = (0, 0);
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => {
                    let (f, b) = dir_size(&e.path());
                    acc.0 += f;
                    acc.1 += b;
                }
                Ok(m) => {
                    acc.0 += 1;
                    acc.1 += m.len();
                }
                Err(_) => {}
            }
        }
    }
    acc
}

/// Remove the temp object files under `objects` whose writer is on this host and dead (what
/// `recover` does after a crash); `.work/` is left alone. Returns (files, bytes) removed.
pub(crate) fn remove_dead_temps(
    db: &StoreLocation,
    objects: &Path,
    my_host: &str,
) -> Result<(usize, u64), StoreError> {
    remove_dead_temps_in(db, objects, &host_tag(my_host), true)
}

fn remove_dead_temps_in(
    db: &StoreLocation,
    dir: &Path,
    tag: &str,
    top: bool,
) -> Result<(usize, u64), StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(io_err(db, dir, "list objects", e)),
    };
    let (mut files, mut bytes) = (0, 0);
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(meta) = fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if meta.is_dir() {
            if top && name == WORK_DIR {
                continue;
            }
            let (f, b) = remove_dead_temps_in(db, &entry.path(), tag, false)?;
            files += f;
            bytes += b;
            continue;
        }
        if !name.starts_with(TEMP_PREFIX) {
            continue;
        }
        let dead = matches!(parse_temp_name(&name), Some((h, pid)) if h == tag && !pid_alive(pid));
        if dead {
            match fs::remove_file(entry.path()) {
                Ok(()) => {
                    files += 1;
                    bytes += meta.len();
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(db, &entry.path(), "remove a dead temp object", e)),
            }
        }
    }
    Ok((files, bytes))
}
