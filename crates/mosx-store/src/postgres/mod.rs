//! [`PgStore`]: the [`Store`] trait on PostgreSQL through sqlx, for stores shared by many
//! machines (a planner and workers on a cluster). Object files live in a folder every machine
//! mounts (`--objects DIR`), with the same size/blake3 checks, stat memo and atomic writes as
//! the SQLite backend (the shared `objects`, `verify`, `prepare`, `sweep` and `audit` modules).
//!
//! Client: the trait is synchronous and object safe; each `PgStore` owns a tokio runtime (one
//! worker thread driving the sockets) and every method runs its work with `Runtime::block_on`
//! on the caller's thread, so any number of threads may call one store at once (a caller that is
//! itself inside a tokio runtime is served on a scoped helper thread). Statements go through a
//! pool of at most [`POOL_MAX`] connections; leases and run liveness use one more, dedicated
//! connection, the *lease session* (see `leases.rs`). No TLS backend is compiled in (no rustls,
//! no OpenSSL): the store is meant for a cluster's private network or a unix socket; a URL with
//! `sslmode=require` fails to connect with a typed error. `lock_timeout` is 60 s (SQLite's busy
//! timeout). A lost server fails fast: a connect gives up after 5 s, a wait for a pooled
//! connection after 8 s, and once one failed, each later access probes the server with one
//! connect before waiting on the pool, so every access reports a dead server within seconds.
//!
//! Invariants:
//! - every stage commit is one transaction (stage, artifact and metric rows, the finished
//!   execution row, the lease row's deletion), taken under the key's transaction lock and the
//!   shared gc lock, so `gc` (exclusive gc lock) never judges a file while a commit that renames
//!   objects into place is open;
//! - the advisory locks of a store are namespaced by `<database>.<schema>`: two stores in one
//!   database (schemas) never contend;
//! - times the store stamps itself (runs, leases, executions, lineage) are the database's clock,
//!   one clock for every machine; stage times are the caller's, as given;
//! - a store opened read-only writes nothing: writing methods fail with
//!   `StoreError::ReadOnly`, no memo is recorded, no lease session is opened, and its sessions
//!   run with `default_transaction_read_only` so the server refuses writes too;
//! - the URL's password never appears in an error (see `error.rs`).
//!
//! `recover`, `gc` and `fsck` mean here: `recover` marks `running` runs whose owning session is
//! gone `interrupted` on any host (not only this one: the run lock tells), drops their dead
//! leases and fails their executions that no live session still holds, and removes this host's
//! dead writers' temp objects; `gc` removes unreferenced objects and leases whose lock no session
//! holds; `fsck` re-hashes everything and checks the applied migrations against this build
//! (PostgreSQL's own storage integrity is the server's: data checksums, `amcheck`).
//!
//! Layout: this module (the [`PgStore`] type, its small helpers and the [`Store`] impl, each
//! method a `block` on its async counterpart), `site` (the store's name in errors and the
//! sqlx → [`StoreError`] mapping), `connect` (opening a store: options, runtime, schema, pool;
//! taking connections; dropping), `leases` / `acquire` / `heartbeat` (the lease session and
//! lease changes), `check`, `read`, `commit`, `runs`, `gc`, `fsck` and `schema`.

/// The database clock in seconds since the Unix epoch, as an SQL literal (for `concat!`: sqlx
/// takes only `'static` SQL, so statements are assembled from literals at compile time).
macro_rules! db_now {
    () => {
        "extract(epoch from clock_timestamp())::float8"
    };
}

/// SQL: whether some session of this database holds the advisory lock whose bigint id is the
/// SQL expression `$id` (pg_locks shows a bigint key as classid = high half, objid = low half,
/// objsubid = 1).
macro_rules! lock_held {
    ($id:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM pg_locks p
                      WHERE p.locktype = 'advisory' AND p.granted AND p.objsubid = 1
                        AND p.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                        AND p.classid::bigint = ((",
            $id,
            " >> 32) & 4294967295) AND p.objid::bigint = (",
            $id,
            " & 4294967295))"
        )
    };
}

mod acquire;
mod attempts;
mod check;
mod commit;
mod connect;
mod fsck;
mod gc;
mod heartbeat;
mod leases;
mod read;
mod runs;
mod schema;
mod site;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sqlx::postgres::{PgConnectOptions, PgPool};

use crate::error::{StoreError, StoreLocation};
use crate::{
    Artifact, ArtifactMeta, CacheCheck, FsckReport, GcReport, Lease, RecoverReport, RunId, RunInfo,
    StageRecord, StageSummary, Store,
};
use connect::connect_within;
use leases::LeaseSession;
use site::{is_connection_error, PgCtx, Site};

/// Most pooled connections per store (the lease session comes on top).
pub const POOL_MAX: u32 = 8;

/// How a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Read-write, creating the schema if the database has none.
    Create,
    /// Read-write, only if the database already holds a store (else `StoreError::NoStore`).
    Existing,
    /// Read-only, only if the database already holds a store at this build's schema version.
    ReadOnly,
}

