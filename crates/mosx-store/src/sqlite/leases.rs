//! Leases and execution rows.
//!
//! Invariants:
//! - `acquire` decides inside one `BEGIN IMMEDIATE` transaction, so of any number of racing
//!   callers (threads or processes) at most one gets `Acquired` for a key while its holder lives;
//! - every `Acquired` opens exactly one `executions` row with status `running`, which is later
//!   finished by `commit` (ok), `record_failure` (failed), `release` or a takeover (failed);
//! - a stage row whose object files are missing or corrupt is deleted by `acquire` (after
//!   re-verifying under the write lock), so the key can be recomputed instead of answering Done.

use rusqlite::{params, OptionalExtension, Transaction};

use super::check::{load_file_refs, record_memos};
use super::SqliteStore;
use crate::error::{SqlCtx, StoreError};
use crate::liveness::{holder_alive, now};
use crate::verify::verify_refs;
use crate::{CacheCheck, Lease, MissReason, RunId};

/// Error text of an execution whose lease was released without a result.
pub(super) const RELEASED: &str = "released before completion";

/// The current lease row of a key, joined with whether its run has ended.
pub(super) struct Holder {
    pub(super) run: RunId,
    pub(super) pid: u32,
    pub(super) host: String,
    pub(super) heartbeat_at: f64,
    pub(super) run_ended: bool,
}

impl Holder {
    pub(super) fn alive(&self, my_host: &str, now: f64) -> bool {
        holder_alive(
            &self.host,
            self.pid,
            self.heartbeat_at,
            self.run_ended,
            my_host,
            now,
        )
    }
}

pub(super) fn holder_of(
    tx: &Transaction<'_>,
    store: &SqliteStore,
    key: &str,
) -> Result<Option<Holder>, StoreError> {
    tx.query_row(
        "SELECT l.run_id, l.pid, l.host, l.heartbeat_at, r.finished_at IS NOT NULL
           FROM leases l LEFT JOIN runs r ON r.id = l.run_id WHERE l.key = ?1",
        params![key],
        |r| {
            Ok(Holder {
                run: r.get(0)?,
                pid: r.get::<_, i64>(1)?.clamp(0, u32::MAX as i64) as u32,
                host: r.get(2)?,
                heartbeat_at: r.get(3)?,
                run_ended: r.get(4)?,
            })
        },
    )
    .optional()
    .ctx(&store.loc, || format!("read lease of stage {key}"))
}

/// Fail the still-running execution rows of `run` on `key` with `error`.
pub(super) fn fail_running(
    tx: &Transaction<'_>,
    store: &SqliteStore,
    key: &str,
    run: RunId,
    error: &str,
    now: f64,
) -> Result<usize, StoreError> {
    tx.execute(
        "UPDATE executions SET status = 'failed', finished_at = ?3, error = ?4
          WHERE key = ?1 AND run_id = ?2 AND status = 'running'",
        params![key, run, now, error],
    )
    .ctx(&store.loc, || {
        format!("mark execution of stage {key} by run {run} failed")
    })
}

