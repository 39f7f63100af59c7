//! The one entry point for callers: pick the backend from a location string.
//!
//! A location starting with `postgres://` or `postgresql://` is a PostgreSQL URL ([`PgStore`]);
//! anything else is the path of a SQLite file ([`SqliteStore`]).
//!
//! Invariants:
//! - a PostgreSQL store needs `objects` (the folder every machine shares); without it opening
//!   fails with [`StoreError::ObjectsRequired`] before any connection is made;
//! - a SQLite store's objects folder is `<dir of the file>/objects` unless `objects` is given;
//! - the read-only variants write nothing anywhere (no file, schema, folder or memo is created);
//!   a location with no store there is [`StoreError::NoStore`] (or `None` from
//!   [`open_existing`]);
//! - a SQLite file without a schema is no store for every opener but [`open`] (which creates
//!   the schema in it); see `sqlite/create.rs`.

use std::path::Path;
use std::sync::Arc;

use crate::error::{StoreError, StoreLocation};
use crate::postgres::Mode;
use crate::{PgStore, SqliteStore, Store};

/// How [`open_existing`] opens a store that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read-write (migrating an older schema), e.g. `gc`, `fsck`.
    ReadWrite,
    /// Read-only, writing nothing, e.g. `ls`, `show`, `report`, `run --dry-run`.
    ReadOnly,
}

/// Whether `location` names a PostgreSQL database (`postgres://…` or `postgresql://…`).
pub fn is_postgres_url(location: &str) -> bool {
    let l = location.trim_start();
    ["postgres://", "postgresql://"]
        .iter()
        .any(|p| l.len() >= p.len() && l[..p.len()].eq_ignore_ascii_case(p))
}

fn pg_objects<'a>(url: &str, objects: Option<&'a Path>) -> Result<&'a Path, StoreError> {
    objects.ok_or_else(|| StoreError::ObjectsRequired {
        db: StoreLocation::postgres(url),
    })
}

fn pg(url: &str, objects: Option<&Path>, mode: Mode) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(PgStore::connect(
        url,
        pg_objects(url, objects)?,
        mode,
    )?))
}

/// Open the store at `location`, creating it (SQLite file, PostgreSQL schema) if needed and
/// migrating an older schema. `objects` is the object folder: required for PostgreSQL,
/// `<dir of the file>/objects` by default for SQLite.
pub fn open(location: &str, objects: Option<&Path>) -> Result<Arc<dyn Store>, StoreError> {
    if is_postgres_url(location) {
        pg(location, objects, Mode::Create)
    } else {
        Ok(Arc::new(SqliteStore::open_with_objects(
            Path::new(location),
            objects,
        )?))
    }
}

/// Open the existing store at `location` read-only: nothing is written, writing methods fail
/// with [`StoreError::ReadOnly`]; [`StoreError::NoStore`] if there is no store there.
pub fn open_read_only(
    location: &str,
    objects: Option<&Path>,
) -> Result<Arc<dyn Store>, StoreError> {
    if is_postgres_url(location) {
        pg(location, objects, Mode::ReadOnly)
    } else {
        Ok(Arc::new(SqliteStore::open_read_only_with_objects(
            Path::new(location),
            objects,
        )?))
    }
}

/// Open the store at `location` only if one exists there (`None` otherwise, nothing created):
/// what the commands that must not create a store use (`ls`, `show`, `gc`, `fsck`, ...).
pub fn open_existing(
    location: &str,
    objects: Option<&Path>,
    access: Access,
) -> Result<Option<Arc<dyn Store>>, StoreError> {
    let opened = if is_postgres_url(location) {
        let mode = match access {
            Access::ReadWrite => Mode::Existing,
            Access::ReadOnly => Mode::ReadOnly,
        };
        pg(location, objects, mode)
    } else {
        let path = Path::new(location);
        if !path.exists() {
            return Ok(None);
        }
        match access {
            // A file without a schema is no store here either: a read-only look first
            // (an older schema, which read-only refuses, is migrated by the writable open).
            Access::ReadWrite => match open_read_only(location, objects) {
                Err(e @ (StoreError::NoStore { .. } | StoreError::WalMissing { .. })) => Err(e),
                _ => open(location, objects),
            },
            Access::ReadOnly => open_read_only(location, objects),
        }
    };
    match opened {
        Ok(s) => Ok(Some(s)),
        Err(StoreError::NoStore { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_pick_the_backend() {
        assert!(is_postgres_url("postgres://u@h/db"));
        assert!(is_postgres_url("PostgreSQL://h/db"));
        assert!(!is_postgres_url("results/mosx.db"));
        assert!(!is_postgres_url("postgres.db"));
    }

    #[test]
    fn a_postgres_store_without_objects_names_the_flag_and_hides_the_password() {
        let e = open("postgres://mosx:hunter2@localhost:1/x", None)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--objects") && !e.contains("hunter2"), "{e}");
        assert!(e.contains("postgres://mosx:***@localhost:1/x"), "{e}");
    }

    #[test]
    fn an_unreachable_database_is_a_connection_error_without_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let e = open("postgres://mosx:hunter2@127.0.0.1:1/x", Some(dir.path()))
            .map(|_| ())
            .unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(
                &e,
                StoreError::Database { cause, .. } if cause.kind == crate::DbErrorKind::Connection
            ),
            "{text}"
        );
        assert!(
            text.contains("postgres://mosx:***@127.0.0.1:1/x") && !text.contains("hunter2"),
            "{text}"
        );
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "nothing was created in the objects folder"
        );
    }

    #[test]
    fn an_absent_sqlite_store_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("nope.db");
        let loc = db.to_str().unwrap();
        assert!(open_existing(loc, None, Access::ReadOnly)
            .unwrap()
            .is_none());
        assert!(open_existing(loc, None, Access::ReadWrite)
            .unwrap()
            .is_none());
        assert!(!db.exists());
        assert!(matches!(
            open_read_only(loc, None).map(|_| ()),
            Err(StoreError::NoStore { .. })
        ));
    }
}
