//! `--store`, `--store-file` and `--objects`: where the store is, declared once for every
//! command of the planner and of the worker.
//!
//! Invariant: a URL with a password is never needed on a command line: it can come from
//! `MOSX_STORE` (what `mosx run` gives its local workers) or from a 0600 file
//! (`--store-file`, what the Slurm executor gives its jobs); `--store-file` wins over both.

use std::path::PathBuf;

use crate::store::{Location, STORE_ENV};

#[derive(clap::Args, Clone, Debug, Default)]
pub struct StoreArgs {
    /// The store holding every stage result: a SQLite file, or a PostgreSQL URL
    /// (`postgres://user@host/db`, shared by the machines of a cluster; needs --objects). A URL
    /// with a password belongs in MOSX_STORE or --store-file, not on a command line.
    #[arg(long, value_name = "PATH|URL", env = STORE_ENV, hide_env_values = true, global = true)]
    pub store: Option<String>,
    /// A file (mode 0600) whose first line is the store location, over --store (what the Slurm
    /// executor gives its jobs).
    #[arg(long, value_name = "FILE", global = true)]
    pub store_file: Option<PathBuf>,
    /// The folder of the store's object files (default for SQLite: `objects/` beside the
    /// file). With PostgreSQL, a folder every machine sees (a cluster filesystem).
    #[arg(long, value_name = "DIR", env = crate::store::OBJECTS_ENV, global = true)]
    pub objects: Option<PathBuf>,
}

impl StoreArgs {
    /// The location these arguments name: `--store-file`'s first line, else `--store` (or
    /// `MOSX_STORE`), else `default` (the planner's `results/mosx.db`; the worker has none).
    pub fn location(&self, default: Option<&str>) -> Result<Location, String> {
        let store = self.store.as_deref().or(default);
        Location::for_worker(store, self.store_file.as_deref(), self.objects.clone())
    }
}
