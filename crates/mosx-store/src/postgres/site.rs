//! The store's name in errors ([`Site`]) and the mapping of sqlx failures to [`StoreError`]:
//! the [`DbErrorKind`] of each SQLSTATE class, and [`PgCtx`] to attach a context phrase.
//!
//! Invariants:
//! - every message taken from the driver is scrubbed of the URL's secrets (its password)
//!   before it reaches an error;
//! - a lost or unreachable server (I/O, protocol, pool timeout, SQLSTATE classes 08 / 28,
//!   admin shutdown) is [`DbErrorKind::Connection`], which [`is_connection_error`] tells;
//!   serialization failures, deadlocks, lock and statement timeouts are `Busy`.

use crate::error::{DbError, DbErrorKind, StoreError, StoreLocation};

/// The store's name in errors, and the secrets to scrub from driver messages.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    pub(crate) loc: StoreLocation,
    pub(super) secrets: Vec<String>,
}

impl Site {
    pub(super) fn scrub(&self, msg: String) -> String {
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

/// Whether an error is a lost or unreachable connection (the session and its locks are gone).
pub(crate) fn is_connection_error(e: &sqlx::Error) -> bool {
    pg_kind(e) == DbErrorKind::Connection
}
