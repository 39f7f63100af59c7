//! The one way to open a store. A store location is a path to a SQLite file today
//! (`results/mosx.db`, with its objects folder `objects/` beside it). Every command and the
//! worker (`mosx-worker --store LOCATION`) open stores only through these functions, so a new
//! backend (a PostgreSQL URL with an objects folder) changes this file only.

use std::path::Path;
use std::sync::Arc;

use mosx_store::{SqliteStore, Store, StoreError};

/// How an existing store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No write at all (no WAL switch, no verification memo): `ls`, `show`, `report`, ...
    ReadOnly,
    ReadWrite,
}

/// Open the store at `location` for reading and writing, creating it if it is absent.
pub fn open(location: &str) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(SqliteStore::open(Path::new(location))?))
}

/// Open the store at `location` only if it exists (`None` otherwise): commands that read, and
/// `gc`/`fsck`, never create one.
pub fn open_existing(location: &str, access: Access) -> Result<Option<Arc<dyn Store>>, StoreError> {
    let path = Path::new(location);
    if !path.exists() {
        return Ok(None);
    }
    let store: Arc<dyn Store> = match access {
        Access::ReadOnly => Arc::new(SqliteStore::open_read_only(path)?),
        Access::ReadWrite => Arc::new(SqliteStore::open(path)?),
    };
    Ok(Some(store))
}
