//! The generic template context: `spec`, `options`, `stages` (by node name) and
//! `by_stage` (spec stage name → its nodes across sweep points, in point order).

use serde_json::{json, Map, Value};

use mosx_store::Store;

use super::ReportError;
use crate::plan::Plan;

pub fn build(
    plan: &Plan,
    store: &dyn Store,
    options: &Map<String, Value>,
) -> Result<Value, ReportError> {
    let mut stages = Map::new();
    let mut by_stage: Map<String, Value> = Map::new();
    for i in &plan.order {
        let n = &plan.graph[*i];
        let metrics: Map<String, Value> = store
            .metrics(&n.key)?
            .into_iter()
            .map(|(k, v)| (k, if v.is_finite() { json!(v) } else { Value::Null }))
            .collect();
        let point = n
            .points
            .first()
            .and_then(|ix| plan.spec.instances.get(*ix))
            .map(|inst| inst.point.clone())
            .unwrap_or_default();
        let v = json!({
            "name": n.name, "stage": n.base, "kind": n.kind.name(), "key": n.key,
            "params": n.params, "point": point, "metrics": metrics,
        });
        if let Some(Value::Array(a)) = by_stage.get_mut(&n.base) {
            a.push(v.clone());
        } else {
            by_stage.insert(n.base.clone(), Value::Array(vec![v.clone()]));
        }
        stages.insert(n.name.clone(), v);
    }
    Ok(json!({
        "spec": { "name": plan.spec.name, "path": plan.spec.path.to_string_lossy(), "hash": plan.spec.hash,
                  "description": plan.spec.description },
        "options": options,
        "stages": stages,
        "by_stage": by_stage,
    }))
}
