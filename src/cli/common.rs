//! Helpers shared by the subcommands: loading a spec into a plan, opening the store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::plan::Plan;
use crate::stages::Registry;
use crate::store::Access;
use mosx_store::Store;

pub const DEFAULT_STORE: &str = "results/mosx.db";

/// A bad command line (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

#[derive(clap::Args, Clone)]
pub struct StoreArg {
    /// SQLite store holding every stage result.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_STORE, global = true)]
    pub store: PathBuf,
}

/// Load and compile a spec and check its reports (templates, outputs inside the project
/// folder unless `allow_outside_outputs`); errors are `SpecError`s (exit code 2).
pub fn plan(spec: &Path, sets: &[String], allow_outside_outputs: bool) -> anyhow::Result<Plan> {
    let spec = mosx_spec::load(spec, sets)?;
    crate::plan::reports::check_reports(&spec, allow_outside_outputs)?;
    let plan = crate::plan::compile(spec, &Registry::builtin())?;
    Ok(plan)
}

/// The `--store` value as a store location (`crate::store`).
pub fn location(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Open the store, creating it.
pub fn open_store(path: &Path) -> anyhow::Result<Arc<dyn Store>> {
    crate::store::open(&location(path)).with_context(|| format!("opening store {}", path.display()))
}

/// Open the store read-only, only if it exists: read-only commands (`ls`, `show`, `export`,
/// `report`, `run --dry-run`) neither create it nor write to it (no WAL switch, no memo).
pub fn existing_store(path: &Path) -> anyhow::Result<Option<Arc<dyn Store>>> {
    crate::store::open_existing(&location(path), Access::ReadOnly)
        .with_context(|| format!("opening store {} read-only", path.display()))
}

/// Open the store read-write only if it exists (`gc`, `fsck`: never create one).
pub fn existing_store_rw(path: &Path) -> anyhow::Result<Option<Arc<dyn Store>>> {
    crate::store::open_existing(&location(path), Access::ReadWrite)
        .with_context(|| format!("opening store {}", path.display()))
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
