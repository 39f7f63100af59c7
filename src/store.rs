//! The one way to open a store. A store location is a path to a SQLite file
//! (`results/mosx.db`, with its objects folder `objects/` beside it) or a PostgreSQL URL (which
//! needs an objects folder: not offered by the command line yet). Every command and the worker
//! (`mosx-worker --store LOCATION`) open stores only through these functions, so choosing the
//! objects folder, or another backend, changes this file only.

use std::sync::Arc;

pub use mosx_store::Access;
use mosx_store::{Store, StoreError};

/// Open the store at `location` for reading and writing, creating it if it is absent.
pub fn open(location: &str) -> Result<Arc<dyn Store>, StoreError> {
    mosx_store::open(location, None)
}

/// Open the store at `location` only if it exists (`None` otherwise): commands that read, and
/// `gc`/`fsck`, never create one.
pub fn open_existing(location: &str, access: Access) -> Result<Option<Arc<dyn Store>>, StoreError> {
    mosx_store::open_existing(location, None, access)
}
