//! Recovery after a crash, and `fsck`: the check that trusts no memo.
//!
//! Invariants:
//! - `recover` marks a `running` run of a dead process on this host `interrupted` (with its
//!   leases dropped and running executions failed) and removes the temp object files of dead
//!   writers on this host; scratch folders (`.work/`) are kept for the stage to resume from.
//!   Runs of other hosts are left alone: their liveness cannot be told from here.
//! - `fsck` re-hashes every file object and every inline blob in full (the stat memo is not
//!   consulted), parses every row's JSON, finds orphan artifact/metric rows and runs SQLite's
//!   own integrity check. With `repair`, a stage with a bad artifact is dropped (its row,
//!   artifacts and metrics, and the object's memo) so it becomes a cache miss, never a wrong
//!   hit; orphan rows are deleted; dead runs are recovered.

use std::fs;
use std::io;
use std::path::Path;

use rusqlite::params;

use super::leases::fail_running;
use super::SqliteStore;
use crate::error::{SqlCtx, StoreError};
use crate::liveness::{now, pid_alive};
use crate::objects::{
    check_file, hash_bytes, host_tag, parse_temp_name, Fault, TEMP_PREFIX, WORK_DIR,
};
use crate::{FsckProblem, FsckReport, RecoverReport};

impl SqliteStore {
    pub(super) fn recover_impl(&self) -> Result<RecoverReport, StoreError> {
        let mut report = RecoverReport::default();
        let me = self.pid as i64;
        let host = self.host.clone();
        report.runs_interrupted = self.write_tx(
            || "mark runs of dead processes interrupted".into(),
            |tx| {
                let runs: Vec<(i64, i64)> = {
                    let mut stmt = tx
                        .prepare(
                            "SELECT id, pid FROM runs WHERE status = 'running' AND host = ?1 AND pid <> ?2",
                        )
                        .ctx(&self.db, || "list running runs".into())?;
                    let rows = stmt
                        .query_map(params![host, me], |r| Ok((r.get(0)?, r.get(1)?)))
                        .ctx(&self.db, || "list running runs".into())?;
                    rows.collect::<Result<_, _>>()
                        .ctx(&self.db, || "read running runs".into())?
                };
                let t = now();
                let mut n = 0;
                for (run, pid) in runs {
                    let pid = pid.clamp(0, u32::MAX as i64) as u32;
                    if pid_alive(pid) {
                        continue;
                    }
                    n += 1;
                    let why = format!("interrupted: run {run} (pid {pid} on {host}) is gone");
                    tx.execute(
                        "UPDATE runs SET status = 'interrupted', finished_at = ?2,
                                summary = json_object('interrupted', ?3) WHERE id = ?1",
                        params![run, t, why],
                    )
                    .ctx(&self.db, || format!("mark run {run} interrupted"))?;
                    let keys: Vec<String> = {
                        let mut stmt = tx
                            .prepare("SELECT key FROM leases WHERE run_id = ?1")
                            .ctx(&self.db, || format!("list leases of run {run}"))?;
                        let rows = stmt
                            .query_map([run], |r| r.get(0))
                            .ctx(&self.db, || format!("list leases of run {run}"))?;
                        rows.collect::<Result<_, _>>()
                            .ctx(&self.db, || format!("read leases of run {run}"))?
                    };
                    tx.execute("DELETE FROM leases WHERE run_id = ?1", [run])
                        .ctx(&self.db, || format!("drop leases of run {run}"))?;
                    for k in keys {
                        fail_running(tx, self, &k, run, &why, t)?;
                    }
                    tx.execute(
                        "UPDATE executions SET status = 'failed', finished_at = ?2, error = ?3
                          WHERE run_id = ?1 AND status = 'running'",
                        params![run, t, why],
                    )
                    .ctx(&self.db, || format!("fail executions of run {run}"))?;
                }
                Ok(n)
            },
        )?;
        let (files, bytes) = self.remove_dead_temps(&self.objects, true)?;
        report.temp_files_removed = files;
        report.temp_bytes_removed = bytes;
        Ok(report)
    }

