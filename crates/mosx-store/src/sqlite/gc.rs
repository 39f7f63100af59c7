//! Garbage collection of the objects dir and of dead leases.
//!
//! Invariants: the scan runs inside a `BEGIN IMMEDIATE` transaction (commit renames objects into
//! place only under that same lock), so a file is judged against a row set no commit can be
//! changing; which files, temp files and scratch folders go is `sweep.rs`'s rule; a lease is
//! cleared only when its holder is dead by the liveness rule, and its running execution is marked
//! failed. With `dry_run` nothing is changed and the same counts are reported. After the scan,
//! every `object_stat` (verification memo) row whose path is not a kept object file is deleted:
//! the rows of files gc removed and of files that no longer exist.

use std::collections::HashSet;

use rusqlite::{params, Transaction, TransactionBehavior};

use super::leases::fail_running;
use super::SqliteStore;
use crate::error::{SqlCtx, StoreError};
use crate::liveness::{holder_alive, now};
use crate::sweep::{sweep_objects, sweep_work_dirs};
use crate::GcReport;

impl SqliteStore {
    pub(super) fn gc_impl(&self, dry_run: bool) -> Result<GcReport, StoreError> {
        if self.read_only && !dry_run {
            return Err(StoreError::ReadOnly {
                db: self.loc.clone(),
                what: "collect garbage".into(),
            });
        }
        let mut conn = self.conn();
        let behavior = if dry_run {
            TransactionBehavior::Deferred
        } else {
            TransactionBehavior::Immediate
        };
        let tx = conn
            .transaction_with_behavior(behavior)
            .ctx(&self.loc, || "gc: begin transaction".into())?;
        let now = now();

        let leases_cleared = self.clear_dead_leases(&tx, dry_run, now)?;

        // Objects no row refers to.
        let referenced = self.referenced_paths(&tx)?;
        let swept = sweep_objects(&self.loc, &self.objects, &referenced, &self.host, dry_run)?;
        let mut report = swept.report;
        // Scratch folders of stages that no live lease holds (a killed training's checkpoints).
        let live = self.leased_keys(&tx)?;
        sweep_work_dirs(&self.loc, &self.objects, &live, dry_run, &mut report)?;
        report.leases_cleared = leases_cleared;

        // Memos of objects that are gone.
        if !dry_run {
            self.drop_stale_memos(&tx, &swept.kept)?;
        }

        tx.commit().ctx(&self.loc, || "gc: commit".into())?;
        Ok(report)
    }

    /// Dead leases: count those whose holder is dead by the liveness rule and, unless
    /// `dry_run`, delete each and fail its running execution.
    fn clear_dead_leases(
        &self,
        tx: &Transaction<'_>,
        dry_run: bool,
        now: f64,
    ) -> Result<usize, StoreError> {
        let leases: Vec<(String, i64, i64, String, f64, bool)> = {
            let mut stmt = tx
                .prepare(
                    "SELECT l.key, l.run_id, l.pid, l.host, l.heartbeat_at, r.finished_at IS NOT NULL
                       FROM leases l LEFT JOIN runs r ON r.id = l.run_id",
                )
                .ctx(&self.loc, || "gc: list leases".into())?;
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
                .ctx(&self.loc, || "gc: list leases".into())?;
            rows.collect::<Result<_, _>>()
                .ctx(&self.loc, || "gc: read lease rows".into())?
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
                .ctx(&self.loc, || {
                    format!("gc: delete dead lease of stage {key}")
                })?;
                let why = format!(
                    "interrupted: lease holder run {run} (pid {pid} on {host}) is gone (gc)"
                );
                fail_running(tx, self, &key, run, &why, now)?;
            }
        }
        Ok(leases_cleared)
    }

    /// The object paths artifact rows refer to.
    fn referenced_paths(&self, tx: &Transaction<'_>) -> Result<HashSet<String>, StoreError> {
        let mut stmt = tx
            .prepare("SELECT path FROM artifacts WHERE path IS NOT NULL")
            .ctx(&self.loc, || "gc: list object paths".into())?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .ctx(&self.loc, || "gc: list object paths".into())?;
        rows.collect::<Result<_, _>>()
            .ctx(&self.loc, || "gc: read object paths".into())
    }

    /// The keys a lease row is left for (the dead ones were just cleared).
    fn leased_keys(&self, tx: &Transaction<'_>) -> Result<HashSet<String>, StoreError> {
        let mut stmt = tx
            .prepare("SELECT key FROM leases")
            .ctx(&self.loc, || "gc: list live leases".into())?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .ctx(&self.loc, || "gc: list live leases".into())?;
        rows.collect::<Result<_, _>>()
            .ctx(&self.loc, || "gc: read live leases".into())
    }

    /// Delete every `object_stat` row whose path is not in `kept` (the object files gc kept).
    fn drop_stale_memos(
        &self,
        tx: &Transaction<'_>,
        kept: &HashSet<String>,
    ) -> Result<(), StoreError> {
        let memo_paths: Vec<String> = {
            let mut stmt = tx
                .prepare("SELECT path FROM object_stat")
                .ctx(&self.loc, || "gc: list object_stat rows".into())?;
            let rows = stmt
                .query_map([], |r| r.get(0))
                .ctx(&self.loc, || "gc: list object_stat rows".into())?;
            rows.collect::<Result<_, _>>()
                .ctx(&self.loc, || "gc: read object_stat rows".into())?
        };
        let mut stmt = tx
            .prepare("DELETE FROM object_stat WHERE path = ?1")
            .ctx(&self.loc, || "gc: prepare object_stat delete".into())?;
        for path in memo_paths.iter().filter(|p| !kept.contains(*p)) {
            stmt.execute(params![path]).ctx(&self.loc, || {
                format!("gc: delete object_stat row of {path}")
            })?;
        }
        Ok(())
    }
}
