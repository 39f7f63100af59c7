//! Opening a [`PgStore`] (URL and connect options, its runtime, the first connection and the
//! schema, the lazy pool, the objects folder), taking connections and transactions from the
//! pool, running async work from the caller's thread, and closing everything on drop.
//!
//! Invariants:
//! - every connection (pooled or the lease session) carries the application name
//!   `mosx <pid> <host>`, the `lock_timeout` and, in a read-only store,
//!   `default_transaction_read_only`;
//! - no open waits longer than [`CONNECT_TIMEOUT`] per connection or [`ACQUIRE_TIMEOUT`] for a
//!   pooled one; after a connection failure each access probes the server first;
//! - a caller inside a tokio runtime is served on a scoped helper thread, never by blocking its
//!   own thread on the store's runtime;
//! - the objects folder is created only once the database is known to hold a store, and never
//!   by a read-only store.

use std::future::Future;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, Postgres};

use super::leases::LeaseSession;
use super::site::{is_connection_error, PgCtx, Site};
use super::{schema, Mode, PgStore, POOL_MAX};
use crate::error::{DbError, DbErrorKind, StoreError, StoreLocation};
use crate::liveness::hostname;
use crate::redact::url_secrets;

/// How long a statement waits for a lock.
const LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// How long opening one connection may take (sqlx itself has no connect timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a caller waits for a pooled connection. sqlx retries a refused connection until
/// this deadline, so it is how long a dead server takes to be reported: short, and once a
/// connection failed, later callers probe the server once ([`CONNECT_TIMEOUT`]) instead
/// (see [`PgStore::conn`]).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(8);

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
        let connect = connect_options(url, &site, read_only, pid, &host)?;
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
        let (first, pool, ns) = rt.block_on(open_database(&connect, &site, mode))?;
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

    pub(super) fn block<T: Send>(&self, f: impl Future<Output = T> + Send) -> T {
        block_on(self.rt.as_ref().expect("the runtime lives until drop"), f)
    }

    /// A pooled connection. After a connection failure (the server may be gone) one direct
    /// connect probes it first, so a dead server fails each access within [`CONNECT_TIMEOUT`]
    /// instead of the pool's retrying wait; a probe that connects clears the mark.
    pub(super) async fn conn(&self) -> Result<PoolConnection<Postgres>, StoreError> {
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
    pub(super) async fn begin(
        &self,
        what: impl FnOnce() -> String,
    ) -> Result<sqlx::Transaction<'static, Postgres>, StoreError> {
        let conn = self.conn().await?;
        sqlx::Transaction::begin(conn, None)
            .await
            .ctx(&self.site, || format!("begin transaction to {}", what()))
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

/// The options of every connection of a store at `url`: its application name
/// `mosx <pid> <host>` (cut to PostgreSQL's 63 bytes), the `lock_timeout`, no statement
/// logging and, when `read_only`, `default_transaction_read_only`.
fn connect_options(
    url: &str,
    site: &Site,
    read_only: bool,
    pid: u32,
    host: &str,
) -> Result<PgConnectOptions, StoreError> {
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
    Ok(connect)
}

/// Connect once, find the current database and schema, and prepare the schema for `mode`
/// (check its version and, in a writable mode, bring it up to date); then set up the lazy pool. Returns the first connection
/// (kept for the lease session; closed and None in a read-only store), the pool, and the
/// lock namespace `<database>.<schema>`.
async fn open_database(
    connect: &PgConnectOptions,
    site: &Site,
    mode: Mode,
) -> Result<(Option<PgConnection>, PgPool, String), StoreError> {
    let mut conn = connect_within(connect, site, "connect").await?;
    let (database, schema): (String, Option<String>) =
        sqlx::query_as("SELECT current_database()::text, current_schema()::text")
            .fetch_one(&mut conn)
            .await
            .ctx(site, || "read the current database and schema".into())?;
    let Some(schema) = schema else {
        return Err(StoreError::NoStore {
            db: site.loc.clone(),
            what: "no schema of the search_path exists".into(),
        });
    };
    schema::prepare(&mut conn, site, mode).await?;
    let pool = PgPoolOptions::new()
        .max_connections(POOL_MAX)
        .min_connections(0)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(Some(Duration::from_secs(120)))
        .connect_lazy_with(connect.clone());
    let first = if mode == Mode::ReadOnly {
        let _ = conn.close().await;
        None
    } else {
        Some(conn)
    };
    Ok((first, pool, format!("{database}.{schema}")))
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