impl SqliteStore {
    /// `replace`: a forced rerun, which a stored row does not make Done (it stays until the
    /// forced commit replaces it).
    pub(super) fn acquire_impl(
        &self,
        key: &str,
        run: RunId,
        replace: bool,
    ) -> Result<Lease, StoreError> {
        // Verify object files without the write lock first; the common answers need no rework.
        let pre = if replace {
            CacheCheck::Miss(MissReason::NotFound)
        } else {
            self.check_impl(key)?
        };
        if pre == CacheCheck::Hit {
            return Ok(Lease::Done);
        }
        let suspect_row = pre != CacheCheck::Miss(MissReason::NotFound);
        self.write_tx(
            || format!("acquire lease on stage {key}"),
            |tx| {
                let now = now();
                let refs = if replace {
                    Default::default()
                } else {
                    load_file_refs(tx, &self.loc, &[key])?
                };
                if let Some(files) = refs.get(key) {
                    // A row that appeared since the pre-check was just committed: trust it.
                    if !suspect_row {
                        return Ok(Lease::Done);
                    }
                    let mut updates = Vec::new();
                    if verify_refs(&self.objects, files, &mut updates).is_hit() {
                        record_memos(tx, &self.loc, &updates)?;
                        return Ok(Lease::Done);
                    }
                    tx.execute("DELETE FROM stages WHERE key = ?1", params![key])
                        .ctx(&self.loc, || format!("delete stage {key} whose object files are invalid"))?;
                }
                if let Some(h) = holder_of(tx, self, key)? {
                    if h.alive(&self.host, now) {
                        return Ok(Lease::Busy { run_id: h.run, pid: h.pid, host: h.host });
                    }
                    let why = format!(
                        "interrupted: lease holder run {} (pid {} on {}) is gone; taken over by run {run}",
                        h.run, h.pid, h.host
                    );
                    fail_running(tx, self, key, h.run, &why, now)?;
                }
                tx.execute(
                    "INSERT OR REPLACE INTO leases (key, run_id, pid, host, acquired_at, heartbeat_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                    params![key, run, self.pid, self.host, now],
                )
                .ctx(&self.loc, || format!("write lease of stage {key} for run {run}"))?;
                tx.execute(
                    "INSERT INTO executions (key, run_id, started_at, status) VALUES (?1, ?2, ?3, 'running')",
                    params![key, run, now],
                )
                .ctx(&self.loc, || format!("open execution of stage {key} for run {run}"))?;
                Ok(Lease::Acquired)
            },
        )
    }

    pub(super) fn heartbeat_impl(&self, key: &str, run: RunId) -> Result<(), StoreError> {
        self.write_tx(
            || format!("heartbeat lease on stage {key}"),
            |tx| {
                let n = tx
                    .execute(
                        "UPDATE leases SET heartbeat_at = ?3 WHERE key = ?1 AND run_id = ?2",
                        params![key, run, now()],
                    )
                    .ctx(&self.loc, || {
                        format!("refresh lease of stage {key} for run {run}")
                    })?;
                if n == 0 {
                    if let Some(h) = holder_of(tx, self, key)? {
                        return Err(StoreError::LeaseTakenOver {
                            db: self.loc.clone(),
                            key: key.to_string(),
                            run,
                            holder: h.run,
                        });
                    }
                }
                Ok(())
            },
        )
    }

    pub(super) fn release_impl(&self, key: &str, run: RunId) -> Result<(), StoreError> {
        self.write_tx(
            || format!("release lease on stage {key}"),
            |tx| {
                tx.execute(
                    "DELETE FROM leases WHERE key = ?1 AND run_id = ?2",
                    params![key, run],
                )
                .ctx(&self.loc, || {
                    format!("delete lease of stage {key} for run {run}")
                })?;
                fail_running(tx, self, key, run, RELEASED, now())?;
                Ok(())
            },
        )
    }

    pub(super) fn record_failure_impl(
        &self,
        key: &str,
        name: &str,
        kind: &str,
        run: RunId,
        error: &str,
    ) -> Result<(), StoreError> {
        self.write_tx(
            || format!("record failure of stage {key}"),
            |tx| {
                let now = now();
                let latest: Option<(i64, String, Option<String>)> = tx
                    .query_row(
                        "SELECT id, status, error FROM executions WHERE key = ?1 AND run_id = ?2
                          ORDER BY id DESC LIMIT 1",
                        params![key, run],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()
                    .ctx(&self.loc, || format!("read execution of stage {key} by run {run}"))?;
                let reuse = latest.and_then(|(id, status, err)| {
                    (status == "running" || err.as_deref() == Some(RELEASED)).then_some(id)
                });
                match reuse {
                    Some(id) => tx.execute(
                        "UPDATE executions SET status = 'failed', finished_at = ?2, error = ?3, kind = ?4, name = ?5
                          WHERE id = ?1",
                        params![id, now, error, kind, name],
                    ),
                    None => tx.execute(
                        "INSERT INTO executions (key, run_id, kind, name, started_at, finished_at, status, error)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?5, 'failed', ?6)",
                        params![key, run, kind, name, now, error],
                    ),
                }
                .ctx(&self.loc, || format!("write failed execution of stage {key} ({name})"))?;
                tx.execute("DELETE FROM leases WHERE key = ?1 AND run_id = ?2", params![key, run])
                    .ctx(&self.loc, || format!("delete lease of stage {key} for run {run}"))?;
                Ok(())
            },
        )
    }
}
