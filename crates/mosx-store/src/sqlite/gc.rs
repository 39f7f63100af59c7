//! Garbage collection of the objects dir and of dead leases.
//!
//! Invariants: the scan runs inside a `BEGIN IMMEDIATE` transaction (commit renames objects into
//! place only under that same lock), so a file is judged against a row set no commit can be
//! changing; a file is kept iff an artifact row's `path` names it; temp files are removed only
//! when their writer (same host) is dead or they are older than [`TEMP_MAX_AGE`]; a lease is
//! cleared only when its holder is dead by the liveness rule, and its running execution is marked
//! failed. With `dry_run` nothing is changed and the same counts are reported. After the scan,
//! every `object_stat` (verification memo) row whose path is not a kept object file is deleted:
//! the rows of files gc removed and of files that no longer exist.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use rusqlite::{params, TransactionBehavior};

use super::leases::fail_running;
use super::SqliteStore;
use crate::error::{SqlCtx, StoreError};
use crate::liveness::{holder_alive, now, pid_alive};
use crate::objects::{host_tag, parse_temp_name, TEMP_PREFIX, WORK_DIR};
use crate::GcReport;

/// Temp files older than this are stale whoever wrote them.
const TEMP_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

struct Walk<'a> {
    store: &'a SqliteStore,
    referenced: HashSet<String>,
    /// Referenced object files found on disk (paths relative to the objects dir).
    kept: HashSet<String>,
    my_host_tag: String,
    dry_run: bool,
    report: GcReport,
}

impl Walk<'_> {
    fn io(&self, path: &Path, what: &str, cause: io::Error) -> StoreError {
        self.store.io_err(path, format!("gc: {what}"), cause)
    }

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
                Err(e) => return Err(self.io(path, "remove unreferenced object", e)),
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
            Err(e) => return Err(self.io(dir, "list directory", e)),
        };
        let mut empty = true;
        for entry in entries {
            let entry = entry.map_err(|e| self.io(dir, "list directory", e))?;
            let path = entry.path();
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.io(&path, "stat", e)),
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

impl SqliteStore {
    pub(super) fn gc_impl(&self, dry_run: bool) -> Result<GcReport, StoreError> {
        let mut conn = self.conn();
        let behavior = if dry_run {
            TransactionBehavior::Deferred
        } else {
            TransactionBehavior::Immediate
        };
        let tx = conn
            .transaction_with_behavior(behavior)
            .ctx(&self.db, || "gc: begin transaction".into())?;
        let now = now();

        // Dead leases.
        let leases: Vec<(String, i64, i64, String, f64, bool)> = {
            let mut stmt = tx
                .prepare(
                    "SELECT l.key, l.run_id, l.pid, l.host, l.heartbeat_at, r.finished_at IS NOT NULL
                       FROM leases l LEFT JOIN runs r ON r.id = l.run_id",
                )
                .ctx(&self.db, || "gc: list leases".into())?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })
                .ctx(&self.db, || "gc: list leases".into())?;
            rows.collect::<Result<_, _>>()
                .ctx(&self.db, || "gc: read lease rows".into())?
        };
        let mut leases_cleared = 0;
        for (key, run, pid, host, heartbeat_at, ended) in leases {
            let pid = pid.clamp(0, u32::MAX as i64) as u32;
            if holder_alive(&host, pid, heartbeat_at, ended, &self.host, now) {
                continue;
            }
            leases_cleared += 1;
            if !dry_run {
                tx.execute(
                    "DELETE FROM leases WHERE key = ?1 AND run_id = ?2",
                    params![key, run],
                )
                .ctx(&self.db, || format!("gc: delete dead lease of stage {key}"))?;
                let why = format!(
                    "interrupted: lease holder run {run} (pid {pid} on {host}) is gone (gc)"
                );
                fail_running(&tx, self, &key, run, &why, now)?;
            }
        }

        // Objects no row refers to.
        let referenced: HashSet<String> = {
            let mut stmt = tx
                .prepare("SELECT path FROM artifacts WHERE path IS NOT NULL")
                .ctx(&self.db, || "gc: list object paths".into())?;
            let rows = stmt
                .query_map([], |r| r.get(0))
                .ctx(&self.db, || "gc: list object paths".into())?;
            rows.collect::<Result<_, _>>()
                .ctx(&self.db, || "gc: read object paths".into())?
        };
        let mut walk = Walk {
            store: self,
            referenced,
            kept: HashSet::new(),
            my_host_tag: host_tag(&self.host),
            dry_run,
            report: GcReport::default(),
        };
        walk.dir(&self.objects, "")?;
        let mut report = walk.report;
        // Scratch folders of stages that no live lease holds (a killed training's checkpoints).
        let live: HashSet<String> = {
            let mut stmt = tx
                .prepare("SELECT key FROM leases")
                .ctx(&self.db, || "gc: list live leases".into())?;
            let rows = stmt
                .query_map([], |r| r.get(0))
                .ctx(&self.db, || "gc: list live leases".into())?;
            rows.collect::<Result<_, _>>()
                .ctx(&self.db, || "gc: read live leases".into())?
        };
        if let Ok(entries) = fs::read_dir(self.objects.join(WORK_DIR)) {
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
                        .map_err(|e| self.io_err(&entry.path(), "remove a stale work folder", e))?;
                }
            }
        }
        report.leases_cleared = leases_cleared;

        // Memos of objects that are gone.
        if !dry_run {
            let memo_paths: Vec<String> = {
                let mut stmt = tx
                    .prepare("SELECT path FROM object_stat")
                    .ctx(&self.db, || "gc: list object_stat rows".into())?;
                let rows = stmt
                    .query_map([], |r| r.get(0))
                    .ctx(&self.db, || "gc: list object_stat rows".into())?;
                rows.collect::<Result<_, _>>()
                    .ctx(&self.db, || "gc: read object_stat rows".into())?
            };
            let mut stmt = tx
                .prepare("DELETE FROM object_stat WHERE path = ?1")
                .ctx(&self.db, || "gc: prepare object_stat delete".into())?;
            for path in memo_paths.iter().filter(|p| !walk.kept.contains(*p)) {
                stmt.execute(params![path])
                    .ctx(&self.db, || format!("gc: delete object_stat row of {path}"))?;
            }
        }

        tx.commit().ctx(&self.db, || "gc: commit".into())?;
        Ok(report)
    }
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
