//! [`SqliteStore`]: the [`Store`] trait on one SQLite file in WAL mode.
//!
//! Invariants:
//! - one connection per `SqliteStore`, behind a `Mutex` (so the store is `Send + Sync`); several
//!   stores (threads or processes) may open the same file, `busy_timeout` absorbs lock waits;
//! - every write that reads before it writes runs in a `BEGIN IMMEDIATE` transaction, so no
//!   transaction ever needs a read-to-write upgrade (which SQLite cannot wait for);
//! - object files are hashed/verified outside the mutex wherever the answer does not need the
//!   write lock.

mod attempts;
mod check;
mod commit;
mod create;
mod fsck;
mod gc;
mod leases;
mod lineage;
mod read;
mod runs;
mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::{sqlite_cause, SqlCtx, StoreError, StoreLocation};
use crate::liveness::hostname;
use crate::{
    Artifact, ArtifactMeta, CacheCheck, FsckReport, GcReport, Lease, RecoverReport, RunId, RunInfo,
    StageRecord, StageSummary, Store,
};
use create::Schemaless;
use schema::{check_version, migrate, user_version};

/// How long a statement waits for another connection's lock before failing with SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct SqliteStore {
    conn: Mutex<Connection>,
    db: PathBuf,
    /// `db` as errors name it.
    loc: StoreLocation,
    objects: PathBuf,
    host: String,
    pid: u32,
    /// Opened with [`SqliteStore::open_read_only`]: nothing is ever written (no WAL switch, no
    /// migration, no verification memos); writing methods fail with `StoreError::ReadOnly`.
    read_only: bool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("db", &self.db)
            .field("objects", &self.objects)
            .finish()
    }
}

