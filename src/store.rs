//! The one way to open a store. A store [`Location`] is a SQLite file (`results/mosx.db`, its
//! objects folder `objects/` beside it unless `--objects` says otherwise) or a PostgreSQL URL
//! (`postgres://user@host/db`, which needs `--objects`: a folder every machine that runs stages
//! sees, e.g. a cluster filesystem). Every command and the worker (`mosx-worker --store
//! LOCATION [--objects DIR]`) open stores only through these functions.
//!
//! Invariant: a location shown to the user (errors, messages) never shows a URL's password.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

pub use mosx_store::Access;
use mosx_store::{Store, StoreError};

/// Where a store is: the database and, optionally, its objects folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// A SQLite path or a `postgres://` / `postgresql://` URL.
    pub store: String,
    /// The objects folder (required for PostgreSQL; SQLite defaults to the one beside the file).
    pub objects: Option<PathBuf>,
}

impl Location {
    pub fn new(store: impl Into<String>, objects: Option<PathBuf>) -> Location {
        Location {
            store: store.into(),
            objects,
        }
    }

    pub fn is_postgres(&self) -> bool {
        mosx_store::is_postgres_url(&self.store)
    }

    /// The arguments that give a worker this location (`--store … [--objects …]`).
    pub fn args(&self) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec!["--store".into(), self.store.clone().into()];
        if let Some(o) = &self.objects {
            v.push("--objects".into());
            v.push(o.clone().into());
        }
        v
    }

    /// The objects folder this location uses (for job files of cluster runs).
    pub fn objects_dir(&self) -> Option<PathBuf> {
        match &self.objects {
            Some(o) => Some(o.clone()),
            None if !self.is_postgres() => Some(
                std::path::Path::new(&self.store)
                    .parent()
                    .unwrap_or(std::path::Path::new(""))
                    .join("objects"),
            ),
            None => None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.store))?;
        if let Some(o) = &self.objects {
            write!(f, " (objects {})", o.display())?;
        }
        Ok(())
    }
}

/// `scheme://user:secret@host/...` shown as `scheme://user:***@host/...`.
fn redact(location: &str) -> String {
    let Some((scheme, rest)) = location.split_once("://") else {
        return location.to_string();
    };
    let Some((auth, host)) = rest.split_once('@') else {
        return location.to_string();
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => location.to_string(),
    }
}

/// Open the store at `location` for reading and writing, creating it if it is absent.
pub fn open(location: &Location) -> Result<Arc<dyn Store>, StoreError> {
    mosx_store::open(&location.store, location.objects.as_deref())
}

/// Open the store at `location` only if it exists (`None` otherwise): commands that read, and
/// `gc`/`fsck`, never create one.
pub fn open_existing(
    location: &Location,
    access: Access,
) -> Result<Option<Arc<dyn Store>>, StoreError> {
    mosx_store::open_existing(&location.store, location.objects.as_deref(), access)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        let l = Location::new(
            "postgres://me:hunter2@db:5432/mosx",
            Some("/shared/o".into()),
        );
        assert_eq!(
            l.to_string(),
            "postgres://me:***@db:5432/mosx (objects /shared/o)"
        );
        assert_eq!(
            Location::new("results/mosx.db", None).to_string(),
            "results/mosx.db"
        );
        assert_eq!(
            Location::new("results/mosx.db", None).objects_dir(),
            Some(PathBuf::from("results/objects"))
        );
        assert_eq!(Location::new("postgres://h/db", None).objects_dir(), None);
    }
}
