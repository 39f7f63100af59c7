//! The generic template context, built from the plan and the store:
//!
//! * `spec`, `options`;
//! * `stages` (by node name) and `by_stage` (spec stage name → its nodes across sweep
//!   points, in point order), each with kind, key, params, sweep point and metrics;
//! * `seeds`: the replicates of the sweep (sorted; the `vars.seed` values, or labels such
//!   as `train_seed=1, seed=0` when `sweep.replicates` names more axes; empty without any);
//! * `cells`: spec stage name → metric → aggregate over replicates `{mean, sd, n, values,
//!   seeds}` of the stage's distinct results at its first setting (render with `| pm`);
//!   `groups`: the same for every setting, i.e. split by the non-replicate sweep axes
//!   (`[{point, label, metrics}]`, for sweeps such as `lambda_fair × E × seed`);
//! * `comparisons`: the report entry's `options.comparisons` (`[{label, a, b, margin}]`,
//!   `a`/`b` as `STAGE.METRIC`) tested across seeds and across users, Holm-corrected
//!   within the entry (see `stats`);
//! * `pairs`: for each metrics stage named in `options.pair_stages`, AUC / precision /
//!   recall (x100) over its **consistent** points (the target is in the user's own group)
//!   and its **inconsistent** points (the target is in another group only), as seed
//!   aggregates: `pairs[stage].consistent.auc` (Table I);
//! * `claims`: the spec's `claims:` with their verdicts (see `claims`);
//! * `provenance`: what the footer says (see `provenance`).
//!
//! Invariant: undefined numbers are JSON `null` (rendered `-`), never 0.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use mosx_store::Store;

use super::stats::{self, Loader};
use super::ReportError;
use crate::plan::Plan;

fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

/// `{mean, sd, n, values, seeds}` of `(seed, value)` pairs (NaN values skipped).
fn aggregate(vals: &[(Option<Value>, f64)]) -> Value {
    let finite: Vec<f64> = vals.iter().map(|(_, v)| *v).collect();
    let s = mosx_stats::summary(&finite);
    json!({
        "mean": num(s.mean), "sd": num(s.sd), "n": s.n,
        "values": vals.iter().map(|(_, v)| num(*v)).collect::<Vec<_>>(),
        "seeds": vals.iter().map(|(s, _)| s.clone().unwrap_or(Value::Null)).collect::<Vec<_>>(),
    })
}

