//! Taking a key's lease ([`PgStore::acquire_async`]): a stored row answers Done, a lock held by
//! a live session answers Busy (naming the holder from its lease row, else from the session),
//! and a free lock is taken, replacing the row of a dead holder and failing its execution.
//!
//! Invariants (on top of `leases.rs`'):
//! - object files are verified before any lock is taken; under the key lock only a row that
//!   appeared meanwhile, or one the pre-check found suspect, is looked at again;
//! - a lease is `Acquired` only once its row and its `running` execution are committed; if
//!   that write fails, the lock just taken is given back.

use sqlx::PgConnection;

use super::leases::{fail_running, holder_of, Holder};
use super::{PgCtx, PgStore};
use crate::error::StoreError;
use crate::{CacheCheck, Lease, MissReason, RunId};

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
        match self.claim(key, run, lock, &what).await? {
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
                let written = self.write_lease(tx, key, run, lock, holder, &what).await;
                if let Err(e) = written {
                    self.drop_lease_lock(key, run).await?;
                    return Err(e);
                }
                Ok(Lease::Acquired)
            }
        }
    }

    /// Ask the lease session for `key`'s lease lock (`lock`) for `run`, unless this session
    /// already holds the key.
    async fn claim(
        &self,
        key: &str,
        run: RunId,
        lock: i64,
        what: &(dyn Fn() -> String + Sync),
    ) -> Result<Claim, StoreError> {
        let mut ls = self.session(what).await?;
        Ok(match ls.held.get(key).copied() {
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
        })
    }

    /// With `key`'s lease lock just taken, in `tx` (under the key lock): fail the running
    /// execution of the dead `holder` whose row is left, write `run`'s lease row and its
    /// `running` execution, and commit.
    async fn write_lease(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
        key: &str,
        run: RunId,
        lock: i64,
        holder: Option<Holder>,
        what: &(dyn Fn() -> String + Sync),
    ) -> Result<(), StoreError> {
        let site = &self.site;
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
}
