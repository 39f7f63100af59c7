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

mod check;
mod commit;
mod fsck;
mod gc;
mod leases;
mod read;
mod runs;
mod schema;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, Postgres};

use crate::error::{DbError, DbErrorKind, StoreError, StoreLocation};
use crate::liveness::hostname;
use crate::redact::url_secrets;
use crate::{
    Artifact, ArtifactMeta, CacheCheck, FsckReport, GcReport, Lease, RecoverReport, RunId, RunInfo,
    StageRecord, StageSummary, Store,
};
use leases::LeaseSession;

/// Most pooled connections per store (the lease session comes on top).
pub const POOL_MAX: u32 = 8;

/// How long a statement waits for a lock.
const LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// How long opening one connection may take (sqlx itself has no connect timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a caller waits for a pooled connection. sqlx retries a refused connection until
/// this deadline, so it is how long a dead server takes to be reported: short, and once a
/// connection failed, later callers probe the server once ([`CONNECT_TIMEOUT`]) instead
/// (see [`PgStore::conn`]).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(8);

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

/// The store's name in errors, and the secrets to scrub from driver messages.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    pub(crate) loc: StoreLocation,
    secrets: Vec<String>,
}

impl Site {
    fn scrub(&self, msg: String) -> String {
        self.secrets
            .iter()
            .filter(|s| !s.is_empty())
            .fold(msg, |m, s| m.replace(s.as_str(), "***"))
    }

    /// A sqlx failure as a [`StoreError`] naming this store and `context`.
    pub(crate) fn err(&self, context: String, e: &sqlx::Error) -> StoreError {
        StoreError::Database {
            db: self.loc.clone(),
            context,
            cause: DbError {
                kind: pg_kind(e),
                code: match e {
                    sqlx::Error::Database(d) => d.code().map(|c| c.into_owned()),
                    _ => None,
                },
                message: self.scrub(e.to_string()),
            },
        }
    }
}

