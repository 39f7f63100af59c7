//! mosx-store: the content-addressed result store of mosx.
//!
//! Every stage result is cached under a content key (64-hex blake3 string computed by the caller).
//! The [`Store`] trait is the only interface the rest of mosx sees; [`SqliteStore`] implements it on
//! one SQLite file (WAL mode) plus an `objects/` directory beside it for artifacts larger than
//! [`INLINE_MAX`] bytes.
//!
//! Invariants kept by every backend:
//! - a stage row never exists without all of its artifact and metric rows (one transaction);
//! - a file artifact whose object is missing or whose size/blake3 differ makes the stage a cache
//!   miss with a [`MissReason`], never an error;
//! - at most one live holder owns the lease of a key; a committed key answers [`Lease::Done`];
//! - checks do not re-read an object file whose stat (size, mtime, inode, device) is unchanged
//!   since it last hashed correctly (the `object_stat` memo); reading an artifact always hashes it.

// Errors carry the db path, key, artifact and file path by value; they are cold-path values.
#![allow(clippy::result_large_err)]

mod error;
mod liveness;
mod objects;
mod schema;
mod sqlite;
mod store;
mod types;

pub use error::StoreError;
pub use liveness::REMOTE_HEARTBEAT_TTL_S;
#[doc(hidden)]
pub use objects::hashed_bytes;
pub use objects::INLINE_MAX;
pub use schema::SCHEMA_VERSION;
pub use sqlite::SqliteStore;
pub use store::Store;
pub use types::{
    Artifact, ArtifactMeta, CacheCheck, FsckProblem, FsckReport, GcReport, Lease, MissReason,
    RecoverReport, RunId, RunInfo, StageRecord, StageSummary,
};