pub struct PgStore {
    /// The runtime driving this store's connections; taken only by `drop`.
    rt: Option<tokio::runtime::Runtime>,
    pool: PgPool,
    /// Options of every connection (the pool's and the lease session's).
    connect: PgConnectOptions,
    /// The lease session; None in a read-only store. An async mutex: it is held across the
    /// session's statements (see `leases.rs` for why that never waits behind a server lock).
    lease: Option<tokio::sync::Mutex<LeaseSession>>,
    site: Site,
    objects: PathBuf,
    host: String,
    pid: u32,
    read_only: bool,
    /// Namespace of this store's advisory locks: `<database>.<schema>`.
    ns: String,
    /// Set when taking a connection failed for a connection reason (see [`PgStore::conn`]).
    down: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("db", &self.site.loc)
            .field("objects", &self.objects)
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl PgStore {
    /// Whether this store was opened with [`PgStore::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Absolute path of the objects directory.
    pub fn objects_dir(&self) -> &Path {
        &self.objects
    }

    /// The store's location as errors name it (the URL without its password).
    pub fn location(&self) -> &StoreLocation {
        &self.site.loc
    }

    fn writable(&self, what: impl FnOnce() -> String) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                db: self.site.loc.clone(),
                what: what(),
            });
        }
        Ok(())
    }

    /// The lease session (a writable store always has one).
    async fn session(
        &self,
        what: impl FnOnce() -> String,
    ) -> Result<tokio::sync::MutexGuard<'_, LeaseSession>, StoreError> {
        match &self.lease {
            Some(m) => Ok(m.lock().await),
            None => Err(StoreError::ReadOnly {
                db: self.site.loc.clone(),
                what: what(),
            }),
        }
    }

    /// This store's advisory lock id for `name` with `purpose` (`lease`, `key`, `run`, `gc`).
    fn lock_id(&self, purpose: &str, name: &str) -> i64 {
        let mut h = blake3::Hasher::new();
        h.update(purpose.as_bytes());
        h.update(&[0]);
        h.update(self.ns.as_bytes());
        h.update(&[0]);
        h.update(name.as_bytes());
        let b = h.finalize();
        i64::from_le_bytes(b.as_bytes()[..8].try_into().unwrap_or([0; 8]))
    }

    fn work_dir_path(&self, key: &str) -> PathBuf {
        self.objects.join(crate::objects::WORK_DIR).join(key)
    }

    fn json_err(
        &self,
        table: &'static str,
        row: &str,
        column: &'static str,
        cause: serde_json::Error,
    ) -> StoreError {
        StoreError::Json {
            db: self.site.loc.clone(),
            table,
            row: row.to_string(),
            column,
            cause,
        }
    }
}