impl SqliteStore {
    /// Open (creating if needed) the store database at `path`; its objects dir is
    /// `<dir of path>/objects/`. Sets WAL mode, `busy_timeout`, foreign keys, and migrates the
    /// schema.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with_objects(path, None)
    }

    /// [`SqliteStore::open`] with the objects dir at `objects` (created if needed) instead of
    /// beside the database when given.
    pub fn open_with_objects(
        path: &Path,
        objects: Option<&Path>,
    ) -> Result<SqliteStore, StoreError> {
        let db = absolute(path)?;
        let loc = StoreLocation::sqlite(&db);
        create::refuse_folder(&db, &loc)?;
        let objects = match objects {
            Some(o) => absolute(o)?,
            None => default_objects(&db),
        };
        std::fs::create_dir_all(&objects).map_err(|cause| StoreError::Io {
            db: loc.clone(),
            path: objects.clone(),
            context: "create the objects directory".into(),
            cause,
        })?;
        create::remove_stale_temps(&db);
        create::create_if_absent(&db, &loc)?;
        let wal_absent = create::wal_absent(&db);
        // No CREATE flag: the file exists, with its schema (see `create.rs`).
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn =
            Connection::open_with_flags(&db, flags).ctx(&loc, || "open database".into())?;
        if user_version(&conn, &loc)? == 0
            && create::schemaless(&conn, wal_absent, &loc)? == Schemaless::MissingWal
        {
            return Err(create::missing_wal(&db, &loc));
        }
        conn.busy_timeout(BUSY_TIMEOUT)
            .ctx(&loc, || "set busy_timeout".into())?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .ctx(&loc, || "set PRAGMA journal_mode = WAL".into())?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database {
                db: loc.clone(),
                context: format!("set PRAGMA journal_mode = WAL (database answered {mode:?})"),
                cause: sqlite_cause(&rusqlite::Error::InvalidQuery),
            });
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .ctx(&loc, || "set PRAGMA synchronous".into())?;
        conn.pragma_update(None, "foreign_keys", true)
            .ctx(&loc, || "set PRAGMA foreign_keys".into())?;
        migrate(&mut conn, &loc)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            db,
            loc,
            objects,
            host: hostname(),
            pid: std::process::id(),
            read_only: false,
        })
    }

    /// Open an existing store without writing anything to it or beside it: SQLite's read-only
    /// mode (no WAL switch, no migration, no objects folder created, no verification memos).
    /// Works on a read-only file or file system: when SQLite cannot open the WAL index there,
    /// the database is opened as immutable (nobody can be writing to it). A missing database
    /// file is [`StoreError::NoStore`].
    pub fn open_read_only(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_read_only_with_objects(path, None)
    }

    /// [`SqliteStore::open_read_only`] with the objects dir at `objects` when given.
    pub fn open_read_only_with_objects(
        path: &Path,
        objects: Option<&Path>,
    ) -> Result<SqliteStore, StoreError> {
        let db = absolute(path)?;
        let loc = StoreLocation::sqlite(&db);
        create::refuse_folder(&db, &loc)?;
        if !db.is_file() {
            return Err(StoreError::NoStore {
                db: loc,
                what: "no database file".into(),
            });
        }
        let objects = match objects {
            Some(o) => absolute(o)?,
            None => default_objects(&db),
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let wal_absent = create::wal_absent(&db);
        let open = |uri: String| -> Result<Connection, StoreError> {
            let conn = Connection::open_with_flags(uri, flags)
                .ctx(&loc, || "open database read-only".into())?;
            conn.busy_timeout(BUSY_TIMEOUT)
                .ctx(&loc, || "set busy_timeout".into())?;
            if user_version(&conn, &loc)? == 0 {
                match create::schemaless(&conn, wal_absent, &loc)? {
                    Schemaless::HasTables => {}
                    Schemaless::Empty => {
                        return Err(StoreError::NoStore {
                            db: loc.clone(),
                            what: "the database file holds no schema".into(),
                        })
                    }
                    Schemaless::MissingWal => return Err(create::missing_wal(&db, &loc)),
                }
            }
            check_version(&conn, &loc)?;
            Ok(conn)
        };
        let uri = |extra: &str| format!("file:{}?mode=ro{extra}", uri_path(&db));
        let conn = match open(uri("")) {
            Ok(c) => c,
            Err(e @ (StoreError::NoStore { .. } | StoreError::WalMissing { .. })) => return Err(e),
            Err(first) => match open(uri("&immutable=1")) {
                Ok(c) => c,
                Err(_) => return Err(first),
            },
        };
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            db,
            loc,
            objects,
            host: hostname(),
            pid: std::process::id(),
            read_only: true,
        })
    }

    /// Whether this store was opened with [`SqliteStore::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Absolute path of the objects directory (`<dir of the db>/objects` unless overridden).
    pub fn objects_dir(&self) -> &Path {
        &self.objects
    }

    /// `<objects>/.work/<key>`: see [`Store::work_dir`].
    pub(crate) fn work_dir_path(&self, key: &str) -> PathBuf {
        self.objects.join(crate::objects::WORK_DIR).join(key)
    }

    /// Absolute path of the database file.
    pub fn db_path(&self) -> &Path {
        &self.db
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no open transaction: rusqlite rolls back on drop.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run `f` inside a `BEGIN IMMEDIATE` transaction, committing on Ok.
    fn write_tx<T>(
        &self,
        what: impl Fn() -> String,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                db: self.loc.clone(),
                what: what(),
            });
        }
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(&self.loc, || format!("begin transaction to {}", what()))?;
        let out = f(&tx)?;
        tx.commit()
            .ctx(&self.loc, || format!("commit transaction to {}", what()))?;
        Ok(out)
    }

    fn json_err(
        &self,
        table: &'static str,
        row: &str,
        column: &'static str,
        cause: serde_json::Error,
    ) -> StoreError {
        StoreError::Json {
            db: self.loc.clone(),
            table,
            row: row.to_string(),
            column,
            cause,
        }
    }
}

/// `<dir of db>/objects`, the default objects dir.
fn default_objects(db: &Path) -> PathBuf {
    db.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"))
        .join("objects")
}

/// `path` made absolute against the working directory.
pub(crate) fn absolute(path: &Path) -> Result<PathBuf, StoreError> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()
        .map_err(|cause| StoreError::Io {
            db: StoreLocation::sqlite(path),
            path: path.into(),
            context: "resolve the current directory".into(),
            cause,
        })?
        .join(path))
}

/// A path escaped for an SQLite `file:` URI.
fn uri_path(p: &Path) -> String {
    let mut out = String::new();
    for b in p.to_string_lossy().bytes() {
        match b {
            b'%' | b'?' | b'#' | 0x80..=0xff => out.push_str(&format!("%{b:02X}")),
            _ => out.push(b as char),
        }
    }
    out
}

