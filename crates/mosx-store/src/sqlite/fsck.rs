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

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection};

use super::leases::fail_running;
use super::SqliteStore;
use crate::audit::{audit, ArtRow, AuditInput};
use crate::error::{SqlCtx, StoreError};
use crate::liveness::{now, pid_alive};
use crate::sweep::remove_dead_temps;
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
                        .ctx(&self.loc, || "list running runs".into())?;
                    let rows = stmt
                        .query_map(params![host, me], |r| Ok((r.get(0)?, r.get(1)?)))
                        .ctx(&self.loc, || "list running runs".into())?;
                    rows.collect::<Result<_, _>>()
                        .ctx(&self.loc, || "read running runs".into())?
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
                    .ctx(&self.loc, || format!("mark run {run} interrupted"))?;
                    let keys: Vec<String> = {
                        let mut stmt = tx
                            .prepare("SELECT key FROM leases WHERE run_id = ?1")
                            .ctx(&self.loc, || format!("list leases of run {run}"))?;
                        let rows = stmt
                            .query_map([run], |r| r.get(0))
                            .ctx(&self.loc, || format!("list leases of run {run}"))?;
                        rows.collect::<Result<_, _>>()
                            .ctx(&self.loc, || format!("read leases of run {run}"))?
                    };
                    tx.execute("DELETE FROM leases WHERE run_id = ?1", [run])
                        .ctx(&self.loc, || format!("drop leases of run {run}"))?;
                    for k in keys {
                        fail_running(tx, self, &k, run, &why, t)?;
                    }
                    tx.execute(
                        "UPDATE executions SET status = 'failed', finished_at = ?2, error = ?3
                          WHERE run_id = ?1 AND status = 'running'",
                        params![run, t, why],
                    )
                    .ctx(&self.loc, || format!("fail executions of run {run}"))?;
                }
                Ok(n)
            },
        )?;
        let (files, bytes) = remove_dead_temps(&self.loc, &self.objects, &self.host)?;
        report.temp_files_removed = files;
        report.temp_bytes_removed = bytes;
        Ok(report)
    }

    pub(super) fn fsck_impl(&self, repair: bool) -> Result<FsckReport, StoreError> {
        // Rows, read under the mutex; files hashed afterwards.
        let (input, integrity) = self.fsck_rows()?;
        let found = audit(&self.objects, &input, repair);
        let (mut report, bad) = (found.report, found.bad);
        let AuditInput {
            orphans, dead_runs, ..
        } = input;
        if integrity != ["ok"] {
            report.problems.insert(
                0,
                FsckProblem {
                    key: None,
                    what: format!("SQLite integrity check: {}", integrity.join("; ")),
                    repaired: false,
                },
            );
        }
        if repair && (!bad.is_empty() || !orphans.is_empty()) {
            self.drop_damaged(&bad, &orphans)?;
        }
        if repair && !dead_runs.is_empty() {
            self.recover_impl()?;
        }
        Ok(report)
    }

    /// Everything fsck reads, under one hold of the mutex: the rows to audit and the lines of
    /// SQLite's integrity check.
    fn fsck_rows(&self) -> Result<(AuditInput, Vec<String>), StoreError> {
        let conn = self.conn();
        let integrity = self.integrity_check(&conn)?;
        let arts = self.fsck_artifacts(&conn)?;
        let stages = self.fsck_stages(&conn)?;
        let orphans = self.orphan_rows(&conn)?;
        let dead_runs = self.dead_runs(&conn)?;
        let input = AuditInput {
            stages,
            arts,
            orphans,
            dead_runs,
        };
        Ok((input, integrity))
    }

    /// The lines of `PRAGMA integrity_check` (`["ok"]` for a sound file).
    fn integrity_check(&self, conn: &Connection) -> Result<Vec<String>, StoreError> {
        let mut stmt = conn
            .prepare("PRAGMA integrity_check")
            .ctx(&self.loc, || "fsck: integrity check".into())?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .ctx(&self.loc, || "fsck: integrity check".into())?;
        rows.collect::<Result<_, _>>()
            .ctx(&self.loc, || "fsck: read integrity check".into())
    }

    /// Every artifact row, by key and name.
    fn fsck_artifacts(&self, conn: &Connection) -> Result<Vec<ArtRow>, StoreError> {
        let mut stmt = conn
            .prepare("SELECT key, name, size, hash, inline, path FROM artifacts ORDER BY key, name")
            .ctx(&self.loc, || "fsck: list artifacts".into())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ArtRow {
                    key: r.get(0)?,
                    name: r.get(1)?,
                    size: r.get(2)?,
                    hash: r.get(3)?,
                    inline: inline_bytes(r.get_ref(4)?),
                    path: r.get(5)?,
                })
            })
            .ctx(&self.loc, || "fsck: list artifacts".into())?;
        rows.collect::<Result<_, _>>()
            .ctx(&self.loc, || "fsck: read artifacts".into())
    }

    /// (key, params, parts) of every stage row, by key.
    fn fsck_stages(&self, conn: &Connection) -> Result<Vec<(String, String, String)>, StoreError> {
        let mut stmt = conn
            .prepare("SELECT key, params, parts FROM stages ORDER BY key")
            .ctx(&self.loc, || "fsck: list stages".into())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .ctx(&self.loc, || "fsck: list stages".into())?;
        rows.collect::<Result<_, _>>()
            .ctx(&self.loc, || "fsck: read stages".into())
    }

    /// (table, key, name) of the artifact and metric rows without a stage row.
    fn orphan_rows(&self, conn: &Connection) -> Result<Vec<(String, String, String)>, StoreError> {
        let mut stmt = conn
            .prepare(
                "SELECT 'artifacts', key, name FROM artifacts WHERE key NOT IN (SELECT key FROM stages)
                         UNION ALL
                         SELECT 'metrics', key, name FROM metrics WHERE key NOT IN (SELECT key FROM stages)",
            )
            .ctx(&self.loc, || "fsck: find orphan rows".into())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .ctx(&self.loc, || "fsck: find orphan rows".into())?;
        rows.collect::<Result<_, _>>()
            .ctx(&self.loc, || "fsck: read orphan rows".into())
    }

    /// The `running` runs of dead processes on this host (other than this process).
    fn dead_runs(&self, conn: &Connection) -> Result<Vec<i64>, StoreError> {
        let mut stmt = conn
            .prepare(
                "SELECT id, pid FROM runs WHERE status = 'running' AND host = ?1 AND pid <> ?2",
            )
            .ctx(&self.loc, || "fsck: list running runs".into())?;
        let rows = stmt
            .query_map(params![self.host, self.pid as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .ctx(&self.loc, || "fsck: list running runs".into())?;
        let all: Vec<(i64, i64)> = rows
            .collect::<Result<_, _>>()
            .ctx(&self.loc, || "fsck: read running runs".into())?;
        Ok(all
            .into_iter()
            .filter(|(_, pid)| !pid_alive((*pid).clamp(0, u32::MAX as i64) as u32))
            .map(|(id, _)| id)
            .collect())
    }

    /// Repair, in one write transaction: drop each damaged stage (with the memo of its bad
    /// object) and each orphan row.
    fn drop_damaged(
        &self,
        bad: &[(String, Option<String>)],
        orphans: &[(String, String, String)],
    ) -> Result<(), StoreError> {
        self.write_tx(
            || "fsck: drop damaged stages".into(),
            |tx| {
                for (key, path) in bad {
                    tx.execute("DELETE FROM stages WHERE key = ?1", [key])
                        .ctx(&self.loc, || format!("fsck: drop stage {key}"))?;
                    if let Some(p) = path {
                        tx.execute("DELETE FROM object_stat WHERE path = ?1", [p])
                            .ctx(&self.loc, || format!("fsck: drop the memo of {p}"))?;
                    }
                }
                for (table, key, name) in orphans {
                    let sql = format!("DELETE FROM {table} WHERE key = ?1 AND name = ?2");
                    tx.execute(&sql, [key, name]).ctx(&self.loc, || {
                        format!("fsck: drop orphan {table} row {key}/{name}")
                    })?;
                }
                Ok(())
            },
        )
    }
}

/// The bytes of an artifact row's `inline` column. A damaged row may hold text where a blob
/// belongs: read its bytes.
fn inline_bytes(v: ValueRef<'_>) -> Option<Vec<u8>> {
    match v {
        ValueRef::Blob(b) => Some(b.to_vec()),
        ValueRef::Text(t) => Some(t.to_vec()),
        ValueRef::Null => None,
        other => Some(format!("{other:?}").into_bytes()),
    }
}
