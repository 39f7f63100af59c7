//! Typed errors of the store. Every message names the database path and, where relevant, the
//! stage key, artifact name or file path involved.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {db}: {context}: {cause}")]
    Sqlite {
        db: PathBuf,
        context: String,
        cause: rusqlite::Error,
    },

    #[error("store {db}: {context} ({path}): {cause}")]
    Io {
        db: PathBuf,
        path: PathBuf,
        context: String,
        cause: std::io::Error,
    },

    #[error(
        "store {db}: schema version {found} is newer than this build supports ({supported}); use a newer mosx"
    )]
    SchemaTooNew {
        db: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error(
        "store {db}: schema version {found} is older than this build's ({supported}) and the store is opened read-only; run a writing command (e.g. `mosx gc`) once to migrate it"
    )]
    SchemaTooOld {
        db: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error("store {db}: opened read-only: cannot {what}")]
    ReadOnly { db: PathBuf, what: String },

    #[error("store {db}: invalid stage key {key:?}: {reason}")]
    InvalidKey {
        db: PathBuf,
        key: String,
        reason: String,
    },

    #[error("store {db}: stage {key}: invalid artifact name {name:?}: {reason}")]
    InvalidArtifactName {
        db: PathBuf,
        key: String,
        name: String,
        reason: String,
    },

    #[error("store {db}: stage {key}: {what} {name:?} given twice")]
    Duplicate {
        db: PathBuf,
        key: String,
        what: &'static str,
        name: String,
    },

    #[error("store {db}: stage {key} has no artifact {name:?}")]
    ArtifactNotFound {
        db: PathBuf,
        key: String,
        name: String,
    },

    #[error("store {db}: stage {key}: object file {path} of artifact {name:?} is missing")]
    ObjectMissing {
        db: PathBuf,
        key: String,
        name: String,
        path: PathBuf,
    },

    #[error(
        "store {db}: stage {key}: artifact {name:?} ({path}) does not match the store: expected {expected_size} bytes with blake3 {expected_hash}, found {found}"
    )]
    ObjectMismatch {
        db: PathBuf,
        key: String,
        name: String,
        path: PathBuf,
        expected_size: u64,
        expected_hash: String,
        found: String,
    },

    #[error("store {db}: {table} row {row}: column {column} holds invalid JSON: {cause}")]
    Json {
        db: PathBuf,
        table: &'static str,
        row: String,
        column: &'static str,
        cause: serde_json::Error,
    },

    #[error("store {db}: run {run} does not exist")]
    RunNotFound { db: PathBuf, run: i64 },

    #[error("store {db}: lease on stage {key} held by run {run} was taken over by run {holder}")]
    LeaseTakenOver {
        db: PathBuf,
        key: String,
        run: i64,
        holder: i64,
    },
}

/// Attach the database path and a context phrase to a rusqlite result.
pub(crate) trait SqlCtx<T> {
    fn ctx(self, db: &std::path::Path, context: impl FnOnce() -> String) -> Result<T, StoreError>;
}

impl<T> SqlCtx<T> for Result<T, rusqlite::Error> {
    fn ctx(self, db: &std::path::Path, context: impl FnOnce() -> String) -> Result<T, StoreError> {
        self.map_err(|cause| StoreError::Sqlite {
            db: db.to_path_buf(),
            context: context(),
            cause,
        })
    }
}
