//! The schema version shared by both backends.
//!
//! SQLite counts applied migrations in `PRAGMA user_version` (`sqlite/schema.rs`); PostgreSQL
//! records them in sqlx's `_sqlx_migrations` table (`migrations/<version>_<name>.sql`). Both
//! apply the same steps, so a version number means the same tables on either backend:
//! v1 the stage, artifact, metric, lease, execution, run and lineage tables; v2 adds
//! `object_stat`, the verification memo of object files (see `objects.rs`); v3 adds
//! `job_attempts`, the cluster jobs of each stage (see `JobAttempt`).

/// Schema version written by this build (both backends).
pub const SCHEMA_VERSION: i64 = 3;
