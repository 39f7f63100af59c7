//! Compilation of a spec into a DAG of stages (petgraph).
//!
//! Invariants:
//! * Every node has a key computed from its kind, code hashes, code version, normalised
//!   params, its upstream keys and its external file hashes (`fingerprint`).
//! * Identical stages (same key) are one node, whichever sweep points or spec
//!   entries asked for them, so sweeps and tables share upstream work.
//! * Node names are unique: the stage name, plus the sweep values that pin it
//!   when a sweep is present (`measure[z_star=1.645]`).
//! * Errors are `mosx_spec::SpecError`s located in the spec file; everything checkable
//!   without the data is checked before a plan exists (`validate`: groups, adapters, claims'
//!   metrics, resources), and a run-time error about a parameter carries its location
//!   (`locate`).

pub mod code;
pub mod compile;
pub mod extend;
pub mod fingerprint;
mod job;
pub mod locate;
pub mod render;
pub mod reports;
pub mod validate;
pub mod validate_metrics;
pub mod validate_protocol;
pub mod validate_resources;

use std::collections::BTreeMap;

use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::Value;

use crate::stages::KindRef;
pub use compile::{compile, compile_in};
pub use fingerprint::Parts;

/// One stage of the plan.
pub struct Node {
    /// Unique display name (stage name plus pinning sweep values).
    pub name: String,
    /// The stage's name in the spec.
    pub base: String,
    pub kind: KindRef,
    /// Normalised params (defaults filled; locations included).
    pub params: Value,
    /// Slot → upstream node.
    pub inputs: BTreeMap<String, NodeIndex>,
    pub parts: Parts,
    pub key: String,
    /// Sweep points (indices into `Spec::instances`) that use this node.
    pub points: Vec<usize>,
}

impl Node {
    /// The seed this stage uses, if its params have one (for provenance).
    pub fn seed(&self) -> Option<i64> {
        self.params.get("seed").and_then(Value::as_i64)
    }
}

pub struct Plan {
    pub spec: mosx_spec::Spec,
    /// Edges point from an upstream stage to its consumer; the weight is the slot.
    pub graph: DiGraph<Node, String>,
    /// Topological order.
    pub order: Vec<NodeIndex>,
    /// (instance index, stage name in spec) → node.
    pub by_decl: BTreeMap<(usize, String), NodeIndex>,
    /// The project and templates folders, resolved once at compile time; every job carries
    /// them.
    pub project: mosx_stage::Project,
}

impl Plan {
    pub fn node(&self, i: NodeIndex) -> &Node {
        &self.graph[i]
    }

    /// Node → its place in the topological order (where ready stages start in order).
    pub fn positions(&self) -> std::collections::HashMap<NodeIndex, usize> {
        self.order
            .iter()
            .enumerate()
            .map(|(k, i)| (*i, k))
            .collect()
    }

    /// Scope under which this spec's node names are remembered (lineage for `--explain`).
    pub fn scope(&self) -> String {
        self.spec.path.to_string_lossy().into_owned()
    }

    /// Nodes of the first instance that has a stage called `name`, then any.
    pub fn find(&self, name: &str) -> Option<NodeIndex> {
        self.by_decl
            .iter()
            .find(|((_, n), _)| n == name)
            .map(|(_, i)| *i)
            .or_else(|| {
                self.graph
                    .node_indices()
                    .find(|i| self.graph[*i].name == name)
            })
    }

    /// All nodes of spec stage `name`, one per distinct key, in instance order.
    pub fn all_of(&self, name: &str) -> Vec<NodeIndex> {
        let mut out: Vec<NodeIndex> = Vec::new();
        for ((_, n), i) in &self.by_decl {
            if n == name && !out.contains(i) {
                out.push(*i);
            }
        }
        out
    }
}

/// For a spec that is the union of others (`extends: [a.yaml, b.yaml]`): each part's number of
/// unique trainings when compiled on its own (its own vars, no `--set`), i.e. what running the
/// parts one by one without a shared cache would train. The union trains each unique training
/// once, so its count is at most the sum.
pub fn trainings_per_part(
    parts: &[std::path::PathBuf],
) -> Result<Vec<(std::path::PathBuf, usize)>, mosx_spec::SpecError> {
    let registry = crate::stages::registry::builtin();
    parts
        .iter()
        .map(|p| {
            let plan = compile(mosx_spec::load(p, &[])?, &registry)?;
            let n = plan
                .graph
                .node_indices()
                .filter(|i| plan.graph[*i].kind.name() == crate::stages::train::NAME)
                .count();
            Ok((p.clone(), n))
        })
        .collect()
}
