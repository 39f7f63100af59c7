//! Typed errors of the store. Every message names the store ([`StoreLocation`]: the SQLite file
//! or the PostgreSQL URL without its password) and, where relevant, the stage key, artifact name
//! or file path involved.
//!
//! Invariants:
//! - no driver type leaks out: a SQLite or PostgreSQL failure becomes a [`DbError`] (a kind, the
//!   SQLSTATE or SQLite result code, and the driver's message);
//! - a password never reaches an error: [`StoreLocation`] is built only from a redacted URL, and
//!   driver messages are scrubbed of the password before they are stored.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::redact::redact_url;

/// Where a store lives, as printed in errors: a SQLite file path, or a PostgreSQL URL with its
/// password (in the user info or a `password=` parameter) replaced by `***`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLocation(String);

impl StoreLocation {
    pub(crate) fn sqlite(path: &Path) -> StoreLocation {
        StoreLocation(path.display().to_string())
    }

    /// A PostgreSQL URL, redacted here (see [`crate::redact_url`]).
    pub(crate) fn postgres(url: &str) -> StoreLocation {
        StoreLocation(redact_url(url))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of database failure a [`DbError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorKind {
    /// The database could not be reached, refused the login, or the connection was lost.
    Connection,
    /// A lock or busy timeout, a serialization failure or a deadlock: retrying may succeed.
    Busy,
    /// A constraint (key, foreign key, check) was violated.
    Constraint,
    /// The database reports damaged data.
    Corrupt,
    /// The schema is not what this build expects (e.g. a migration differs).
    Schema,
    /// Any other failure of a statement.
    Query,
}

/// A database failure, independent of the driver that reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    pub kind: DbErrorKind,
    /// The PostgreSQL SQLSTATE (e.g. `23505`) or the SQLite extended result code, if any.
    pub code: Option<String>,
    /// The driver's message (scrubbed of any password).
    pub message: String,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} [{code}]", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for DbError {}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {db}: {context}: {cause}")]
    Database {
        db: StoreLocation,
        context: String,
        cause: DbError,
    },

    #[error("store {db}: {context} ({path}): {cause}")]
    Io {
        db: StoreLocation,
        path: PathBuf,
        context: String,
        cause: std::io::Error,
    },

    #[error("store {location}: not a store location: {reason}")]
    BadLocation { location: String, reason: String },

    #[error(
        "store {db}: a PostgreSQL store keeps its object files in a folder every machine shares; give it with --objects DIR"
    )]
    ObjectsRequired { db: StoreLocation },

    #[error("store {db}: no store there ({what})")]
    NoStore { db: StoreLocation, what: String },

    #[error(
        "store {db}: the database file holds no schema and its write-ahead log {wal} is missing: a store copied without its `-wal` file? Copy that file along (the results are in it), or remove the database file to start an empty store"
    )]
    WalMissing { db: StoreLocation, wal: PathBuf },

    #[error("store {db}: cannot start the database client's runtime: {cause}")]
    Runtime {
        db: StoreLocation,
        cause: std::io::Error,
    },

    #[error(
        "store {db}: schema version {found} is newer than this build supports ({supported}); use a newer mosx"
    )]
    SchemaTooNew {
        db: StoreLocation,
        found: i64,
        supported: i64,
    },

    #[error(
        "store {db}: schema version {found} is older than this build's ({supported}) and the store is opened read-only; run a writing command (e.g. `mosx gc`) once to migrate it"
    )]
    SchemaTooOld {
        db: StoreLocation,
        found: i64,
        supported: i64,
    },

    #[error("store {db}: opened read-only: cannot {what}")]
    ReadOnly { db: StoreLocation, what: String },

    #[error("store {db}: invalid stage key {key:?}: {reason}")]
    InvalidKey {
        db: StoreLocation,
        key: String,
        reason: String,
    },

    #[error("store {db}: stage {key}: invalid artifact name {name:?}: {reason}")]
    InvalidArtifactName {
        db: StoreLocation,
        key: String,
        name: String,
        reason: String,
    },

    #[error("store {db}: stage {key}: {what} {name:?} given twice")]
    Duplicate {
        db: StoreLocation,
        key: String,
        what: &'static str,
        name: String,
    },

    #[error("store {db}: stage {key} has no artifact {name:?}")]
    ArtifactNotFound {
        db: StoreLocation,
        key: String,
        name: String,
    },

    #[error("store {db}: stage {key}: object file {path} of artifact {name:?} is missing")]
    ObjectMissing {
        db: StoreLocation,
        key: String,
        name: String,
        path: PathBuf,
    },

    #[error(
        "store {db}: stage {key}: artifact {name:?} ({path}) does not match the store: expected {expected_size} bytes with blake3 {expected_hash}, found {found}"
    )]
    ObjectMismatch {
        db: StoreLocation,
        key: String,
        name: String,
        path: PathBuf,
        expected_size: u64,
        expected_hash: String,
        found: String,
    },

    #[error("store {db}: {table} row {row}: column {column} holds invalid JSON: {cause}")]
    Json {
        db: StoreLocation,
        table: &'static str,
        row: String,
        column: &'static str,
        cause: serde_json::Error,
    },

    #[error("store {db}: run {run} does not exist")]
    RunNotFound { db: StoreLocation, run: i64 },

    #[error("store {db}: lease on stage {key} held by run {run} was taken over by run {holder}")]
    LeaseTakenOver {
        db: StoreLocation,
        key: String,
        run: i64,
        holder: i64,
    },
}

/// Attach the store location and a context phrase to a rusqlite result.
pub(crate) trait SqlCtx<T> {
    fn ctx(self, db: &StoreLocation, context: impl FnOnce() -> String) -> Result<T, StoreError>;
}

impl<T> SqlCtx<T> for Result<T, rusqlite::Error> {
    fn ctx(self, db: &StoreLocation, context: impl FnOnce() -> String) -> Result<T, StoreError> {
        self.map_err(|cause| StoreError::Database {
            db: db.clone(),
            context: context(),
            cause: sqlite_cause(&cause),
        })
    }
}

/// A rusqlite error as a [`DbError`].
pub(crate) fn sqlite_cause(e: &rusqlite::Error) -> DbError {
    use rusqlite::ffi::ErrorCode;
    let (kind, code) = match e {
        rusqlite::Error::SqliteFailure(f, _) => {
            let kind = match f.code {
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => DbErrorKind::Busy,
                ErrorCode::ConstraintViolation => DbErrorKind::Constraint,
                ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => DbErrorKind::Corrupt,
                ErrorCode::CannotOpen | ErrorCode::PermissionDenied => DbErrorKind::Connection,
                _ => DbErrorKind::Query,
            };
            (kind, Some(f.extended_code.to_string()))
        }
        _ => (DbErrorKind::Query, None),
    };
    DbError {
        kind,
        code,
        message: e.to_string(),
    }
}
