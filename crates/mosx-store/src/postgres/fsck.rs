//! Recovery after a crash, and `fsck`, on PostgreSQL.
//!
//! Invariants:
//! - a `running` run is dead when no session holds its run lock (its store ended without
//!   `end_run`: killed, crashed, or its connection was lost), on any host; `recover` takes the
//!   lock of each dead run while it marks it `interrupted`, so it never races the run's owner;
//! - `recover` drops only those leases of a dead run whose lock no session holds, and fails only
//!   the running executions without a live lease (a worker of that run elsewhere may still be
//!   computing: its lease and execution stay); temp objects of dead writers are removed on this
//!   host only (a pid means nothing elsewhere; `gc` removes other hosts' after a day); scratch
//!   folders stay for the stage to resume from;
//! - `fsck` re-hashes every object and inline blob (`audit.rs`), finds orphan rows and dead runs,
//!   and checks the applied migrations against this build's; with `repair`, damaged stages are
//!   dropped (a miss, never a wrong hit) with their memos, orphan rows deleted, dead runs
//!   recovered.

use sqlx::PgConnection;

use super::leases::fail_running;
use super::{schema, PgCtx, PgStore};
use crate::audit::{audit, ArtRow, AuditInput};
use crate::error::StoreError;
use crate::sweep::remove_dead_temps;
use crate::{FsckProblem, FsckReport, RecoverReport};

impl PgStore {
    /// `running` runs whose run lock no session holds (read from `pg_locks`: works read-only).
    async fn dead_runs(&self) -> Result<Vec<i64>, StoreError> {
        let site = &self.site;
        let mut conn = self.conn().await?;
        let running: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM runs WHERE status = 'running' ORDER BY id")
                .fetch_all(&mut *conn)
                .await
                .ctx(site, || "list running runs".into())?;
        let locks: Vec<i64> = running
            .iter()
            .map(|r| self.lock_id("run", &r.to_string()))
            .collect();
        sqlx::query_scalar(concat!(
            "SELECT r.id FROM UNNEST($1::int8[], $2::int8[]) AS r(id, lock) WHERE NOT ",
            lock_held!("r.lock"),
            " ORDER BY r.id"
        ))
        .bind(&running)
        .bind(&locks)
        .fetch_all(&mut *conn)
        .await
        .ctx(site, || "tell dead runs".into())
    }

    pub(super) async fn recover_async(&self) -> Result<RecoverReport, StoreError> {
        let what = || "mark runs of dead processes interrupted".to_string();
        self.writable(what)?;
        let site = &self.site;
        // Confirm each dead run by taking its lock, and hold it while the run is marked.
        let dead = self.lock_dead_runs(&what).await?;
        let mut report = RecoverReport::default();
        let marked = self.mark_interrupted(&dead, &what).await;
        {
            let mut ls = self.session(what).await?;
            for &run in &dead {
                ls.unlock(self.lock_id("run", &run.to_string())).await;
            }
        }
        report.runs_interrupted = marked?;
        let (files, bytes) = remove_dead_temps(&site.loc, &self.objects, &self.host)?;
        report.temp_files_removed = files;
        report.temp_bytes_removed = bytes;
        Ok(report)
    }

    /// The dead runs ([`PgStore::dead_runs`]) whose run lock this session could take (it now
    /// holds them); runs begun through this store are never among them.
    async fn lock_dead_runs(
        &self,
        what: &(dyn Fn() -> String + Sync),
    ) -> Result<Vec<i64>, StoreError> {
        let candidates = self.dead_runs().await?;
        let mut dead = Vec::new();
        let mut ls = self.session(what).await?;
        for run in candidates {
            let lock = self.lock_id("run", &run.to_string());
            if !ls.runs.contains(&run)
                && ls
                    .try_lock(self, lock, || format!("take the lock of dead run {run}"))
                    .await?
            {
                dead.push(run);
            }
        }
        Ok(dead)
    }

    /// In one transaction, mark each of the `dead` runs (whose locks this session holds)
    /// `interrupted`, with their dead leases and executions; returns how many were still
    /// `running`.
    async fn mark_interrupted(
        &self,
        dead: &[i64],
        what: &(dyn Fn() -> String + Sync),
    ) -> Result<usize, StoreError> {
        let mut tx = self.begin(what).await?;
        let mut interrupted = 0;
        for &run in dead {
            if self.interrupt_run(&mut tx, run).await? {
                interrupted += 1;
            }
        }
        tx.commit()
            .await
            .ctx(&self.site, || format!("commit transaction to {}", what()))?;
        Ok(interrupted)
    }

