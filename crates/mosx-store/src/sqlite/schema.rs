//! SQLite table definitions and migrations, versioned with `PRAGMA user_version`.
//!
//! Invariants: `user_version` equals the number of migrations applied; migrations run inside a
//! `BEGIN IMMEDIATE` transaction that re-reads the version, so concurrent openers apply each
//! step exactly once; a database newer than [`SCHEMA_VERSION`] is refused.
//!
//! History: v1 the stage, artifact, metric, lease, execution, run and lineage tables; v2 adds
//! `object_stat`, the verification memo of object files (see `objects.rs`): a row is a cache of
//! "this file, with this stat, hashed to this hash", never the source of truth; v3 adds
//! `job_attempts`, the cluster jobs of each stage (one row per stage, run and attempt).

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{SqlCtx, StoreError, StoreLocation};
use crate::SCHEMA_VERSION;

const V1: &str = r#"
CREATE TABLE runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at   REAL NOT NULL,
    finished_at  REAL,
    status       TEXT NOT NULL,
    spec_path    TEXT NOT NULL,
    spec_hash    TEXT NOT NULL,
    argv         TEXT NOT NULL,
    mosx_version TEXT NOT NULL,
    git_commit   TEXT,
    git_dirty    INTEGER NOT NULL,
    host         TEXT NOT NULL,
    device       TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    summary      TEXT
);
CREATE TABLE stages (
    key          TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    params       TEXT NOT NULL,
    parts        TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'ok' CHECK (status = 'ok'),
    started_at   REAL NOT NULL,
    finished_at  REAL NOT NULL,
    duration_ms  INTEGER NOT NULL,
    run_id       INTEGER NOT NULL,
    mosx_version TEXT NOT NULL,
    git_commit   TEXT,
    git_dirty    INTEGER NOT NULL,
    host         TEXT NOT NULL,
    device       TEXT NOT NULL,
    seed         INTEGER,
    spec_hash    TEXT NOT NULL
);
CREATE INDEX stages_kind ON stages(kind);
CREATE TABLE artifacts (
    key    TEXT NOT NULL REFERENCES stages(key) ON DELETE CASCADE,
    name   TEXT NOT NULL,
    format TEXT NOT NULL,
    size   INTEGER NOT NULL,
    hash   TEXT NOT NULL,
    inline BLOB,
    path   TEXT,
    PRIMARY KEY (key, name),
    CHECK ((inline IS NULL) <> (path IS NULL))
);
CREATE TABLE metrics (
    key   TEXT NOT NULL REFERENCES stages(key) ON DELETE CASCADE,
    name  TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (key, name)
);
CREATE TABLE leases (
    key          TEXT PRIMARY KEY,
    run_id       INTEGER NOT NULL,
    pid          INTEGER NOT NULL,
    host         TEXT NOT NULL,
    acquired_at  REAL NOT NULL,
    heartbeat_at REAL NOT NULL
);
CREATE TABLE executions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    key         TEXT NOT NULL,
    run_id      INTEGER NOT NULL,
    kind        TEXT,
    name        TEXT,
    started_at  REAL NOT NULL,
    finished_at REAL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed')),
    error       TEXT
);
CREATE INDEX executions_key ON executions(key, id);
CREATE TABLE lineage (
    scope      TEXT NOT NULL,
    node       TEXT NOT NULL,
    key        TEXT NOT NULL,
    parts      TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (scope, node)
);
"#;

const V2: &str = r#"
CREATE TABLE object_stat (
    path        TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    ino         INTEGER NOT NULL,
    dev         INTEGER NOT NULL,
    hash        TEXT NOT NULL,
    verified_at REAL NOT NULL
);
"#;

const V3: &str = r#"
CREATE TABLE job_attempts (
    key          TEXT NOT NULL,
    run_id       INTEGER NOT NULL,
    attempt      INTEGER NOT NULL CHECK (attempt >= 1),
    job_id       TEXT NOT NULL,
    state        TEXT NOT NULL,
    node         TEXT,
    submitted_at REAL NOT NULL,
    started_at   REAL,
    finished_at  REAL,
    mem_mib      INTEGER,
    note         TEXT,
    PRIMARY KEY (key, run_id, attempt)
);
"#;

/// Migrations in order; entry i brings the schema from version i to i+1.
const MIGRATIONS: &[&str] = &[V1, V2, V3];

pub(super) fn user_version(conn: &Connection, db: &StoreLocation) -> Result<i64, StoreError> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .ctx(db, || "read PRAGMA user_version".into())
}

/// Check, without writing, that a database opened read-only has exactly [`SCHEMA_VERSION`].
pub(crate) fn check_version(conn: &Connection, db: &StoreLocation) -> Result<(), StoreError> {
    let found = user_version(conn, db)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            db: db.clone(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found < SCHEMA_VERSION {
        return Err(StoreError::SchemaTooOld {
            db: db.clone(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Bring the database up to [`SCHEMA_VERSION`].
pub(crate) fn migrate(conn: &mut Connection, db: &StoreLocation) -> Result<(), StoreError> {
    debug_assert_eq!(MIGRATIONS.len() as i64, SCHEMA_VERSION);
    let found = user_version(conn, db)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            db: db.clone(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(db, || "begin schema migration".into())?;
    let mut version = user_version(&tx, db)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            db: db.clone(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    while version < SCHEMA_VERSION {
        let sql = MIGRATIONS[version as usize];
        tx.execute_batch(sql).ctx(db, || {
            format!("migrate schema v{version} -> v{}", version + 1)
        })?;
        version += 1;
        tx.pragma_update(None, "user_version", version)
            .ctx(db, || format!("set PRAGMA user_version = {version}"))?;
    }
    tx.commit().ctx(db, || "commit schema migration".into())
}