pub fn build(
    plan: &Plan,
    store: &dyn Store,
    options: &Map<String, Value>,
    output: &str,
) -> Result<Value, ReportError> {
    let mut stages = Map::new();
    let mut by_stage: Map<String, Value> = Map::new();
    let mut metrics_of: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for i in &plan.order {
        let n = &plan.graph[*i];
        let raw = store.metrics(&n.key)?;
        let metrics: Map<String, Value> = raw.iter().map(|(k, v)| (k.clone(), num(*v))).collect();
        metrics_of.insert(n.key.clone(), raw);
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

    // Seed aggregates per spec stage (and per non-seed sweep group).
    let mut cells = Map::new();
    let mut groups = Map::new();
    let names: BTreeSet<&str> = plan
        .order
        .iter()
        .map(|i| plan.graph[*i].base.as_str())
        .collect();
    for name in names {
        // group -> (seed, node key), distinct nodes only.
        let mut by_group: BTreeMap<String, (Value, Vec<(Option<Value>, String)>)> = BTreeMap::new();
        let mut all: Vec<(Option<Value>, String)> = Vec::new();
        for i in plan.all_of(name) {
            let n = &plan.graph[i];
            for &ix in &n.points {
                let Some(inst) = plan.spec.instances.get(ix) else {
                    continue;
                };
                let (rest, seed) = stats::unit_of(&plan.spec, &inst.point);
                let gkey = serde_json::to_string(&rest).unwrap_or_default();
                let entry = by_group
                    .entry(gkey)
                    .or_insert_with(|| (Value::Object(rest), Vec::new()));
                if !entry.1.iter().any(|(_, k)| *k == n.key) {
                    entry.1.push((seed.clone(), n.key.clone()));
                }
                if !all.iter().any(|(_, k)| *k == n.key) {
                    all.push((seed, n.key.clone()));
                }
            }
        }
        let agg_of = |members: &[(Option<Value>, String)]| -> Value {
            let mut per_metric: BTreeMap<&str, Vec<(Option<Value>, f64)>> = BTreeMap::new();
            for (seed, key) in members {
                for (m, v) in metrics_of.get(key).map(Vec::as_slice).unwrap_or(&[]) {
                    per_metric.entry(m).or_default().push((seed.clone(), *v));
                }
            }
            Value::Object(
                per_metric
                    .into_iter()
                    .map(|(m, vals)| (m.to_string(), aggregate(&vals)))
                    .collect(),
            )
        };
        let group_list: Vec<Value> = by_group
            .values()
            .map(|(point, members)| {
                let label = point
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| format!("{}={v}", k.trim_start_matches("vars.")))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                json!({ "point": point, "label": label, "metrics": agg_of(members) })
            })
            .collect();
        // A stage that varies over settings (non-replicate axes): `cells` aggregates its first
        // setting only; `groups` has every setting.
        let first = by_group
            .values()
            .next()
            .map(|(_, m)| m.clone())
            .unwrap_or(all);
        cells.insert(name.to_string(), agg_of(&first));
        groups.insert(name.to_string(), Value::Array(group_list));
    }

    let seeds: BTreeSet<String> = plan
        .spec
        .instances
        .iter()
        .filter_map(|i| {
            stats::unit_of(&plan.spec, &i.point)
                .1
                .map(|v| v.to_string())
        })
        .collect();

    // Comparisons of this report entry.
    let mut loader = Loader::new(store);
    let mut comps = Vec::new();
    if let Some(list) = options.get("comparisons") {
        let list = list.as_array().ok_or_else(|| ReportError::Input {
            output: output.to_string(),
            message: "options.comparisons: expected a list of {label, a, b, margin}".into(),
        })?;
        for c in list {
            let get = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
            let (a, b) = (get("a"), get("b"));
            let label = match get("label") {
                "" => format!("{a} vs {b}"),
                l => l.to_string(),
            };
            let margin = c.get("margin").and_then(Value::as_f64).unwrap_or(0.0);
            comps.push(stats::compare(
                plan,
                store,
                &mut loader,
                &label,
                a,
                b,
                margin,
                output,
            )?);
        }
        stats::holm_in_place(&mut comps);
    }
    let claims = super::claims::evaluate(plan, store, &mut loader, output)?;

    let mut pairs = Map::new();
    for name in options
        .get("pair_stages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let mut vals: BTreeMap<(&str, &str), Vec<(Option<Value>, f64)>> = BTreeMap::new();
        for i in plan.all_of(name) {
            let seed = plan.graph[i]
                .points
                .first()
                .and_then(|ix| plan.spec.instances.get(*ix))
                .and_then(|inst| stats::unit_of(&plan.spec, &inst.point).1);
            let ps = loader
                .points(plan, i)
                .map_err(|message| ReportError::Input {
                    output: output.to_string(),
                    message,
                })?;
            for side in ["consistent", "inconsistent"] {
                let sel: Vec<mosx_fairness::EvalPoint> = ps
                    .points
                    .iter()
                    .filter(|p| {
                        let own = p.in_target_group(p.user_group);
                        let other =
                            (0..ps.groups.len()).any(|b| b != p.user_group && p.in_target_group(b));
                        if side == "consistent" {
                            own
                        } else {
                            other && !own
                        }
                    })
                    .cloned()
                    .collect();
                for m in ["auc", "precision", "recall"] {
                    let v = stats::metric(&sel, &ps.groups, ps.kind, m).unwrap_or(f64::NAN);
                    vals.entry((side, m)).or_default().push((seed.clone(), v));
                }
                vals.entry((side, "n"))
                    .or_default()
                    .push((seed.clone(), sel.len() as f64));
            }
        }
        let mut by_side = Map::new();
        for ((side, m), v) in vals {
            let e = by_side
                .entry(side.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(o) = e {
                o.insert(m.to_string(), aggregate(&v));
            }
        }
        pairs.insert(name.to_string(), Value::Object(by_side));
    }

    Ok(json!({
        "spec": { "name": plan.spec.name, "path": plan.spec.path.to_string_lossy(), "hash": plan.spec.hash,
                  "description": plan.spec.description },
        "options": options,
        "stages": stages,
        "by_stage": by_stage,
        "seeds": seeds.into_iter().map(|s| serde_json::from_str::<Value>(&s).unwrap_or(Value::String(s))).collect::<Vec<_>>(),
        "cells": cells,
        "groups": groups,
        "comparisons": serde_json::to_value(&comps).unwrap_or(Value::Null),
        "claims": claims,
        "pairs": pairs,
    }))
}
