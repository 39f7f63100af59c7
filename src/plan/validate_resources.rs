//! `resources:` checked at plan time, whatever the executor: every entry names a stage kind
//! (or `default`) and holds values in Slurm's syntax (`mosx_slurm::Resources`: a time limit,
//! a memory size, `cpus >= 1`, a gres) and a retry policy (`mosx_slurm::RetryPolicy`:
//! `retries`, a whole number, and `max_mem`, a memory size), so a typo fails the same under
//! `--executor local` as it would on the cluster.
//!
//! Invariants: an error is located at the offending value (`resources.train.mem`), or at the
//! entry when the field is unknown; the resources of a kind are its entry over `default`,
//! field by field, and every kind the plan uses has resources (`default`'s, or Slurm's
//! defaults). Once merged, a kind's `max_mem` needs a `mem` (it caps doubling `mem`) at
//! most `max_mem`; the error is at the `max_mem` that entry takes.

use std::collections::BTreeMap;

use mosx_slurm::{Resources, RetryPolicy};
use mosx_spec::SpecError;
use serde_json::{Map, Value};

use super::Plan;
use crate::stages::Registry;

/// The keys of a `resources:` entry that are the retry policy, not the request.
const RETRY_KEYS: [&str; 2] = ["retries", "max_mem"];

/// What the Slurm executor asks for the jobs of one stage kind, and how it resubmits them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindResources {
    pub request: Resources,
    pub retry: RetryPolicy,
}

/// The resources of each stage kind the plan uses (the kind's `resources:` entry over
/// `default`), checked against the stage kinds and Slurm's formats.
pub fn resources(
    plan: &Plan,
    registry: &Registry,
) -> Result<BTreeMap<String, KindResources>, SpecError> {
    let spec = &plan.spec;
    let default = match spec.resources.get("default") {
        Some(m) => parse(plan, "default", m)?,
        None => KindResources::default(),
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
        let own = parse(plan, kind, m)?;
        let merged = KindResources {
            request: own.request.or(&default.request),
            retry: own.retry.or(&default.retry),
        };
        out.insert(kind.clone(), merged);
    }
    for i in plan.graph.node_indices() {
        let kind = plan.graph[i].kind.name();
        out.entry(kind.to_string())
            .or_insert_with(|| default.clone());
    }
    for (kind, r) in &out {
        check_max_mem(plan, kind, r)?;
    }
    Ok(out)
}

/// One entry: its request and its retry policy, with the error at the field serde stopped at.
fn parse(plan: &Plan, kind: &str, map: &Map<String, Value>) -> Result<KindResources, SpecError> {
    let (retry, request): (Map<String, Value>, Map<String, Value>) = map
        .clone()
        .into_iter()
        .partition(|(k, _)| RETRY_KEYS.contains(&k.as_str()));
    Ok(KindResources {
        request: deserialize(plan, kind, request)?,
        retry: deserialize(plan, kind, retry)?,
    })
}

fn deserialize<T: serde::de::DeserializeOwned>(
    plan: &Plan,
    kind: &str,
    map: Map<String, Value>,
) -> Result<T, SpecError> {
    serde_path_to_error::deserialize::<_, T>(Value::Object(map)).map_err(|e| {
        let path = e.path().to_string();
        let field = if path.is_empty() || path == "." {
            format!("resources.{kind}")
        } else {
            format!("resources.{kind}.{path}")
        };
        plan.spec.error_at(&field, e.into_inner().to_string(), None)
    })
}

/// A merged `max_mem` caps doubling `mem`: it needs one, no larger than itself.
fn check_max_mem(plan: &Plan, kind: &str, r: &KindResources) -> Result<(), SpecError> {
    let Some(max) = r.retry.max_mem else {
        return Ok(());
    };
    let spec = &plan.spec;
    // The entry the `max_mem` comes from: the kind's own, else `default`.
    let from = if spec
        .resources
        .get(kind)
        .is_some_and(|m| m.contains_key("max_mem"))
    {
        kind
    } else {
        "default"
    };
    let field = format!("resources.{from}.max_mem");
    match r.request.mem {
        None => Err(spec.error_at(
            &field,
            format!(
                "max_mem {max} without a mem for `{kind}`: it caps doubling mem after OUT_OF_MEMORY"
            ),
            None,
        )),
        Some(mem) if mem > max => Err(spec.error_at(
            &field,
            format!("max_mem {max} is below the mem {mem} of `{kind}`"),
            None,
        )),
        Some(_) => Ok(()),
    }
}
