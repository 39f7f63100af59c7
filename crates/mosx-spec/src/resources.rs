//! `resources:`: what a cluster executor asks for each stage, per stage kind, with a `default`
//! for kinds not named (the local executor ignores it):
//!
//! ```yaml
//! resources:
//!   default: { partition: cpu, time: "00:30:00", mem: 4G, cpus: 2, retries: 2 }
//!   train:   { partition: gpu, time: "12:00:00", mem: 32G, cpus: 8, gres: "gpu:1", max_mem: 128G }
//! ```
//!
//! `retries` and `max_mem` are not requests but how the executor resubmits a job its node
//! lost or that ran out of memory (`mosx_slurm::RetryPolicy`).
//!
//! Invariants: keys of an entry are one of [`RESOURCE_KEYS`] (unknown keys are located errors
//! with a suggestion); values are strings or non-negative integers, kept as written for the
//! executor to validate against its scheduler's formats; the kind names are checked by the plan,
//! which knows the stage kinds. `resources` never enters a stage key: where a stage runs does not
//! change what it computes.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::SpecError;
use crate::node::{join, Kind, Node};
use crate::sources::Sources;
use crate::suggest::suggest;

/// Valid keys of a `resources` entry.
pub const RESOURCE_KEYS: &[&str] = &[
    "partition",
    "time",
    "mem",
    "cpus",
    "gres",
    "retries",
    "max_mem",
];

/// `resources:` of the merged document: kind name (or `default`) -> its entry.
pub(crate) fn parse(
    doc: &Node,
    sources: &Sources,
) -> Result<BTreeMap<String, Map<String, Value>>, SpecError> {
    let mut out = BTreeMap::new();
    let Some(node) = doc.get("resources") else {
        return Ok(out);
    };
    let entries = match &node.kind {
        Kind::Null => return Ok(out),
        Kind::Map(e) => e,
        _ => {
            return Err(sources.error(
                node.loc,
                "resources",
                format!(
                    "expected a map from stage kind (or `default`) to resources, found {}",
                    node.describe()
                ),
                None,
            ))
        }
    };
    for e in entries {
        let field = join("resources", &e.key);
        let Kind::Map(fields) = &e.value.kind else {
            return Err(sources.error(
                e.value.loc,
                field,
                format!(
                    "expected a map of {}, found {}",
                    RESOURCE_KEYS.join(", "),
                    e.value.describe()
                ),
                None,
            ));
        };
        let mut m = Map::new();
        for f in fields {
            let ff = join(&field, &f.key);
            if !RESOURCE_KEYS.contains(&f.key.as_str()) {
                return Err(sources.error(
                    f.key_loc,
                    ff,
                    "unknown field",
                    suggest(&f.key, RESOURCE_KEYS.iter().copied()),
                ));
            }
            let v = match &f.value.kind {
                Kind::Str(s) => Value::String(s.clone()),
                Kind::Int(i) if *i >= 0 => Value::from(*i),
                Kind::Null => continue,
                _ => {
                    return Err(sources.error(
                        f.value.loc,
                        ff,
                        format!(
                            "expected a string or a non-negative integer, found {}",
                            f.value.describe()
                        ),
                        None,
                    ))
                }
            };
            m.insert(f.key.clone(), v);
        }
        out.insert(e.key.clone(), m);
    }
    Ok(out)
}