/// The kind of a sqlx failure, from its SQLSTATE class where it has one.
fn pg_kind(e: &sqlx::Error) -> DbErrorKind {
    match e {
        sqlx::Error::Database(d) => {
            let code = d.code().map(|c| c.into_owned()).unwrap_or_default();
            match code.as_str() {
                "40001" | "40P01" | "55P03" | "57014" => DbErrorKind::Busy,
                "XX001" | "XX002" => DbErrorKind::Corrupt,
                "3D000" | "57P01" | "57P02" | "57P03" => DbErrorKind::Connection,
                c if c.starts_with("08") || c.starts_with("28") => DbErrorKind::Connection,
                c if c.starts_with("23") => DbErrorKind::Constraint,
                "42501" => DbErrorKind::Query,
                c if c.starts_with("42") => DbErrorKind::Schema,
                _ => DbErrorKind::Query,
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => DbErrorKind::Connection,
        sqlx::Error::Migrate(_) => DbErrorKind::Schema,
        _ => DbErrorKind::Query,
    }
}

/// Attach the store and a context phrase to a sqlx result.
pub(crate) trait PgCtx<T> {
    fn ctx(self, site: &Site, context: impl FnOnce() -> String) -> Result<T, StoreError>;
}

impl<T> PgCtx<T> for Result<T, sqlx::Error> {
    fn ctx(self, site: &Site, context: impl FnOnce() -> String) -> Result<T, StoreError> {
        self.map_err(|e| site.err(context(), &e))
    }
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
    /// Open (creating the schema if needed, migrating it if older) the store in the database of
    /// `url` (`postgres://` or `postgresql://`; a `search_path` given in its `options` parameter
    /// selects the schema), with its object files under `objects` (created if needed).
    pub fn open(url: &str, objects: &Path) -> Result<PgStore, StoreError> {
        PgStore::connect(url, objects, Mode::Create)
    }

    /// Open an existing store without writing anything: no migration, no objects folder, no
    /// memo, no lease session. [`StoreError::NoStore`] if the database holds no store.
    pub fn open_read_only(url: &str, objects: &Path) -> Result<PgStore, StoreError> {
        PgStore::connect(url, objects, Mode::ReadOnly)
    }

    pub(crate) fn connect(url: &str, objects: &Path, mode: Mode) -> Result<PgStore, StoreError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            // An async caller: its thread may not block on a runtime (see `block_on`).
            return std::thread::scope(|scope| {
                scope
                    .spawn(|| PgStore::connect_here(url, objects, mode))
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
        }
        PgStore::connect_here(url, objects, mode)
    }

    fn connect_here(url: &str, objects: &Path, mode: Mode) -> Result<PgStore, StoreError> {
        let site = Site {
            loc: StoreLocation::postgres(url),
            secrets: url_secrets(url),
        };
        let read_only = mode == Mode::ReadOnly;
        let host = hostname();
        let pid = std::process::id();
        let mut connect = PgConnectOptions::from_str(url).map_err(|e| StoreError::BadLocation {
            location: site.loc.to_string(),
            reason: site.scrub(e.to_string()),
        })?;
        let mut app = format!("mosx {pid} {host}");
        app.truncate(63);
        connect = connect
            .application_name(&app)
            .options([("lock_timeout", format!("{}s", LOCK_TIMEOUT.as_secs()))])
            .disable_statement_logging();
        if read_only {
            connect = connect.options([("default_transaction_read_only", "on")]);
        }
        let objects = crate::sqlite::absolute(objects)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mosx-store-pg")
            .enable_all()
            .build()
            .map_err(|cause| StoreError::Runtime {
                db: site.loc.clone(),
                cause,
            })?;
        let (first, pool, ns) = rt.block_on(async {
            let mut conn = connect_within(&connect, &site, "connect").await?;
            let (database, schema): (String, Option<String>) =
                sqlx::query_as("SELECT current_database()::text, current_schema()::text")
                    .fetch_one(&mut conn)
                    .await
                    .ctx(&site, || "read the current database and schema".into())?;
            let Some(schema) = schema else {
                return Err(StoreError::NoStore {
                    db: site.loc.clone(),
                    what: "no schema of the search_path exists".into(),
                });
            };
            schema::prepare(&mut conn, &site, mode).await?;
            let pool = PgPoolOptions::new()
                .max_connections(POOL_MAX)
                .min_connections(0)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .idle_timeout(Some(Duration::from_secs(120)))
                .connect_lazy_with(connect.clone());
            let first = if read_only {
                let _ = conn.close().await;
                None
            } else {
                Some(conn)
            };
            Ok::<_, StoreError>((first, pool, format!("{database}.{schema}")))
        })?;
        let store = PgStore {
            rt: Some(rt),
            pool,
            connect,
            lease: (!read_only).then(|| tokio::sync::Mutex::new(LeaseSession::new(first))),
            site,
            objects,
            host,
            pid,
            read_only,
            ns,
            down: std::sync::atomic::AtomicBool::new(false),
        };
        // Created only once the database is known to hold (or now holds) a store.
        if !read_only {
            std::fs::create_dir_all(&store.objects).map_err(|cause| StoreError::Io {
                db: store.site.loc.clone(),
                path: store.objects.clone(),
                context: "create the objects directory".into(),
                cause,
            })?;
        }
        Ok(store)
    }

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

    fn block<T: Send>(&self, f: impl Future<Output = T> + Send) -> T {
        block_on(self.rt.as_ref().expect("the runtime lives until drop"), f)
    }

    /// A pooled connection. After a connection failure (the server may be gone) one direct
    /// connect probes it first, so a dead server fails each access within [`CONNECT_TIMEOUT`]
    /// instead of the pool's retrying wait; a probe that connects clears the mark.
    async fn conn(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        let context = || "take a connection from the pool".to_string();
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            let probe =
                connect_within(&self.connect, &self.site, "reach the database again").await?;
            let _ = probe.close().await;
            self.down.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        match self.pool.acquire().await {
            Ok(c) => Ok(c),
            Err(e) => {
                if is_connection_error(&e) {
                    self.down.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                Err(match e {
                    sqlx::Error::PoolTimedOut => self.unreachable(context()),
                    e => self.site.err(context(), &e),
                })
            }
        }
    }

    /// The error of a pool that found no connection within [`ACQUIRE_TIMEOUT`].
    fn unreachable(&self, context: String) -> StoreError {
        StoreError::Database {
            db: self.site.loc.clone(),
            context,
            cause: DbError {
                kind: DbErrorKind::Connection,
                code: None,
                message: format!(
                    "no connection to the database within {} s (is the server down or unreachable?)",
                    ACQUIRE_TIMEOUT.as_secs()
                ),
            },
        }
    }

    /// Begin a transaction on a pooled connection.
    async fn begin(
        &self,
        what: impl FnOnce() -> String,
    ) -> Result<sqlx::Transaction<'static, Postgres>, StoreError> {
        let conn = self.conn().await?;
        sqlx::Transaction::begin(conn, None)
            .await
            .ctx(&self.site, || format!("begin transaction to {}", what()))
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

impl Drop for PgStore {
    fn drop(&mut self) {
        // Give every lock back at once (a dropped store is a holder that went away), then close.
        let session = self.lease.take().map(tokio::sync::Mutex::into_inner);
        let pool = self.pool.clone();
        self.block(async move {
            if let Some(s) = session {
                s.close().await;
            }
            pool.close().await;
        });
        // Nothing is left running on it; shutting down without waiting is allowed anywhere,
        // including inside an async caller.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Run `f` to completion on `rt` from the caller's thread. Called from inside another tokio
/// runtime (an async caller), where blocking that thread on a runtime is not allowed, it runs on
/// a scoped helper thread instead.
fn block_on<T: Send>(rt: &tokio::runtime::Runtime, f: impl Future<Output = T> + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return rt.block_on(f);
    }
    std::thread::scope(|scope| {
        scope
            .spawn(|| rt.block_on(f))
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Open one connection, giving up after [`LOCK_TIMEOUT`] (sqlx has no connect timeout: an
/// unanswering host would otherwise hang the caller).
pub(crate) async fn connect_within(
    connect: &PgConnectOptions,
    site: &Site,
    what: &str,
) -> Result<PgConnection, StoreError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, connect.connect()).await {
        Ok(r) => r.ctx(site, || what.to_string()),
        Err(_) => Err(StoreError::Database {
            db: site.loc.clone(),
            context: what.to_string(),
            cause: DbError {
                kind: DbErrorKind::Connection,
                code: None,
                message: format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            },
        }),
    }
}

/// Whether an error is a lost or unreachable connection (the session and its locks are gone).
pub(crate) fn is_connection_error(e: &sqlx::Error) -> bool {
    pg_kind(e) == DbErrorKind::Connection
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
