//! Keeping and ending a lease: [`PgStore::heartbeat_async`] (refreshing the row, re-taking
//! the lock of a lease lost with a dropped session, or reporting `LeaseTakenOver`),
//! [`PgStore::release_async`] and [`PgStore::record_failure_async`].
//!
//! Invariants (on top of `leases.rs`'):
//! - a heartbeat of a lease whose lock the session holds takes no key lock; one of a lost
//!   lease takes it, and re-takes the lease lock only if the row still names the run;
//! - release and a recorded failure end the lease (row and lock) in the same transaction
//!   that fails the run's open execution; a failure reuses the run's latest execution row
//!   when it is still running or was released, else writes a new one.

use super::leases::{fail_running, holder_of, RELEASED};
use super::{PgCtx, PgStore};
use crate::error::StoreError;
use crate::RunId;

impl PgStore {
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
