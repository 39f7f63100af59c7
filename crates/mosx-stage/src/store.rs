//! The one way to open a store. A store [`Location`] is a SQLite file (`results/mosx.db`, its
//! objects folder `objects/` beside it unless `--objects` says otherwise) or a PostgreSQL URL
//! (`postgres://user@host/db`, which needs `--objects`: a folder every machine that runs stages
//! sees, e.g. a cluster filesystem). Every command and the worker open stores only through
//! these functions.
//!
//! A location may hold a password, so it never goes on a command line mosx builds: the local
//! worker gets it in its environment (`MOSX_STORE`, [`Location::env`]), a cluster job in a 0600
//! file (`--store-file`, [`Location::write_store_file`]).
//!
//! Invariant: a location shown to the user (errors, messages) never shows a URL's password:
//! it is printed only through `Display`, which is `mosx_store::redact_url` (the one redactor).

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use mosx_store::Access;
use mosx_store::{Store, StoreError};

/// The environment variable holding the store location (planner and worker).
pub const STORE_ENV: &str = "MOSX_STORE";
/// The environment variable holding the objects folder (planner and worker).
pub const OBJECTS_ENV: &str = "MOSX_OBJECTS";

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

    /// The environment that gives a worker this location (`MOSX_STORE`, and `MOSX_OBJECTS`
    /// when set): never its command line, which every user of the machine can read
    /// (`/proc/<pid>/cmdline`, `ps`); a process's environment only its owner can.
    pub fn env(&self) -> Vec<(&'static str, OsString)> {
        let mut v: Vec<(&'static str, OsString)> = vec![(STORE_ENV, self.store.clone().into())];
        if let Some(o) = &self.objects {
            v.push((OBJECTS_ENV, o.clone().into()));
        }
        v
    }

    /// Write the store location to `path`, a new file only its owner can read or write (0600),
    /// for jobs that start elsewhere (`mosx-worker stage --store-file FILE`); an existing file
    /// is replaced by a new one (so its old mode never applies).
    pub fn write_store_file(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::remove_file(path);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(self.store.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    }

    /// The location given as `--store-file FILE` (its first line) over `--store` (or
    /// `MOSX_STORE`); `objects` as given (see [`crate::args::StoreArgs`]).
    pub fn for_worker(
        store: Option<&str>,
        store_file: Option<&Path>,
        objects: Option<PathBuf>,
    ) -> Result<Location, String> {
        let store = match (store_file, store) {
            (Some(f), _) => std::fs::read_to_string(f)
                .map_err(|e| format!("--store-file {}: {e}", f.display()))?
                .lines()
                .next()
                .unwrap_or("")
                .trim_end_matches('\r')
                .to_string(),
            (None, Some(s)) => s.to_string(),
            (None, None) => {
                return Err(format!(
                    "no store: give --store-file FILE or set {STORE_ENV}"
                ))
            }
        };
        if store.is_empty() {
            return Err("the store location is empty".into());
        }
        Ok(Location::new(store, objects))
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
        f.write_str(&mosx_store::redact_url(&self.store))?;
        if let Some(o) = &self.objects {
            write!(f, " (objects {})", o.display())?;
        }
        Ok(())
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
        let odd = Location::new(
            "postgres://me:a/b@cSECRET@db:5432/mosx?sslpassword=SECRET",
            None,
        );
        assert!(!odd.to_string().contains("SECRET"), "{odd}");
    }

    #[test]
    fn a_job_gets_the_store_from_an_owner_only_file_or_the_environment() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("store");
        std::fs::write(&file, "stale, world-readable").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let l = Location::new("postgres://me:SECRET@db/mosx", Some("/shared/o".into()));
        l.write_store_file(&file).unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the store file is the owner's only");
        let back = Location::for_worker(Some("ignored"), Some(&file), l.objects.clone()).unwrap();
        assert_eq!(back, l);
        let env = l.env();
        assert_eq!(
            env[0],
            (STORE_ENV, OsString::from("postgres://me:SECRET@db/mosx"))
        );
        assert_eq!(env[1], (OBJECTS_ENV, OsString::from("/shared/o")));
        assert!(Location::for_worker(None, None, None).is_err());
    }
}
