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

use std::collections::{HashMap, HashSet};

use sqlx::{Connection, PgConnection};

use super::check::{load_file_refs, record_memos};
use super::{is_connection_error, PgCtx, PgStore, Site};
use crate::error::StoreError;
use crate::verify::verify_refs;
use crate::{CacheCheck, Lease, MissReason, RunId};

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

/// What the lease session answered for a key under the key lock.
enum Claim {
    /// This session already holds the key for this run.
    Own(RunId),
    /// Another session holds the key's lock.
    Taken,
    /// The lock is now ours.
    Got,
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

    /// The holder of a lock no lease row describes, from the session holding it
    /// (application name `mosx <pid> <host>`); run 0 stands for unknown.
    async fn holder_by_session(
        &self,
        conn: &mut PgConnection,
        lock: i64,
    ) -> Result<Lease, StoreError> {
        let app: Option<Option<String>> = sqlx::query_scalar(
            "SELECT a.application_name::text FROM pg_locks p JOIN pg_stat_activity a ON a.pid = p.pid
              WHERE p.locktype = 'advisory' AND p.granted AND p.objsubid = 1
                AND p.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND p.classid::bigint = (($1::bigint >> 32) & 4294967295)
                AND p.objid::bigint = ($1::bigint & 4294967295)
              LIMIT 1",
        )
            .bind(lock)
            .fetch_optional(conn)
            .await
            .ctx(&self.site, || "find the session holding a lease".into())?;
        let app = app.flatten().unwrap_or_default();
        let mut parts = app.splitn(3, ' ');
        let (pid, host) = match (parts.next(), parts.next(), parts.next()) {
            (Some("mosx"), Some(pid), Some(host)) => (pid.parse().unwrap_or(0), host.to_string()),
            _ => (
                0,
                if app.is_empty() {
                    "unknown".into()
                } else {
                    app
                },
            ),
        };
        Ok(Lease::Busy {
            run_id: 0,
            pid,
            host,
        })
    }

