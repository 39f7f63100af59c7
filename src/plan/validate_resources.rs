//! `resources:` checked at plan time, whatever the executor: every entry names a stage kind
//! (or `default`) and holds values in Slurm's syntax (`mosx_slurm::Resources`: a time limit,
//! a memory size, `cpus >= 1`, a gres), so a typo fails the same under `--executor local` as
//! it would on the cluster.
//!
//! Invariants: an error is located at the offending value (`resources.train.mem`), or at the
//! entry when the field is unknown; the resources of a kind are its entry over `default`,
//! and every kind the plan uses has resources (`default`'s, or Slurm's defaults).

use std::collections::BTreeMap;

use mosx_slurm::Resources;
use mosx_spec::SpecError;

use super::Plan;
use crate::stages::Registry;

/// The resources of each stage kind the plan uses (the kind's `resources:` entry over
/// `default`), checked against the stage kinds and Slurm's formats.
pub fn resources(
    plan: &Plan,
    registry: &Registry,
) -> Result<BTreeMap<String, Resources>, SpecError> {
    let spec = &plan.spec;
    let default = match spec.resources.get("default") {
        Some(m) => parse(plan, "default", m)?,
        None => Resources::default(),
    };
    let mut out = BTreeMap::new();
    for (kind, m) in &spec.resources {
        if kind == "default" {
            continue;
        }
        if registry.get(kind).is_none() {
            return Err(spec.error_at_key(
                &format!("resources.{kind}"),
                format!(
                    "unknown stage kind `{}` (or `default`)",
                    mosx_spec::printable(kind)
                ),
                mosx_spec::suggest(kind, registry.names().chain(["default"])),
            ));
        }
        out.insert(kind.clone(), parse(plan, kind, m)?.or(&default));
    }
    for i in plan.graph.node_indices() {
        let kind = plan.graph[i].kind.name();
        out.entry(kind.to_string())
            .or_insert_with(|| default.clone());
    }
    Ok(out)
}

/// One entry, with the error at the field serde stopped at.
fn parse(
    plan: &Plan,
    kind: &str,
    map: &serde_json::Map<String, serde_json::Value>,
) -> Result<Resources, SpecError> {
    let value = serde_json::Value::Object(map.clone());
    serde_path_to_error::deserialize::<_, Resources>(&value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path.is_empty() || path == "." {
            format!("resources.{kind}")
        } else {
            format!("resources.{kind}.{path}")
        };
        plan.spec.error_at(&field, e.into_inner().to_string(), None)
    })
}