impl Store for PgStore {
    fn begin_run(&self, info: &RunInfo) -> Result<RunId, StoreError> {
        self.block(self.begin_run_async(info))
    }
    fn end_run(
        &self,
        run: RunId,
        status: &str,
        summary: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.block(self.end_run_async(run, status, summary))
    }
    fn check(&self, key: &str) -> Result<CacheCheck, StoreError> {
        self.block(self.check_async(key))
    }
    fn check_many(&self, keys: &[String]) -> Result<HashMap<String, CacheCheck>, StoreError> {
        self.block(self.check_many_async(keys))
    }
    fn acquire(&self, key: &str, run: RunId) -> Result<Lease, StoreError> {
        self.block(self.acquire_async(key, run, false))
    }
    fn acquire_replacing(&self, key: &str, run: RunId) -> Result<Lease, StoreError> {
        self.block(self.acquire_async(key, run, true))
    }
    fn heartbeat(&self, key: &str, run: RunId) -> Result<(), StoreError> {
        self.block(self.heartbeat_async(key, run))
    }
    fn release(&self, key: &str, run: RunId) -> Result<(), StoreError> {
        self.block(self.release_async(key, run))
    }
    fn commit(
        &self,
        rec: &StageRecord,
        artifacts: &[Artifact],
        metrics: &[(String, f64)],
    ) -> Result<(), StoreError> {
        self.block(self.commit_async(rec, artifacts, metrics, false))?;
        // The row is durable: the stage's scratch folder (partial checkpoints) is garbage.
        let _ = std::fs::remove_dir_all(self.work_dir_path(&rec.key));
        Ok(())
    }
    fn commit_replacing(
        &self,
        rec: &StageRecord,
        artifacts: &[Artifact],
        metrics: &[(String, f64)],
    ) -> Result<(), StoreError> {
        self.block(self.commit_async(rec, artifacts, metrics, true))?;
        let _ = std::fs::remove_dir_all(self.work_dir_path(&rec.key));
        Ok(())
    }
    fn record_failure(
        &self,
        key: &str,
        name: &str,
        kind: &str,
        run: RunId,
        error: &str,
    ) -> Result<(), StoreError> {
        self.block(self.record_failure_async(key, name, kind, run, error))
    }
    fn record(&self, key: &str) -> Result<Option<StageRecord>, StoreError> {
        self.block(self.record_async(key))
    }
    fn work_dir(&self, key: &str) -> Result<PathBuf, StoreError> {
        crate::objects::validate_key(key).map_err(|m| StoreError::InvalidKey {
            db: self.site.loc.clone(),
            key: key.to_string(),
            reason: m,
        })?;
        Ok(self.work_dir_path(key))
    }
    fn artifact(&self, key: &str, name: &str) -> Result<Vec<u8>, StoreError> {
        self.block(self.artifact_async(key, name))
    }
    fn artifact_path(&self, key: &str, name: &str) -> Result<Option<PathBuf>, StoreError> {
        self.block(self.artifact_path_async(key, name))
    }
    fn artifacts(&self, key: &str) -> Result<Vec<ArtifactMeta>, StoreError> {
        self.block(self.artifacts_async(key))
    }
    fn metrics(&self, key: &str) -> Result<Vec<(String, f64)>, StoreError> {
        self.block(self.metrics_async(key))
    }
    fn find_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.block(self.find_prefix_async(prefix))
    }
    fn list(&self, kind: Option<&str>, failed_only: bool) -> Result<Vec<StageSummary>, StoreError> {
        self.block(self.list_async(kind, failed_only))
    }
    fn record_attempt(&self, attempt: &crate::JobAttempt) -> Result<(), StoreError> {
        self.block(self.record_attempt_async(attempt))
    }
    fn attempts(&self, key: &str) -> Result<Vec<crate::JobAttempt>, StoreError> {
        self.block(self.attempts_async(key))
    }
    fn executions(&self, key: &str) -> Result<usize, StoreError> {
        self.block(self.executions_async(key))
    }
    fn lineage_get(
        &self,
        scope: &str,
        node: &str,
    ) -> Result<Option<(String, serde_json::Value)>, StoreError> {
        self.block(self.lineage_get_async(scope, node))
    }
    fn lineage_put(
        &self,
        scope: &str,
        node: &str,
        key: &str,
        parts: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.block(self.lineage_put_many_async(
            scope,
            &[(node.to_string(), key.to_string(), parts.clone())],
            false,
        ))
    }
    fn lineage_put_many(
        &self,
        scope: &str,
        entries: &[(String, String, serde_json::Value)],
    ) -> Result<(), StoreError> {
        self.block(self.lineage_put_many_async(scope, entries, true))
    }
    fn invalidate(&self, key: &str) -> Result<bool, StoreError> {
        self.block(self.invalidate_async(key))
    }
    fn gc(&self, dry_run: bool) -> Result<GcReport, StoreError> {
        self.block(self.gc_async(dry_run))
    }
    fn recover(&self) -> Result<RecoverReport, StoreError> {
        self.block(self.recover_async())
    }
    fn fsck(&self, repair: bool) -> Result<FsckReport, StoreError> {
        self.block(self.fsck_async(repair))
    }
}