impl Store for SqliteStore {
    fn begin_run(&self, info: &RunInfo) -> Result<RunId, StoreError> {
        self.begin_run_impl(info)
    }
    fn end_run(
        &self,
        run: RunId,
        status: &str,
        summary: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.end_run_impl(run, status, summary)
    }
    fn check(&self, key: &str) -> Result<CacheCheck, StoreError> {
        self.check_impl(key)
    }
    fn check_many(&self, keys: &[String]) -> Result<HashMap<String, CacheCheck>, StoreError> {
        self.check_many_impl(keys)
    }
    fn acquire(&self, key: &str, run: RunId) -> Result<Lease, StoreError> {
        self.acquire_impl(key, run, false)
    }
    fn acquire_replacing(&self, key: &str, run: RunId) -> Result<Lease, StoreError> {
        self.acquire_impl(key, run, true)
    }
    fn heartbeat(&self, key: &str, run: RunId) -> Result<(), StoreError> {
        self.heartbeat_impl(key, run)
    }
    fn release(&self, key: &str, run: RunId) -> Result<(), StoreError> {
        self.release_impl(key, run)
    }
    fn commit(
        &self,
        rec: &StageRecord,
        artifacts: &[Artifact],
        metrics: &[(String, f64)],
    ) -> Result<(), StoreError> {
        self.commit_impl(rec, artifacts, metrics, false)?;
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
        self.commit_impl(rec, artifacts, metrics, true)?;
        let _ = std::fs::remove_dir_all(self.work_dir_path(&rec.key));
        Ok(())
    }
    fn work_dir(&self, key: &str) -> Result<PathBuf, StoreError> {
        crate::objects::validate_key(key).map_err(|m| StoreError::InvalidKey {
            db: self.loc.clone(),
            key: key.to_string(),
            reason: m,
        })?;
        Ok(self.work_dir_path(key))
    }
    fn record_failure(
        &self,
        key: &str,
        name: &str,
        kind: &str,
        run: RunId,
        error: &str,
    ) -> Result<(), StoreError> {
        self.record_failure_impl(key, name, kind, run, error)
    }
    fn record(&self, key: &str) -> Result<Option<StageRecord>, StoreError> {
        self.record_impl(key)
    }
    fn artifact(&self, key: &str, name: &str) -> Result<Vec<u8>, StoreError> {
        self.artifact_impl(key, name)
    }
    fn artifact_path(&self, key: &str, name: &str) -> Result<Option<PathBuf>, StoreError> {
        self.artifact_path_impl(key, name)
    }
    fn artifacts(&self, key: &str) -> Result<Vec<ArtifactMeta>, StoreError> {
        self.artifacts_impl(key)
    }
    fn metrics(&self, key: &str) -> Result<Vec<(String, f64)>, StoreError> {
        self.metrics_impl(key)
    }
    fn find_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.find_prefix_impl(prefix)
    }
    fn list(&self, kind: Option<&str>, failed_only: bool) -> Result<Vec<StageSummary>, StoreError> {
        self.list_impl(kind, failed_only)
    }
    fn record_attempt(&self, attempt: &crate::JobAttempt) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                db: self.loc.clone(),
                what: format!(
                    "record attempt {} of stage {}",
                    attempt.attempt, attempt.key
                ),
            });
        }
        self.record_attempt_impl(attempt)
    }
    fn attempts(&self, key: &str) -> Result<Vec<crate::JobAttempt>, StoreError> {
        self.attempts_impl(key)
    }
    fn executions(&self, key: &str) -> Result<usize, StoreError> {
        self.executions_impl(key)
    }
    fn lineage_get(
        &self,
        scope: &str,
        node: &str,
    ) -> Result<Option<(String, serde_json::Value)>, StoreError> {
        self.lineage_get_impl(scope, node)
    }
    fn lineage_put(
        &self,
        scope: &str,
        node: &str,
        key: &str,
        parts: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.lineage_put_impl(scope, node, key, parts)
    }
    fn lineage_put_many(
        &self,
        scope: &str,
        entries: &[(String, String, serde_json::Value)],
    ) -> Result<(), StoreError> {
        self.lineage_put_many_impl(scope, entries)
    }
    fn invalidate(&self, key: &str) -> Result<bool, StoreError> {
        self.invalidate_impl(key)
    }
    fn gc(&self, dry_run: bool) -> Result<GcReport, StoreError> {
        self.gc_impl(dry_run)
    }
    fn recover(&self) -> Result<RecoverReport, StoreError> {
        self.recover_impl()
    }
    fn fsck(&self, repair: bool) -> Result<FsckReport, StoreError> {
        self.fsck_impl(repair)
    }
    fn checkpoint(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Ok(());
        }
        // One row: (busy, log frames, checkpointed frames); busy only means another
        // connection's reader kept part of the log, which its last close folds in.
        self.conn()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .ctx(&self.loc, || "checkpoint the write-ahead log".into())
    }
}
