//! Plan-time checks of the ranking protocol's wiring (issue 18), each located at the value it
//! is about:
//! * an `evaluate` with `protocol: ranking` has a `candidates` input, and a stage with a
//!   `candidates` input ranks (`protocol: ranking`);
//! * a `rankings` input is bound to a ranking `evaluate`;
//! * `metrics`' `k` is read only with a `rankings` input.

use serde_json::Value;

use mosx_spec::SpecError;

use super::validate::node_error;
use super::Plan;
use crate::stages::artifacts::slot;

fn ranks(plan: &Plan, i: petgraph::graph::NodeIndex) -> bool {
    plan.graph[i].params.get("protocol").and_then(Value::as_str) == Some("ranking")
}

/// Every check of the module note, in plan order.
pub fn protocols(plan: &Plan) -> Result<(), SpecError> {
    for &i in &plan.order {
        let node = &plan.graph[i];
        let has = |s: mosx_stage::SlotRef| node.inputs.contains_key(s.name);
        let kind_has_candidates = node
            .kind
            .slots()
            .iter()
            .any(|s| s.name == slot::CANDIDATES.name);
        if kind_has_candidates && ranks(plan, i) && !has(slot::CANDIDATES) {
            let msg = "`protocol: ranking` needs a `candidates` input (a `candidates` stage)";
            return Err(node_error(plan, i, "inputs", msg.into(), None));
        }
        if has(slot::CANDIDATES) && !ranks(plan, i) {
            let msg = "a `candidates` input is ranked only under `protocol: ranking`";
            return Err(node_error(plan, i, "inputs.candidates", msg.into(), None));
        }
        if let Some(&up) = node.inputs.get(slot::RANKINGS.name) {
            if !ranks(plan, up) {
                let msg = format!(
                    "{} does not rank (`protocol: ranking`), so it writes no rankings",
                    plan.graph[up].name
                );
                return Err(node_error(plan, i, "inputs.rankings", msg, None));
            }
        }
        let reads_k = node
            .kind
            .slots()
            .iter()
            .any(|s| s.name == slot::RANKINGS.name);
        if reads_k && node.params.get("k").is_some() && !has(slot::RANKINGS) {
            let msg = "cut-offs `k` are read only with a `rankings` input (a ranking `evaluate`)";
            return Err(node_error(plan, i, "params.k", msg.into(), None));
        }
    }
    Ok(())
}
