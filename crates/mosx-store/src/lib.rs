//! mosx-store: the content-addressed result store of mosx.
//!
//! Every stage result is cached under a content key (64-hex blake3 string computed by the caller).
//! The [`Store`] trait is the only interface the rest of mosx sees. Two backends implement it:
//! [`SqliteStore`] on one SQLite file (WAL mode) with an `objects/` directory beside it, and
//! [`PgStore`] on a PostgreSQL database with an objects directory every machine shares. Artifacts
//! larger than [`INLINE_MAX`] bytes are object files in that directory; smaller ones are inline
//! in the database. [`open`] / [`open_read_only`] pick the backend from the location.
//!
//! Invariants kept by every backend:
//! - a stage row never exists without all of its artifact and metric rows (one transaction);
//! - a file artifact whose object is missing or whose size/blake3 differ makes the stage a cache
//!   miss with a [`MissReason`], never an error;
//! - at most one live holder owns the lease of a key; a committed key answers [`Lease::Done`];
//! - checks do not re-read an object file whose stat (size, mtime, inode, device) is unchanged
//!   since it last hashed correctly (the `object_stat` memo); reading an artifact always hashes it.
//!
//! Module layout: `objects` (object files), `verify` (rows to files), `prepare` (commit's file
//! half), `sweep` (gc's and recover's file half) and `audit` (fsck's file half) are shared; the
//! `sqlite` and `postgres` modules hold only what talks to their database.

// Errors carry the store location, key, artifact and file path by value; they are cold-path values.
#![allow(clippy::result_large_err)]

mod audit;
mod error;
mod liveness;
mod objects;
mod open;
mod postgres;
mod prepare;
mod redact;
mod schema;
mod sqlite;
mod store;
mod sweep;
mod types;
mod verify;

pub use error::{DbError, DbErrorKind, StoreError, StoreLocation};
pub use liveness::REMOTE_HEARTBEAT_TTL_S;
#[doc(hidden)]
pub use objects::hashed_bytes;
pub use objects::INLINE_MAX;
pub use open::{is_postgres_url, open, open_existing, open_read_only, Access};
pub use postgres::PgStore;
pub use redact::{redact_arg, redact_url};
pub use schema::SCHEMA_VERSION;
pub use sqlite::SqliteStore;
pub use store::Store;
pub use types::{
    Artifact, ArtifactMeta, CacheCheck, FsckProblem, FsckReport, GcReport, JobAttempt, Lease,
    MissReason, RecoverReport, RunId, RunInfo, StageRecord, StageSummary,
};