    /// Mark `run` `interrupted` if it is still `running`, drop its leases whose lock no session
    /// holds (failing their running executions) and fail its running executions without a live
    /// lease; false if the run was no longer `running` (then nothing else is touched).
    async fn interrupt_run(&self, conn: &mut PgConnection, run: i64) -> Result<bool, StoreError> {
        let site = &self.site;
        let why = format!("interrupted: run {run} is gone (its database session ended)");
        let sql = concat!(
            "UPDATE runs SET status = 'interrupted', finished_at = ",
            db_now!(),
            ", summary = $2
                      WHERE id = $1 AND status = 'running'"
        );
        let n = sqlx::query(sql)
            .bind(run)
            .bind(serde_json::json!({ "interrupted": why }).to_string())
            .execute(&mut *conn)
            .await
            .ctx(site, || format!("mark run {run} interrupted"))?
            .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        let sql = concat!(
            "DELETE FROM leases l WHERE l.run_id = $1 AND NOT ",
            lock_held!("l.lock_id"),
            " RETURNING l.key"
        );
        let keys: Vec<String> = sqlx::query_scalar(sql)
            .bind(run)
            .fetch_all(&mut *conn)
            .await
            .ctx(site, || format!("drop dead leases of run {run}"))?;
        for k in &keys {
            fail_running(&mut *conn, site, k, run, &why).await?;
        }
        let sql = concat!(
            "UPDATE executions e SET status = 'failed', finished_at = ",
            db_now!(),
            ", error = $2
                      WHERE e.run_id = $1 AND e.status = 'running'
                        AND NOT EXISTS (SELECT 1 FROM leases l
                                         WHERE l.key = e.key AND l.run_id = $1 AND ",
            lock_held!("l.lock_id"),
            ")"
        );
        sqlx::query(sql)
            .bind(run)
            .bind(&why)
            .execute(&mut *conn)
            .await
            .ctx(site, || format!("fail executions of run {run}"))?;
        Ok(true)
    }

    pub(super) async fn fsck_async(&self, repair: bool) -> Result<FsckReport, StoreError> {
        if repair {
            self.writable(|| "repair the store".into())?;
        }
        let dead_runs = self.dead_runs().await?;
        let (input, schema_problems) = self.fsck_rows(dead_runs).await?;
        let found = audit(&self.objects, &input, repair);
        let (mut report, bad) = (found.report, found.bad);
        for (i, what) in schema_problems.into_iter().enumerate() {
            report.problems.insert(
                i,
                FsckProblem {
                    key: None,
                    what,
                    repaired: false,
                },
            );
        }
        if repair && (!bad.is_empty() || !input.orphans.is_empty()) {
            self.drop_damaged(&bad, &input.orphans).await?;
        }
        if repair && !input.dead_runs.is_empty() {
            self.recover_async().await?;
        }
        Ok(report)
    }

    /// Everything fsck reads, on one connection: the rows to audit (with `dead_runs`) and the
    /// problems of the applied migrations.
    async fn fsck_rows(
        &self,
        dead_runs: Vec<i64>,
    ) -> Result<(AuditInput, Vec<String>), StoreError> {
        let site = &self.site;
        let mut conn = self.conn().await?;
        let schema_problems = schema::audit(&mut conn, site).await?;
        let stages: Vec<(String, String, String)> =
            sqlx::query_as("SELECT key, params, parts FROM stages ORDER BY key")
                .fetch_all(&mut *conn)
                .await
                .ctx(site, || "fsck: list stages".into())?;
        type Art = (String, String, i64, String, Option<Vec<u8>>, Option<String>);
        let arts: Vec<Art> = sqlx::query_as(
            "SELECT key, name, size, hash, inline, path FROM artifacts ORDER BY key, name",
        )
        .fetch_all(&mut *conn)
        .await
        .ctx(site, || "fsck: list artifacts".into())?;
        let orphans: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT 'artifacts', key, name FROM artifacts a
                  WHERE NOT EXISTS (SELECT 1 FROM stages s WHERE s.key = a.key)
                 UNION ALL
                 SELECT 'metrics', key, name FROM metrics m
                  WHERE NOT EXISTS (SELECT 1 FROM stages s WHERE s.key = m.key)",
        )
        .fetch_all(&mut *conn)
        .await
        .ctx(site, || "fsck: find orphan rows".into())?;
        let input = AuditInput {
            stages,
            arts: arts
                .into_iter()
                .map(|(key, name, size, hash, inline, path)| ArtRow {
                    key,
                    name,
                    size,
                    hash,
                    inline,
                    path,
                })
                .collect(),
            orphans,
            dead_runs,
        };
        Ok((input, schema_problems))
    }

    /// Repair, in one transaction: drop each damaged stage (with the memo of its bad object)
    /// and each orphan row.
    async fn drop_damaged(
        &self,
        bad: &[(String, Option<String>)],
        orphans: &[(String, String, String)],
    ) -> Result<(), StoreError> {
        let site = &self.site;
        let what = || "fsck: drop damaged stages".to_string();
        let mut tx = self.begin(what).await?;
        for (key, path) in bad {
            sqlx::query("DELETE FROM stages WHERE key = $1")
                .bind(key)
                .execute(&mut *tx)
                .await
                .ctx(site, || format!("fsck: drop stage {key}"))?;
            if let Some(p) = path {
                sqlx::query("DELETE FROM object_stat WHERE path = $1")
                    .bind(p)
                    .execute(&mut *tx)
                    .await
                    .ctx(site, || format!("fsck: drop the memo of {p}"))?;
            }
        }
        for (table, key, name) in orphans {
            let sql = if table == "metrics" {
                "DELETE FROM metrics WHERE key = $1 AND name = $2"
            } else {
                "DELETE FROM artifacts WHERE key = $1 AND name = $2"
            };
            sqlx::query(sql)
                .bind(key)
                .bind(name)
                .execute(&mut *tx)
                .await
                .ctx(site, || {
                    format!("fsck: drop orphan {table} row {key}/{name}")
                })?;
        }
        tx.commit()
            .await
            .ctx(site, || format!("commit transaction to {}", what()))?;
        Ok(())
    }
}
