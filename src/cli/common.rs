//! Helpers shared by the subcommands: loading a spec into a plan, opening the store.

use std::path::Path;
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

pub use mosx_stage::args::StoreArgs;

/// The store location `a` names, `results/mosx.db` when it names none; a `--store-file` that
/// cannot be read is a usage error.
pub fn location(a: &StoreArgs) -> anyhow::Result<Location> {
    Ok(a.location(Some(DEFAULT_STORE)).map_err(UsageError)?)
}

/// Load and compile a spec and check its reports (templates, outputs inside the project
/// folder unless `allow_outside_outputs`); errors are `SpecError`s (exit code 2).
pub fn plan(spec: &Path, sets: &[String], allow_outside_outputs: bool) -> anyhow::Result<Plan> {
    plan_of(mosx_spec::load(spec, sets)?, allow_outside_outputs)
}

/// [`plan`] of a loaded spec (e.g. a search's trials).
pub fn plan_of(spec: mosx_spec::Spec, allow_outside_outputs: bool) -> anyhow::Result<Plan> {
    let project = mosx_stage::Project::resolve(&spec.path);
    crate::plan::reports::check_reports(&spec, &project.templates, allow_outside_outputs)?;
    let plan = crate::plan::compile_in(spec, &crate::stages::registry::builtin(), project)?;
    Ok(plan)
}

/// Open the store, creating it.
pub fn open_store(a: &StoreArgs) -> anyhow::Result<Arc<dyn Store>> {
    let l = location(a)?;
    crate::store::open(&l).with_context(|| format!("opening store {l}"))
}

/// Open the store read-only, only if it exists: read-only commands (`ls`, `show`, `export`,
/// `report`, `run --dry-run`) neither create it nor write to it (no WAL switch, no memo).
pub fn existing_store(a: &StoreArgs) -> anyhow::Result<Option<Arc<dyn Store>>> {
    let l = location(a)?;
    crate::store::open_existing(&l, Access::ReadOnly)
        .with_context(|| format!("opening store {l} read-only"))
}

/// Open the store read-write only if it exists (`gc`, `fsck`: never create one).
pub fn existing_store_rw(a: &StoreArgs) -> anyhow::Result<Option<Arc<dyn Store>>> {
    let l = location(a)?;
    crate::store::open_existing(&l, Access::ReadWrite).with_context(|| format!("opening store {l}"))
}

/// The stages of `plan` not in the cache, `(name, why)`, in plan order; if any, they are
/// printed to stderr with the `mosx run SPEC` to do first.
pub fn missing_stages(
    plan: &Plan,
    store: Option<&dyn Store>,
    location: &Location,
    spec: &Path,
) -> anyhow::Result<Vec<(String, String)>> {
    let statuses = crate::exec::check(plan, store, &|_| false)?;
    let missing: Vec<_> = plan
        .order
        .iter()
        .filter_map(|i| match &statuses[i.index()] {
            crate::exec::Status::Dirty(r) => Some((plan.graph[*i].name.clone(), r.to_string())),
            crate::exec::Status::Fresh => None,
        })
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "{} stage(s) not in the cache ({location}); run `mosx run {}` first:",
            missing.len(),
            spec.display()
        );
        for (n, r) in &missing {
            eprintln!("  {n}: {r}");
        }
    }
    Ok(missing)
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

/// The plan of a spec from the store alone: a spec without a search compiles as is; a search's
/// trials are those the stored results determine (proposed, observed and proposed again until
/// nothing changes; nothing runs), with the driver that holds them.
pub fn replay(
    spec: mosx_spec::Spec,
    store: Option<&dyn Store>,
    allow_outside_outputs: bool,
) -> anyhow::Result<(Plan, Option<crate::search::Driver>)> {
    let Some(mut driver) = crate::search::Driver::new(spec.clone()) else {
        return Ok((plan_of(spec, allow_outside_outputs)?, None));
    };
    loop {
        let added = driver.propose()?;
        let plan = plan_of(driver.spec()?, allow_outside_outputs)?;
        let learned = match store {
            Some(s) => driver.observe(&plan, s)?,
            None => 0,
        };
        if added == 0 && learned == 0 {
            return Ok((plan, Some(driver)));
        }
    }
}
