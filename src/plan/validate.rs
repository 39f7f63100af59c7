//! Plan-time checks that need the compiled plan (kinds, edges, key files), run by `compile`
//! before it returns, so `run`, `--dry-run`, `dag` and `report` refuse the same specs, exit 2,
//! and write nothing. What each check reads is in the plan only; none needs the store.
//!
//! Invariants, each error located in the spec at the value it is about (at the sweep entry
//! of a swept value):
//! * every group a stage's params name ([`crate::stages::StageKind::named_groups`]) is a user
//!   group of the stage's dataset, known from its `load` ancestor's folder layout;
//! * an `adapter` (a `train` stage) was trained on the backbone the consumer runs (the
//!   checkpoint's content hashes, not its path), on the same `split` input (the same key) and
//!   on prompts of the same `template`;
//! * the ranking protocol is wired as [`super::validate_protocol`] states;
//! * claims, report comparisons and a search's objective name metrics their stage's kind writes
//!   ([`super::validate_metrics`]);
//! * `resources:` names stage kinds and holds values in Slurm's syntax
//!   ([`super::validate_resources`]), for every executor.

use std::collections::BTreeMap;

use petgraph::graph::NodeIndex;
use serde_json::Value;

use mosx_spec::SpecError;

use super::Plan;
use crate::stages::artifacts::slot;
use crate::stages::Registry;

/// Every check of the module note, in order.
pub fn check(plan: &Plan, registry: &Registry) -> Result<(), SpecError> {
    let mut groups = Groups::default();
    group_names(plan, &mut groups)?;
    adapters(plan)?;
    super::validate_protocol::protocols(plan)?;
    super::validate_metrics::claims(plan, &mut groups)?;
    super::validate_metrics::comparisons(plan, &mut groups)?;
    super::validate_metrics::objective(plan, &mut groups)?;
    super::validate_resources::resources(plan, registry)?;
    Ok(())
}

/// The user groups of each node's dataset, looked up once per node.
#[derive(Default)]
pub struct Groups {
    memo: BTreeMap<NodeIndex, Option<(NodeIndex, Vec<String>)>>,
}

impl Groups {
    /// The groups of the dataset `i` reads (or is), with the node that declared them: the
    /// nearest ancestor whose kind knows them (`load`); `None` when none does (e.g. a data
    /// folder whose layout is not recognised, which the load stage reports itself).
    pub fn of(&mut self, plan: &Plan, i: NodeIndex) -> Option<(NodeIndex, Vec<String>)> {
        if let Some(g) = self.memo.get(&i) {
            return g.clone();
        }
        let node = &plan.graph[i];
        let found = match node.kind.groups(&node.params) {
            Some(g) => Some((i, g)),
            None => node.inputs.values().find_map(|up| self.of(plan, *up)),
        };
        self.memo.insert(i, found.clone());
        found
    }
}

/// An error about node `i`'s `field` (under `stages.NAME.`), at its first sweep point.
pub fn node_error(
    plan: &Plan,
    i: NodeIndex,
    field: &str,
    message: String,
    suggestion: Option<String>,
) -> SpecError {
    let node = &plan.graph[i];
    let instance = node.points.first().copied().unwrap_or(0);
    plan.spec.error_at_instance(
        instance,
        &format!("stages.{}.{field}", node.base),
        message,
        suggestion,
    )
}

fn group_names(plan: &Plan, groups: &mut Groups) -> Result<(), SpecError> {
    for &i in &plan.order {
        let node = &plan.graph[i];
        for (field, g) in node.kind.named_groups(&node.params) {
            let Some((source, known)) = groups.of(plan, i) else {
                continue;
            };
            if known.contains(&g) {
                continue;
            }
            let message = format!(
                "unknown group `{}`: the dataset of {} has groups {}",
                mosx_spec::printable(&g),
                plan.graph[source].name,
                known.join(", ")
            );
            let hint = mosx_spec::suggest(&g, known.iter().map(String::as_str));
            return Err(node_error(
                plan,
                i,
                &format!("params.{field}"),
                message,
                hint,
            ));
        }
    }
    Ok(())
}

/// The checkpoint a node's key covers: its path param and one hash over its `model/*` key
/// files (config, tokenizer, weights).
fn backbone(plan: &Plan, i: NodeIndex) -> (String, String) {
    let node = &plan.graph[i];
    let mut h = blake3::Hasher::new();
    let files = node.parts.files.iter();
    for (name, hash) in files.filter(|(n, _)| n.starts_with("model/")) {
        h.update(name.as_bytes());
        h.update(b"=");
        h.update(hash.as_bytes());
        h.update(b"\n");
    }
    let model = node.params.get("model").and_then(Value::as_str);
    (
        model.unwrap_or_default().to_string(),
        h.finalize().to_hex()[..12].to_string(),
    )
}

fn template(plan: &Plan, i: NodeIndex) -> String {
    let p = &plan.graph[i].params;
    p.get("template")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Each consumer of an `adapter` and its training agree on backbone, split and template.
fn adapters(plan: &Plan) -> Result<(), SpecError> {
    for &i in &plan.order {
        let node = &plan.graph[i];
        let Some(&t) = node.inputs.get(slot::ADAPTER.name) else {
            continue;
        };
        let trained = &plan.graph[t].name;
        let field = "inputs.adapter";
        let (model_t, hash_t) = backbone(plan, t);
        let (model_e, hash_e) = backbone(plan, i);
        if hash_t != hash_e {
            let msg = format!(
                "{trained} was trained on {model_t} (hash {hash_t}) but this stage evaluates {model_e} (hash {hash_e})"
            );
            return Err(node_error(plan, i, field, msg, None));
        }
        let split = slot::SPLIT.name;
        let (split_t, split_e) = (plan.graph[t].inputs.get(split), node.inputs.get(split));
        if split_t != split_e {
            let name =
                |s: Option<&NodeIndex>| s.map_or("none".into(), |s| plan.graph[*s].name.clone());
            let msg = format!(
                "{trained} was trained on split {} but this stage evaluates split {} (an adapter is evaluated on the split it was trained on, so no test point was a training point)",
                name(split_t),
                name(split_e)
            );
            return Err(node_error(plan, i, field, msg, None));
        }
        let (tpl_t, tpl_e) = (template(plan, t), template(plan, i));
        if tpl_t != tpl_e {
            let msg = format!(
                "{trained} was trained on prompts of template `{tpl_t}` but this stage evaluates with template `{tpl_e}`"
            );
            return Err(node_error(plan, i, field, msg, None));
        }
    }
    Ok(())
}
