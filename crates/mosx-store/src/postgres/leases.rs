//! Leases across machines: a session-level advisory lock per key, held by the store's lease
//! session (one dedicated connection per `PgStore`) for as long as the lease lasts.
//!
//! Why locks and not pids or heartbeats: a pid means nothing on another machine, and a heartbeat
//! TTL makes every crash cost the TTL before the key can be taken over. A session lock is freed by
//! the server the moment its session ends: a holder killed with `kill -9`, a machine that
//! crashed (once TCP notices) or a lost connection gives its leases up at once, wherever it ran.
//! The `leases` row stays the description of the holder (run, pid, host, heartbeat time on the
//! database clock) so `Lease::Busy` names it; the lock alone says whether it lives.
//!
//! Invariants:
//! - every change of a key's lease (acquire, release, failure, commit) runs in a transaction that
//!   first takes the key's transaction-level lock (`pg_advisory_xact_lock`, id `key`), and changes
//!   the lease lock (id `lease`) and the lease row together inside it; so under the key lock,
//!   "lock held by another session" with no row only happens after that holder committed the
//!   stage (then the stage row answers Done);
//! - a lease session holds each key's lock once: `held` maps the keys it holds to their run, and
//!   is consulted before locking (advisory locks are re-entrant within a session), so two runs of
//!   one process never both get `Acquired`;
//! - only non-blocking statements (`pg_try_advisory_lock`, `pg_advisory_unlock`, `SELECT 1`) run
//!   on the lease session, and its mutex is never held while waiting for a server lock or for a
//!   pooled connection; so no thread waits on the mutex behind a server-side wait or behind a
//!   pool that threads waiting on the mutex have drained;
//! - a lease session that fails a statement is dropped (its locks go with it on the server): its
//!   held keys become `lost`; a later `heartbeat` of a lost lease re-takes the lock if the row
//!   still names the run and nobody took it, else reports `LeaseTakenOver`;
//! - `begin_run` takes the run's lock (id `run`) in the lease session until `end_run`, which
//!   also gives up the session's leases of that run (their rows stay and are dead, as SQLite's
//!   leases of an ended run); `recover` tells dead runs by that lock, on any host.
//!
//! This file holds the lease session and the helpers every lease change shares (the key lock,
//! the lease row, ending a lease); `acquire.rs` takes a lease (or a dead holder's), and
//! `heartbeat.rs` keeps, releases and fails one.

use std::collections::{HashMap, HashSet};

use sqlx::{Connection, PgConnection};

use super::check::{load_file_refs, record_memos};
use super::{is_connection_error, PgCtx, PgStore, Site};
use crate::error::StoreError;
use crate::verify::verify_refs;
use crate::RunId;

/// Error text of an execution whose lease was released without a result.
pub(super) const RELEASED: &str = "released before completion";

/// The dedicated connection holding this store's lease and run locks.
pub(crate) struct LeaseSession {
    conn: Option<PgConnection>,
    /// Keys whose lease lock this session holds, with the run holding each.
    pub(super) held: HashMap<String, RunId>,
    /// Leases whose lock went with a dropped session: key → run.
    pub(super) lost: HashMap<String, RunId>,
    /// Runs begun through this store (their run lock is held while the session lives).
    pub(super) runs: HashSet<RunId>,
}

impl LeaseSession {
    pub(super) fn new(conn: Option<PgConnection>) -> LeaseSession {
        LeaseSession {
            conn,
            held: HashMap::new(),
            lost: HashMap::new(),
            runs: HashSet::new(),
        }
    }

    /// Drop the connection; its locks are gone with it.
    fn lose(&mut self) {
        self.conn = None;
        let held: Vec<_> = self.held.drain().collect();
        self.lost.extend(held);
    }

