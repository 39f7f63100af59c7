//! Where the spec wrote a node's parameters, for errors found after planning (a stage that
//! fails at run time because of a parameter's value, e.g. more windows than the data has).
//!
//! Invariants: a location is `file:line:col: stages.NAME.params.FIELD` as a plan-time error
//! shows it (a swept value at its sweep entry, a parameter the spec left to its default at
//! the nearest written parent); locations never enter a key, so moving a line of a spec
//! keeps the cache.

use std::collections::BTreeMap;

use petgraph::graph::NodeIndex;
use serde_json::Value;

use super::Plan;

/// The location of every parameter of node `i`, by field under `params`: each top-level
/// parameter and each key one level below it (`method.tokens`, `group_ratio.adult`).
pub fn param_locations(plan: &Plan, i: NodeIndex) -> BTreeMap<String, String> {
    let node = &plan.graph[i];
    let instance = node.points.first().copied().unwrap_or(0);
    let mut out = BTreeMap::new();
    let Some(params) = node.params.as_object() else {
        return out;
    };
    let mut put = |field: String| {
        let at = located(
            plan,
            instance,
            &format!("stages.{}.params.{field}", node.base),
        );
        out.insert(field, at);
    };
    for (k, v) in params {
        put(k.clone());
        if let Value::Object(inner) = v {
            for k2 in inner.keys() {
                put(format!("{k}.{k2}"));
            }
        }
    }
    out
}

/// `file:line:col: FIELD` of `field` at sweep point `instance` (printable).
pub fn located(plan: &Plan, instance: usize, field: &str) -> String {
    let e = plan.spec.error_at_instance(instance, field, "", None);
    let field = mosx_spec::printable(&e.field);
    if e.line > 0 {
        format!("{}:{}:{}: {field}", e.file.display(), e.line, e.col)
    } else {
        format!("{}: {field}", e.file.display())
    }
}
