//! Garbage collection on PostgreSQL: dead leases, then the objects folder.
//!
//! Invariants:
//! - a lease is dead when no session holds its lock (`leases.lock_id` looked up in `pg_locks`),
//!   wherever its holder ran; it is deleted only if its row still names the same run (a
//!   concurrent takeover wins), and its running execution is marked failed;
//! - the objects walk runs inside a transaction holding the gc lock exclusively; every commit
//!   holds it shared while it renames objects into place, so a file is judged against a row set
//!   no commit can be changing; which files go is `sweep.rs`'s rule;
//! - scratch folders are kept for keys whose lease lock is held;
//! - memos (`object_stat`) of paths that are not kept object files are deleted;
//! - with `dry_run` nothing is changed and the same counts are reported.

use std::collections::HashSet;

use super::leases::fail_running;
use super::{PgCtx, PgStore};
use crate::error::StoreError;
use crate::sweep::{sweep_objects, sweep_work_dirs};
use crate::GcReport;

impl PgStore {
    pub(super) async fn gc_async(&self, dry_run: bool) -> Result<GcReport, StoreError> {
        if !dry_run {
            self.writable(|| "collect garbage".into())?;
        }
        let site = &self.site;
        let what = || "gc".to_string();

        // Dead leases.
        let sql = concat!(
            "SELECT l.key, l.run_id, l.pid, l.host FROM leases l WHERE NOT ",
            lock_held!("l.lock_id")
        );
        let mut tx = self.begin(what).await?;
        let dead: Vec<(String, i64, i64, String)> = sqlx::query_as(sql)
            .fetch_all(&mut *tx)
            .await
            .ctx(site, || "gc: list dead leases".into())?;
        let mut leases_cleared = 0;
        for (key, run, pid, host) in dead {
            if dry_run {
                leases_cleared += 1;
                continue;
            }
            let n = sqlx::query("DELETE FROM leases WHERE key = $1 AND run_id = $2")
                .bind(&key)
                .bind(run)
                .execute(&mut *tx)
                .await
                .ctx(site, || format!("gc: delete dead lease of stage {key}"))?
                .rows_affected();
            if n > 0 {
                leases_cleared += 1;
                let why = format!(
                    "interrupted: lease holder run {run} (pid {pid} on {host}) is gone (gc)"
                );
                fail_running(&mut tx, site, &key, run, &why).await?;
            }
        }
        tx.commit()
            .await
            .ctx(site, || "gc: commit the lease cleanup".into())?;

        // Objects no row refers to, under the exclusive gc lock.
        let mut tx = self.begin(what).await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(self.lock_id("gc", ""))
            .execute(&mut *tx)
            .await
            .ctx(site, || "gc: take the gc lock".into())?;
        let referenced: HashSet<String> =
            sqlx::query_scalar::<_, String>("SELECT path FROM artifacts WHERE path IS NOT NULL")
                .fetch_all(&mut *tx)
                .await
                .ctx(site, || "gc: list object paths".into())?
                .into_iter()
                .collect();
        let swept = sweep_objects(&site.loc, &self.objects, &referenced, &self.host, dry_run)?;
        let mut report = swept.report;
        let sql = concat!("SELECT l.key FROM leases l WHERE ", lock_held!("l.lock_id"));
        let live: HashSet<String> = sqlx::query_scalar::<_, String>(sql)
            .fetch_all(&mut *tx)
            .await
            .ctx(site, || "gc: list live leases".into())?
            .into_iter()
            .collect();
        sweep_work_dirs(&site.loc, &self.objects, &live, dry_run, &mut report)?;
        report.leases_cleared = leases_cleared;
        if !dry_run {
            let kept: Vec<&str> = swept.kept.iter().map(String::as_str).collect();
            sqlx::query("DELETE FROM object_stat WHERE NOT (path = ANY($1))")
                .bind(&kept)
                .execute(&mut *tx)
                .await
                .ctx(site, || "gc: delete the memos of gone objects".into())?;
        }
        tx.commit().await.ctx(site, || "gc: commit".into())?;
        Ok(report)
    }
}