    /// The session's connection, reconnecting (and re-taking the run locks) if it was dropped.
    async fn conn(&mut self, store: &PgStore) -> Result<&mut PgConnection, StoreError> {
        if self.conn.is_none() {
            let mut conn =
                super::connect_within(&store.connect, &store.site, "reconnect the lease session")
                    .await?;
            // The runs begun here are alive again, unless `recover` judged one dead meanwhile
            // (it holds the lock while it marks the run interrupted).
            let mut taken = Vec::new();
            for &run in &self.runs {
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(store.lock_id("run", &run.to_string()))
                    .fetch_one(&mut conn)
                    .await
                    .ctx(&store.site, || format!("re-take the lock of run {run}"))?;
                if !got {
                    taken.push(run);
                }
            }
            for run in taken {
                self.runs.remove(&run);
            }
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    /// Run a scalar statement on the session, reconnecting once if the connection was lost.
    async fn scalar(
        &mut self,
        store: &PgStore,
        sql: &'static str,
        id: i64,
        what: impl Fn() -> String,
    ) -> Result<bool, StoreError> {
        for attempt in 0..2 {
            let conn = self.conn(store).await?;
            match sqlx::query_scalar::<_, bool>(sql)
                .bind(id)
                .fetch_one(conn)
                .await
            {
                Ok(b) => return Ok(b),
                Err(e) => {
                    self.lose();
                    if attempt > 0 || !is_connection_error(&e) {
                        return Err(store.site.err(what(), &e));
                    }
                }
            }
        }
        unreachable!("the second attempt returns")
    }

    /// Try to take advisory lock `id` without waiting.
    pub(super) async fn try_lock(
        &mut self,
        store: &PgStore,
        id: i64,
        what: impl Fn() -> String,
    ) -> Result<bool, StoreError> {
        self.scalar(store, "SELECT pg_try_advisory_lock($1)", id, what)
            .await
    }

    /// Give lock `id` back. A failure drops the session, which frees the lock as well.
    pub(super) async fn unlock(&mut self, id: i64) {
        if let Some(conn) = self.conn.as_mut() {
            let r = sqlx::query_scalar::<_, bool>("SELECT pg_advisory_unlock($1)")
                .bind(id)
                .fetch_one(conn)
                .await;
            if r.is_err() {
                self.lose();
            }
        }
    }

    /// Whether the session (and so every lock it holds) is still there; drops it if not.
    pub(super) async fn alive(&mut self) -> bool {
        let Some(conn) = self.conn.as_mut() else {
            return false;
        };
        if conn.ping().await.is_ok() {
            return true;
        }
        self.lose();
        false
    }

    /// Give every lock back and close the connection.
    pub(super) async fn close(mut self) {
        if let Some(mut conn) = self.conn.take() {
            let _ = sqlx::query("SELECT pg_advisory_unlock_all()")
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    }
}

/// The current lease row of a key.
pub(super) struct Holder {
    pub(super) run: RunId,
    pub(super) pid: u32,
    pub(super) host: String,
}

pub(super) async fn holder_of(
    conn: &mut PgConnection,
    site: &Site,
    key: &str,
) -> Result<Option<Holder>, StoreError> {
    let row: Option<(i64, i64, String)> =
        sqlx::query_as("SELECT run_id, pid, host FROM leases WHERE key = $1")
            .bind(key)
            .fetch_optional(conn)
            .await
            .ctx(site, || format!("read lease of stage {key}"))?;
    Ok(row.map(|(run, pid, host)| Holder {
        run,
        pid: pid.clamp(0, u32::MAX as i64) as u32,
        host,
    }))
}

/// Fail the still-running execution rows of `run` on `key` with `error`.
pub(super) async fn fail_running(
    conn: &mut PgConnection,
    site: &Site,
    key: &str,
    run: RunId,
    error: &str,
) -> Result<u64, StoreError> {
    let sql = concat!(
        "UPDATE executions SET status = 'failed', finished_at = ",
        db_now!(),
        ", error = $3
          WHERE key = $1 AND run_id = $2 AND status = 'running'"
    );
    Ok(sqlx::query(sql)
        .bind(key)
        .bind(run)
        .bind(error)
        .execute(conn)
        .await
        .ctx(site, || {
            format!("mark execution of stage {key} by run {run} failed")
        })?
        .rows_affected())
}

impl PgStore {
    /// Take the key's transaction lock (serializes every lease change and commit of the key).
    /// A transaction holding `key`'s transaction-level lock, the first step of every write
    /// that decides a key's lease or row (`what` names the write in errors).
    pub(super) async fn begin_on_key(
        &self,
        key: &str,
        what: &(dyn Fn() -> String + Sync),
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        let mut tx = self.begin(what).await?;
        self.lock_key(&mut tx, key).await?;
        Ok(tx)
    }

    /// Under `key`'s lock: whether a usable stage row is stored. A row is re-verified against
    /// its object files when `verify` (else trusted); the verification memo is recorded for a
    /// valid one, and an invalid one is deleted, so the key can be computed again.
    pub(super) async fn keep_valid_row(
        &self,
        conn: &mut PgConnection,
        key: &str,
        verify: bool,
    ) -> Result<bool, StoreError> {
        let site = &self.site;
        let Some(files) = load_file_refs(&mut *conn, site, &[key]).await?.remove(key) else {
            return Ok(false);
        };
        let mut updates = Vec::new();
        if !verify || verify_refs(&self.objects, &files, &mut updates).is_hit() {
            record_memos(&mut *conn, site, &updates).await?;
            return Ok(true);
        }
        sqlx::query("DELETE FROM stages WHERE key = $1")
            .bind(key)
            .execute(&mut *conn)
            .await
            .ctx(site, || {
                format!("delete stage {key} whose object files are invalid")
            })?;
        Ok(false)
    }

    pub(super) async fn lock_key(
        &self,
        conn: &mut PgConnection,
        key: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(self.lock_id("key", key))
            .execute(conn)
            .await
            .ctx(&self.site, || format!("lock stage {key}"))?;
        Ok(())
    }

    /// Give up this session's lease lock of `key` if `run` holds it (inside the caller's key
    /// lock, so the row change and the unlock are seen together).
    /// Ends `run`'s lease on `key` inside the caller's transaction: its row goes, and its
    /// session lock is dropped (commit, release and a recorded failure all end a lease so).
    pub(super) async fn end_lease(
        &self,
        conn: &mut PgConnection,
        key: &str,
        run: RunId,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE key = $1 AND run_id = $2")
            .bind(key)
            .bind(run)
            .execute(&mut *conn)
            .await
            .ctx(&self.site, || {
                format!("delete lease of stage {key} for run {run}")
            })?;
        self.drop_lease_lock(key, run).await
    }

    pub(super) async fn drop_lease_lock(&self, key: &str, run: RunId) -> Result<(), StoreError> {
        let mut ls = self
            .session(|| format!("release the lease on stage {key}"))
            .await?;
        if ls.held.get(key) == Some(&run) {
            ls.held.remove(key);
            ls.unlock(self.lock_id("lease", key)).await;
        }
        if ls.lost.get(key) == Some(&run) {
            ls.lost.remove(key);
        }
        Ok(())
    }
}
