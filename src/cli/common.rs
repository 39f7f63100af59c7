//! Helpers shared by the subcommands: loading a spec into a plan, opening the store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::plan::Plan;
use crate::store::{Access, Location};
use mosx_store::Store;

pub const DEFAULT_STORE: &str = "results/mosx.db";

/// A bad command line (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

#[derive(clap::Args, Clone)]
pub struct StoreArg {
    /// The store holding every stage result: a SQLite file, or a PostgreSQL URL
    /// (`postgres://user@host/db`, shared by the machines of a cluster; needs --objects).
    #[arg(long, value_name = "PATH|URL", default_value = DEFAULT_STORE, env = "MOSX_STORE", hide_env_values = true, global = true)]
    pub store: String,
    /// The folder of the store's object files (default for SQLite: `objects/` beside the
    /// file). With PostgreSQL, a folder every machine sees (a cluster filesystem).
    #[arg(long, value_name = "DIR", env = "MOSX_OBJECTS", global = true)]
    pub objects: Option<PathBuf>,
}

impl StoreArg {
    pub fn location(&self) -> Location {
        Location::new(self.store.clone(), self.objects.clone())
    }
}

/// Load and compile a spec and check its reports (templates, outputs inside the project
/// folder unless `allow_outside_outputs`); errors are `SpecError`s (exit code 2).
pub fn plan(spec: &Path, sets: &[String], allow_outside_outputs: bool) -> anyhow::Result<Plan> {
    let spec = mosx_spec::load(spec, sets)?;
    crate::plan::reports::check_reports(&spec, allow_outside_outputs)?;
    let plan = crate::plan::compile(spec, &crate::stages::registry::builtin())?;
    Ok(plan)
}

/// Open the store, creating it.
pub fn open_store(a: &StoreArg) -> anyhow::Result<Arc<dyn Store>> {
    let l = a.location();
    crate::store::open(&l).with_context(|| format!("opening store {l}"))
}

/// Open the store read-only, only if it exists: read-only commands (`ls`, `show`, `export`,
/// `report`, `run --dry-run`) neither create it nor write to it (no WAL switch, no memo).
pub fn existing_store(a: &StoreArg) -> anyhow::Result<Option<Arc<dyn Store>>> {
    let l = a.location();
    crate::store::open_existing(&l, Access::ReadOnly)
        .with_context(|| format!("opening store {l} read-only"))
}

/// Open the store read-write only if it exists (`gc`, `fsck`: never create one).
pub fn existing_store_rw(a: &StoreArg) -> anyhow::Result<Option<Arc<dyn Store>>> {
    let l = a.location();
    crate::store::open_existing(&l, Access::ReadWrite).with_context(|| format!("opening store {l}"))
}

/// Resolve a key prefix to one key.
pub fn resolve_key(store: &dyn Store, prefix: &str) -> anyhow::Result<String> {
    let keys = store.find_prefix(prefix)?;
    match keys.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(UsageError(format!("no stage with a key starting `{prefix}`")).into()),
        many => Err(UsageError(format!(
            "key prefix `{prefix}` is ambiguous: {} stages match ({}…)",
            many.len(),
            many.iter()
                .take(3)
                .map(|k| &k[..12.min(k.len())])
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()),
    }
}