    /// `replace`: a forced rerun, which a stored row does not make Done (it stays until the
    /// forced commit replaces it).
    pub(super) async fn acquire_async(
        &self,
        key: &str,
        run: RunId,
        replace: bool,
    ) -> Result<Lease, StoreError> {
        let what = || format!("acquire lease on stage {key}");
        self.writable(what)?;
        // Verify object files without any lock first; the common answers need no rework.
        let pre = if replace {
            CacheCheck::Miss(MissReason::NotFound)
        } else {
            self.check_async(key).await?
        };
        if pre == CacheCheck::Hit {
            return Ok(Lease::Done);
        }
        let suspect_row = pre != CacheCheck::Miss(MissReason::NotFound);
        let site = &self.site;
        let mut tx = self.begin_on_key(key, &what).await?;
        // A row that appeared since the pre-check was just committed: trust it.
        if !replace && self.keep_valid_row(&mut tx, key, suspect_row).await? {
            tx.commit()
                .await
                .ctx(site, || format!("commit transaction to {}", what()))?;
            return Ok(Lease::Done);
        }
        let holder = holder_of(&mut tx, site, key).await?;
        let lock = self.lock_id("lease", key);
        let claim = {
            let mut ls = self.session(what).await?;
            match ls.held.get(key).copied() {
                Some(r) if ls.alive().await => Claim::Own(r),
                _ => {
                    if ls.try_lock(self, lock, what).await? {
                        ls.held.insert(key.to_string(), run);
                        ls.lost.remove(key);
                        Claim::Got
                    } else {
                        Claim::Taken
                    }
                }
            }
        };
        match claim {
            Claim::Own(r) => {
                tx.commit()
                    .await
                    .ctx(site, || format!("commit transaction to {}", what()))?;
                Ok(Lease::Busy {
                    run_id: r,
                    pid: self.pid,
                    host: self.host.clone(),
                })
            }
            Claim::Taken => {
                let busy = match holder {
                    Some(h) => Lease::Busy {
                        run_id: h.run,
                        pid: h.pid,
                        host: h.host,
                    },
                    None => self.holder_by_session(&mut tx, lock).await?,
                };
                tx.commit()
                    .await
                    .ctx(site, || format!("commit transaction to {}", what()))?;
                Ok(busy)
            }
            Claim::Got => {
                let written = async {
                    // We hold the lock: a row left is a dead holder's.
                    if let Some(h) = &holder {
                        let why = format!(
                            "interrupted: lease holder run {} (pid {} on {}) is gone; taken over by run {run}",
                            h.run, h.pid, h.host
                        );
                        fail_running(&mut tx, site, key, h.run, &why).await?;
                    }
                    let sql = concat!(
"INSERT INTO leases (key, run_id, pid, host, acquired_at, heartbeat_at, lock_id)
                         VALUES ($1, $2, $3, $4, ",
db_now!(),
", ",
db_now!(),
", $5)
                         ON CONFLICT (key) DO UPDATE SET run_id = EXCLUDED.run_id, pid = EXCLUDED.pid,
                             host = EXCLUDED.host, acquired_at = EXCLUDED.acquired_at,
                             heartbeat_at = EXCLUDED.heartbeat_at, lock_id = EXCLUDED.lock_id"
);
                    sqlx::query(sql)
                        .bind(key)
                        .bind(run)
                        .bind(self.pid as i64)
                        .bind(&self.host)
                        .bind(lock)
                        .execute(&mut *tx)
                        .await
                        .ctx(site, || format!("write lease of stage {key} for run {run}"))?;
                    let sql = concat!(
"INSERT INTO executions (key, run_id, started_at, status)
                         VALUES ($1, $2, ",
db_now!(),
", 'running')"
);
                    sqlx::query(sql)
                        .bind(key)
                        .bind(run)
                        .execute(&mut *tx)
                        .await
                        .ctx(site, || {
                            format!("open execution of stage {key} for run {run}")
                        })?;
                    tx.commit()
                        .await
                        .ctx(site, || format!("commit transaction to {}", what()))
                }
                .await;
                if let Err(e) = written {
                    self.drop_lease_lock(key, run).await?;
                    return Err(e);
                }
                Ok(Lease::Acquired)
            }
        }
    }

    pub(super) async fn heartbeat_async(&self, key: &str, run: RunId) -> Result<(), StoreError> {
        let what = || format!("heartbeat lease on stage {key}");
        self.writable(what)?;
        let site = &self.site;
        let lost = {
            let mut ls = self.session(what).await?;
            if ls.held.get(key) == Some(&run) {
                // The lock proves the lease; a dead session means it is lost.
                !ls.alive().await
            } else {
                ls.lost.get(key) == Some(&run)
            }
        };
        let mut tx = self.begin(&what).await?;
        if lost {
            self.lock_key(&mut tx, key).await?;
        }
        let sql = concat!(
            "UPDATE leases SET heartbeat_at = ",
            db_now!(),
            " WHERE key = $1 AND run_id = $2"
        );
        let n = sqlx::query(sql)
            .bind(key)
            .bind(run)
            .execute(&mut *tx)
            .await
            .ctx(site, || {
                format!("refresh lease of stage {key} for run {run}")
            })?
            .rows_affected();
        let mut taken_by = None;
        if n == 0 {
            taken_by = holder_of(&mut tx, site, key).await?.map(|h| h.run);
        } else if lost {
            // Our session died but nobody took the key: take the lock again.
            let lock = self.lock_id("lease", key);
            let mut ls = self.session(what).await?;
            if ls.try_lock(self, lock, what).await? {
                ls.lost.remove(key);
                ls.held.insert(key.to_string(), run);
            } else {
                taken_by = Some(0);
            }
        }
        tx.commit()
            .await
            .ctx(site, || format!("commit transaction to {}", what()))?;
        if lost && (n == 0 || taken_by.is_some()) {
            self.session(what).await?.lost.remove(key);
        }
        match taken_by {
            Some(holder) => Err(StoreError::LeaseTakenOver {
                db: site.loc.clone(),
                key: key.to_string(),
                run,
                holder,
            }),
            None => Ok(()),
        }
    }

    pub(super) async fn release_async(&self, key: &str, run: RunId) -> Result<(), StoreError> {
        let what = || format!("release lease on stage {key}");
        self.writable(what)?;
        let site = &self.site;
        let mut tx = self.begin_on_key(key, &what).await?;
        fail_running(&mut tx, site, key, run, RELEASED).await?;
        self.end_lease(&mut tx, key, run).await?;
        tx.commit()
            .await
            .ctx(site, || format!("commit transaction to {}", what()))
    }

    pub(super) async fn record_failure_async(
        &self,
        key: &str,
        name: &str,
        kind: &str,
        run: RunId,
        error: &str,
    ) -> Result<(), StoreError> {
        let what = || format!("record failure of stage {key}");
        self.writable(what)?;
        let site = &self.site;
        let mut tx = self.begin_on_key(key, &what).await?;
        let latest: Option<(i64, String, Option<String>)> = sqlx::query_as(
            "SELECT id, status, error FROM executions WHERE key = $1 AND run_id = $2
              ORDER BY id DESC LIMIT 1",
        )
        .bind(key)
        .bind(run)
        .fetch_optional(&mut *tx)
        .await
        .ctx(site, || {
            format!("read execution of stage {key} by run {run}")
        })?;
        let reuse = latest.and_then(|(id, status, err)| {
            (status == "running" || err.as_deref() == Some(RELEASED)).then_some(id)
        });
        let written = match reuse {
            Some(id) => {
                let sql = concat!(
                    "UPDATE executions SET status = 'failed', finished_at = ",
                    db_now!(),
                    ", error = $2,
                            kind = $3, name = $4 WHERE id = $1"
                );
                sqlx::query(sql)
                    .bind(id)
                    .bind(error)
                    .bind(kind)
                    .bind(name)
                    .execute(&mut *tx)
                    .await
            }
            None => {
                let sql = concat!(
"INSERT INTO executions (key, run_id, kind, name, started_at, finished_at, status, error)
                     VALUES ($1, $2, $3, $4, ",
db_now!(),
", ",
db_now!(),
", 'failed', $5)"
);
                sqlx::query(sql)
                    .bind(key)
                    .bind(run)
                    .bind(kind)
                    .bind(name)
                    .bind(error)
                    .execute(&mut *tx)
                    .await
            }
        };
        written.ctx(site, || {
            format!("write failed execution of stage {key} ({name})")
        })?;
        self.end_lease(&mut tx, key, run).await?;
        tx.commit()
            .await
            .ctx(site, || format!("commit transaction to {}", what()))
    }
}