    /// Remove temp object files whose writer (on this host) is dead, under `dir`.
    fn remove_dead_temps(&self, dir: &Path, top: bool) -> Result<(usize, u64), StoreError> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((0, 0)),
            Err(e) => return Err(self.io_err(dir, "list objects", e)),
        };
        let tag = host_tag(&self.host);
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
                let (f, b) = self.remove_dead_temps(&entry.path(), false)?;
                files += f;
                bytes += b;
                continue;
            }
            if !name.starts_with(TEMP_PREFIX) {
                continue;
            }
            let dead =
                matches!(parse_temp_name(&name), Some((h, pid)) if h == tag && !pid_alive(pid));
            if dead {
                match fs::remove_file(entry.path()) {
                    Ok(()) => {
                        files += 1;
                        bytes += meta.len();
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(self.io_err(&entry.path(), "remove a dead temp object", e))
                    }
                }
            }
        }
        Ok((files, bytes))
    }

    pub(super) fn fsck_impl(&self, repair: bool) -> Result<FsckReport, StoreError> {
        let mut report = FsckReport::default();
        // Rows, read under the mutex; files hashed afterwards.
        struct Art {
            key: String,
            name: String,
            size: i64,
            hash: String,
            inline: Option<Vec<u8>>,
            path: Option<String>,
        }
        let (arts, stages, integrity, orphans, dead_runs) = {
            let conn = self.conn();
            let integrity: Vec<String> = {
                let mut stmt = conn
                    .prepare("PRAGMA integrity_check")
                    .ctx(&self.db, || "fsck: integrity check".into())?;
                let rows = stmt
                    .query_map([], |r| r.get(0))
                    .ctx(&self.db, || "fsck: integrity check".into())?;
                rows.collect::<Result<_, _>>()
                    .ctx(&self.db, || "fsck: read integrity check".into())?
            };
            let arts: Vec<Art> = {
                let mut stmt = conn
                    .prepare("SELECT key, name, size, hash, inline, path FROM artifacts ORDER BY key, name")
                    .ctx(&self.db, || "fsck: list artifacts".into())?;
                let rows = stmt
                    .query_map([], |r| {
                        Ok(Art {
                            key: r.get(0)?,
                            name: r.get(1)?,
                            size: r.get(2)?,
                            hash: r.get(3)?,
                            // A damaged row may hold text where a blob belongs: read its bytes.
                            inline: match r.get_ref(4)? {
                                rusqlite::types::ValueRef::Blob(b) => Some(b.to_vec()),
                                rusqlite::types::ValueRef::Text(t) => Some(t.to_vec()),
                                rusqlite::types::ValueRef::Null => None,
                                other => Some(format!("{other:?}").into_bytes()),
                            },
                            path: r.get(5)?,
                        })
                    })
                    .ctx(&self.db, || "fsck: list artifacts".into())?;
                rows.collect::<Result<_, _>>()
                    .ctx(&self.db, || "fsck: read artifacts".into())?
            };
            let stages: Vec<(String, String, String)> = {
                let mut stmt = conn
                    .prepare("SELECT key, params, parts FROM stages ORDER BY key")
                    .ctx(&self.db, || "fsck: list stages".into())?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .ctx(&self.db, || "fsck: list stages".into())?;
                rows.collect::<Result<_, _>>()
                    .ctx(&self.db, || "fsck: read stages".into())?
            };
            let orphans: Vec<(String, String, String)> = {
                let mut stmt = conn
                    .prepare(
                        "SELECT 'artifacts', key, name FROM artifacts WHERE key NOT IN (SELECT key FROM stages)
                         UNION ALL
                         SELECT 'metrics', key, name FROM metrics WHERE key NOT IN (SELECT key FROM stages)",
                    )
                    .ctx(&self.db, || "fsck: find orphan rows".into())?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .ctx(&self.db, || "fsck: find orphan rows".into())?;
                rows.collect::<Result<_, _>>()
                    .ctx(&self.db, || "fsck: read orphan rows".into())?
            };
            let dead_runs: Vec<i64> = {
                let mut stmt = conn
                    .prepare("SELECT id, pid FROM runs WHERE status = 'running' AND host = ?1 AND pid <> ?2")
                    .ctx(&self.db, || "fsck: list running runs".into())?;
                let rows = stmt
                    .query_map(params![self.host, self.pid as i64], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                    })
                    .ctx(&self.db, || "fsck: list running runs".into())?;
                let all: Vec<(i64, i64)> = rows
                    .collect::<Result<_, _>>()
                    .ctx(&self.db, || "fsck: read running runs".into())?;
                all.into_iter()
                    .filter(|(_, pid)| !pid_alive((*pid).clamp(0, u32::MAX as i64) as u32))
                    .map(|(id, _)| id)
                    .collect()
            };
            (arts, stages, integrity, orphans, dead_runs)
        };
        if integrity != ["ok"] {
            report.problems.push(FsckProblem {
                key: None,
                what: format!("SQLite integrity check: {}", integrity.join("; ")),
                repaired: false,
            });
        }
        report.stages = stages.len();
        for (key, p, parts) in &stages {
            for (col, text) in [("params", p), ("parts", parts)] {
                if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
                    report.problems.push(FsckProblem {
                        key: Some(key.clone()),
                        what: format!("stages.{col} is not valid JSON: {e}"),
                        repaired: false,
                    });
                }
            }
        }
        // Stages to drop (a bad artifact makes the whole stage a miss).
        let mut bad: Vec<(String, Option<String>)> = Vec::new();
        for a in &arts {
            let problem = match (&a.inline, &a.path) {
                (Some(bytes), None) => {
                    report.inline_checked += 1;
                    report.bytes_hashed += bytes.len() as u64;
                    let h = hash_bytes(bytes);
                    if bytes.len() as i64 != a.size || h != a.hash {
                        Some(format!(
                            "inline artifact `{}`: {} bytes with blake3 {}, the row says {} bytes with {}",
                            a.name,
                            bytes.len(),
                            &h[..12],
                            a.size,
                            &a.hash[..12.min(a.hash.len())]
                        ))
                    } else {
                        None
                    }
                }
                (None, Some(path)) => {
                    report.objects_checked += 1;
                    let full = self.objects.join(path);
                    report.bytes_hashed += fs::metadata(&full).map(|m| m.len()).unwrap_or(0);
                    match check_file(&full, a.size.max(0) as u64, &a.hash, None) {
                        Ok(_) => None,
                        Err(Fault::Missing) => Some(format!(
                            "artifact `{}`: object {} is missing",
                            a.name,
                            full.display()
                        )),
                        Err(Fault::Mismatch(m)) => Some(format!(
                            "artifact `{}`: object {} does not match its row ({m}; the row says {} bytes with blake3 {})",
                            a.name,
                            full.display(),
                            a.size,
                            &a.hash[..12.min(a.hash.len())]
                        )),
                    }
                }
                _ => Some(format!(
                    "artifact `{}`: a row with neither inline bytes nor a path, or both",
                    a.name
                )),
            };
            if let Some(what) = problem {
                report.problems.push(FsckProblem {
                    key: Some(a.key.clone()),
                    what,
                    repaired: repair,
                });
                bad.push((a.key.clone(), a.path.clone()));
            }
        }
        for (table, key, name) in &orphans {
            report.problems.push(FsckProblem {
                key: Some(key.clone()),
                what: format!("{table} row `{name}` has no stage row"),
                repaired: repair,
            });
        }
        for run in &dead_runs {
            report.problems.push(FsckProblem {
                key: None,
                what: format!("run {run} is marked running but its process is gone"),
                repaired: repair,
            });
        }
        if repair && (!bad.is_empty() || !orphans.is_empty()) {
            self.write_tx(
                || "fsck: drop damaged stages".into(),
                |tx| {
                    for (key, path) in &bad {
                        tx.execute("DELETE FROM stages WHERE key = ?1", [key])
                            .ctx(&self.db, || format!("fsck: drop stage {key}"))?;
                        if let Some(p) = path {
                            tx.execute("DELETE FROM object_stat WHERE path = ?1", [p])
                                .ctx(&self.db, || format!("fsck: drop the memo of {p}"))?;
                        }
                    }
                    for (table, key, name) in &orphans {
                        let sql = format!("DELETE FROM {table} WHERE key = ?1 AND name = ?2");
                        tx.execute(&sql, [key, name]).ctx(&self.db, || {
                            format!("fsck: drop orphan {table} row {key}/{name}")
                        })?;
                    }
                    Ok(())
                },
            )?;
        }
        if repair && !dead_runs.is_empty() {
            self.recover_impl()?;
        }
        Ok(report)
    }
}
