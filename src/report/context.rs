//! The generic template context, built from the plan and the store:
//!
//! * `spec`, `options`; an entry of `options.datasets` that gives no `groups` gets its
//!   dataset's user groups (in the dataset's order): those of its `sample` stage, else of
//!   `<prefix>_load` (`_sample`, `_split`, `_measure`), else of the first stage named
//!   `<prefix>_…` whose groups are known, else `[]`; so a template that
//!   loops over `d.groups` follows the spec's `group_by`, whatever the number of groups;
//! * `stages` (by node name) and `by_stage` (spec stage name → its nodes across sweep
//!   points, in point order), each with kind, key, params, sweep point, metrics and
//!   `groups` (the user groups of the stage's dataset, known at plan time; null if not);
//! * `seeds`: the replicates of the sweep (sorted; the `vars.seed` values, or labels such
//!   as `train_seed=1, seed=0` when `sweep.replicates` names more axes; empty without any);
//! * `cells`: spec stage name → metric → aggregate over replicates `{mean, sd, n, expected,
//!   values, seeds}` of the stage's distinct results at its first setting (render with
//!   `| pm`, which prints `(n=k)` when only `k` of the `expected` replicates are defined);
//!   a `metrics` stage evaluated with a trained adapter also carries its `train` stage's
//!   metrics under `train.` (lineage: metrics → predictions → evaluate → adapter → train),
//!   e.g. `train.routing.valid.male.e2`, which the `internals` filter renders;
//!   `groups`: the same for every setting, i.e. split by the non-replicate sweep axes
//!   (`[{point, label, metrics}]`, for sweeps such as `lambda_fair × E × seed`);
//! * `comparisons`: the report entry's `options.comparisons` and `options.compare` (see
//!   `declare`), each tested with the seed as the unit (see `compare`), Holm-corrected
//!   within the entry;
//! * `pairs`: for each metrics stage named in `options.pair_stages`, AUC / precision /
//!   recall (x100) over its **consistent** points (the target is in the user's own group)
//!   and its **inconsistent** points (the target is in another group only), as seed
//!   aggregates: `pairs[stage].consistent.auc` (Table I);
//! * `agreement`: for each `options.agreement` pair of metrics stages, how far the second's
//!   scores are from the first's on the same points (see `agreement`);
//! * `claims`: the spec's `claims:` with their verdicts (see `claims`);
//! * `provenance`: what the footer says (see `provenance`).
//!
//! Invariant: undefined numbers are JSON `null` (rendered `-`), never 0; a replicate whose
//! value is undefined or missing still counts in `expected`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use petgraph::graph::NodeIndex;
use serde_json::{json, Map, Value};

use mosx_store::Store;

use super::compare::{self, Comparison};
use super::declare;
use super::stats::{self, Loader, PointSet};
use super::ReportError;
use crate::plan::validate::Groups;
use crate::plan::{Node, Plan};
use crate::stages::artifacts::slot;

/// The `train` stage whose adapter a `metrics` stage's predictions were made with.
fn train_of(plan: &Plan, n: NodeIndex) -> Option<NodeIndex> {
    let ev = *plan.graph[n].inputs.get(slot::PREDICTIONS.name)?;
    let tr = *plan.graph[ev].inputs.get(slot::ADAPTER.name)?;
    (plan.graph[tr].kind.name() == crate::stages::train::NAME).then_some(tr)
}

fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

/// `{mean, sd, n, expected, values, seeds}` of `(seed, value)` pairs (NaN values skipped in
/// `n`, counted in `expected`).
fn aggregate(vals: &[(Option<Value>, f64)]) -> Value {
    let finite: Vec<f64> = vals.iter().map(|(_, v)| *v).collect();
    let s = mosx_stats::summary(&finite);
    json!({
        "mean": num(s.mean), "sd": num(s.sd), "n": s.n, "expected": vals.len(),
        "values": vals.iter().map(|(_, v)| num(*v)).collect::<Vec<_>>(),
        "seeds": vals.iter().map(|(s, _)| s.clone().unwrap_or(Value::Null)).collect::<Vec<_>>(),
    })
}

/// A replicate's seed (label) and the key of one distinct node result.
type Member = (Option<Value>, String);

/// A stage's members split by the non-replicate sweep axes: group key (the JSON of the
/// axes' values) → (those values, the group's members).
type ByGroup = BTreeMap<String, (Value, Vec<Member>)>;

/// Node key → the metrics stored for it.
type MetricsOf = BTreeMap<String, Vec<(String, f64)>>;

/// Every node of the plan as the template sees it, and the metrics read for it.
struct StageViews {
    /// Node name → its view.
    stages: Map<String, Value>,
    /// Spec stage name → the views of its nodes, in plan order.
    by_stage: Map<String, Value>,
    metrics_of: MetricsOf,
}

/// Reads every node's metrics from the store, in plan order, and builds the `stages` and
/// `by_stage` views.
fn stage_views(plan: &Plan, store: &dyn Store) -> Result<StageViews, ReportError> {
    let mut stages = Map::new();
    let mut by_stage: Map<String, Value> = Map::new();
    let mut metrics_of: MetricsOf = BTreeMap::new();
    let mut known = Groups::default();
    for i in &plan.order {
        let n = &plan.graph[*i];
        let raw = store.metrics(&n.key)?;
        let groups = known.of(plan, *i).map(|(_, g)| g);
        let v = stage_view(plan, n, &raw, groups.as_deref());
        metrics_of.insert(n.key.clone(), raw);
        if let Some(Value::Array(a)) = by_stage.get_mut(&n.base) {
            a.push(v.clone());
        } else {
            by_stage.insert(n.base.clone(), Value::Array(vec![v.clone()]));
        }
        stages.insert(n.name.clone(), v);
    }
    Ok(StageViews {
        stages,
        by_stage,
        metrics_of,
    })
}

/// One node's view: name, spec stage, kind, key, params, first sweep point, metrics and the
/// user groups of its dataset.
fn stage_view(plan: &Plan, n: &Node, raw: &[(String, f64)], groups: Option<&[String]>) -> Value {
    let metrics: Map<String, Value> = raw.iter().map(|(k, v)| (k.clone(), num(*v))).collect();
    let point = n
        .points
        .first()
        .and_then(|ix| plan.spec.instances.get(*ix))
        .map(|inst| inst.point.clone())
        .unwrap_or_default();
    json!({
        "name": n.name, "stage": n.base, "kind": n.kind.name(), "key": n.key,
        "params": n.params, "point": point, "metrics": metrics, "groups": groups,
    })
}

/// `options` with every `options.datasets` entry that gives no `groups` given its dataset's
/// (see the module note), read from the stage views `by_stage`.
fn with_dataset_groups(
    options: &Map<String, Value>,
    by_stage: &Map<String, Value>,
) -> Map<String, Value> {
    let mut options = options.clone();
    let Some(Value::Array(datasets)) = options.get_mut("datasets") else {
        return options;
    };
    let groups_of = |stage: &str| {
        by_stage
            .get(stage)
            .and_then(|v| v.get(0))
            .and_then(|v| v.get("groups"))
            .filter(|g| g.is_array())
            .cloned()
    };
    for d in datasets.iter_mut().filter_map(Value::as_object_mut) {
        if d.contains_key("groups") {
            continue;
        }
        let by_sample = d.get("sample").and_then(Value::as_str).and_then(groups_of);
        // The data stages' usual names first (`ml_…` also begins `ml_1m_…`), then any.
        let by_prefix = || {
            let prefix = format!("{}_", d.get("prefix")?.as_str()?);
            ["load", "sample", "split", "measure"]
                .iter()
                .find_map(|s| groups_of(&format!("{prefix}{s}")))
                .or_else(|| {
                    by_stage
                        .keys()
                        .filter(|name| name.starts_with(&prefix))
                        .find_map(|name| groups_of(name))
                })
        };
        let groups = by_sample.or_else(by_prefix).unwrap_or_else(|| json!([]));
        d.insert("groups".into(), groups);
    }
    options
}

/// Seed aggregates per spec stage: `cells` (its first setting) and `groups` (every
/// setting, i.e. per non-seed sweep group).
fn seed_cells(
    plan: &Plan,
    node_of: &HashMap<&str, NodeIndex>,
    metrics_of: &MetricsOf,
) -> (Map<String, Value>, Map<String, Value>) {
    let mut cells = Map::new();
    let mut groups = Map::new();
    let names: BTreeSet<&str> = plan
        .order
        .iter()
        .map(|i| plan.graph[*i].base.as_str())
        .collect();
    for name in names {
        let (by_group, all) = members_of(plan, name);
        let agg_of = |members: &[Member]| aggregate_members(plan, node_of, metrics_of, members);
        let group_list: Vec<Value> = by_group
            .values()
            .map(|(point, members)| {
                json!({ "point": point, "label": group_label(point), "metrics": agg_of(members) })
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
    (cells, groups)
}

/// The distinct node results of spec stage `name`, with their seeds: per group of the
/// non-replicate sweep axes, and all together.
fn members_of(plan: &Plan, name: &str) -> (ByGroup, Vec<Member>) {
    // group -> (seed, node key), distinct nodes only.
    let mut by_group: ByGroup = BTreeMap::new();
    let mut all: Vec<Member> = Vec::new();
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
    (by_group, all)
}

/// A group's label: its sweep values as `name=value, ...` (without the `vars.` prefix).
fn group_label(point: &Value) -> String {
    point
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{}={v}", k.trim_start_matches("vars.")))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// Metric → aggregate over `members`, for every metric any member has (a member without it
/// counts as undefined); a metrics stage's members also carry their train stage's metrics
/// under `train.`.
fn aggregate_members(
    plan: &Plan,
    node_of: &HashMap<&str, NodeIndex>,
    metrics_of: &MetricsOf,
    members: &[Member],
) -> Value {
    let mut per_member: Vec<(Option<Value>, BTreeMap<String, f64>)> = Vec::new();
    for (seed, key) in members {
        let mut m: BTreeMap<String, f64> =
            metrics_of.get(key).into_iter().flatten().cloned().collect();
        if let Some(tr) = node_of.get(key.as_str()).and_then(|n| train_of(plan, *n)) {
            for (k, v) in metrics_of.get(&plan.graph[tr].key).into_iter().flatten() {
                m.insert(format!("train.{k}"), *v);
            }
        }
        per_member.push((seed.clone(), m));
    }
    let names: BTreeSet<&String> = per_member.iter().flat_map(|(_, m)| m.keys()).collect();
    Value::Object(
        names
            .into_iter()
            .map(|name| {
                let vals: Vec<(Option<Value>, f64)> = per_member
                    .iter()
                    .map(|(s, m)| (s.clone(), m.get(name).copied().unwrap_or(f64::NAN)))
                    .collect();
                (name.clone(), aggregate(&vals))
            })
            .collect(),
    )
}

/// The replicates of the sweep: each instance's seed value (or label) as JSON text, sorted
/// and distinct.
fn seed_labels(plan: &Plan) -> BTreeSet<String> {
    plan.spec
        .instances
        .iter()
        .filter_map(|i| {
            stats::unit_of(&plan.spec, &i.point)
                .1
                .map(|v| v.to_string())
        })
        .collect()
}

/// `pairs`: for each metrics stage named in `options.pair_stages`, its consistent and
/// inconsistent aggregates (see [`pair_stage`]).
fn pairs(
    plan: &Plan,
    loader: &mut Loader<'_>,
    options: &Map<String, Value>,
    output: &str,
) -> Result<Map<String, Value>, ReportError> {
    let mut pairs = Map::new();
    for name in options
        .get("pair_stages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        pairs.insert(name.to_string(), pair_stage(plan, loader, name, output)?);
    }
    Ok(pairs)
}

/// One metrics stage's AUC / precision / recall and point count over its consistent and
/// inconsistent points, as seed aggregates: `{consistent: {auc, ...}, inconsistent: ...}`.
fn pair_stage(
    plan: &Plan,
    loader: &mut Loader<'_>,
    name: &str,
    output: &str,
) -> Result<Value, ReportError> {
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
            let sel = side_points(&ps, side == "consistent");
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
    Ok(Value::Object(by_side))
}

/// The consistent points of `ps` (the target is in the user's own group), or its
/// inconsistent ones (the target is in another group only).
fn side_points(ps: &PointSet, consistent: bool) -> Vec<mosx_fairness::EvalPoint> {
    ps.points
        .iter()
        .filter(|p| {
            let own = p.in_target_group(p.user_group);
            let other = (0..ps.groups.len()).any(|b| b != p.user_group && p.in_target_group(b));
            if consistent {
                own
            } else {
                other && !own
            }
        })
        .cloned()
        .collect()
}

/// The template context (see the module notes) of report entry `index` of the plan's spec,
/// with that entry's `options`, from the results in `store`; `output` names the report in
/// errors.
pub fn build(
    plan: &Plan,
    store: &dyn Store,
    index: usize,
    options: &Map<String, Value>,
    output: &str,
) -> Result<Value, ReportError> {
    let node_of: HashMap<&str, NodeIndex> = plan
        .order
        .iter()
        .map(|i| (plan.graph[*i].key.as_str(), *i))
        .collect();
    let StageViews {
        stages,
        by_stage,
        metrics_of,
    } = stage_views(plan, store)?;
    let (cells, groups) = seed_cells(plan, &node_of, &metrics_of);
    let seeds = seed_labels(plan);
    let options = &with_dataset_groups(options, &by_stage);

    // Comparisons of this report entry, then the spec's claims.
    let mut loader = Loader::new(store);
    let comps = comparisons(plan, &mut loader, index, options, output)?;
    let claims = super::claims::evaluate(plan, &mut loader, output)?;
    let pairs = pairs(plan, &mut loader, options, output)?;
    let agreement = super::agreement::agreement(plan, &mut loader, options, output)?;

    // The file's last context literal: `plan::reports` checks its top-level names against
    // `CONTEXT_NAMES` (so the helpers above stay before `build`).
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
        "agreement": agreement,
    }))
}

/// The entry's declared comparisons, tested and Holm-corrected together.
fn comparisons(
    plan: &Plan,
    loader: &mut Loader<'_>,
    index: usize,
    options: &Map<String, Value>,
    output: &str,
) -> Result<Vec<Comparison>, ReportError> {
    let entries = declare::entries(&plan.spec, index, options)?;
    let mut comps = Vec::with_capacity(entries.len());
    for e in &entries {
        let req = declare::request(e, |candidates, by, max| {
            let mut best: Option<(f64, &(String, String))> = None;
            for c in candidates {
                let m = compare::seed_mean(plan, loader, &c.0, by)?;
                let better = match best {
                    None => true,
                    Some((b, _)) => m.is_finite() && (!b.is_finite() || (m > b) == max && m != b),
                };
                if better {
                    best = Some((m, c));
                }
            }
            let (_, (stage, label)) = best.expect("best_of is not empty");
            Ok((stage.clone(), label.clone()))
        })?;
        comps.push(compare::compare(plan, loader, &req, output)?);
    }
    let alpha = vec![0.05; comps.len()];
    compare::holm_in_place(&mut comps, &alpha);
    Ok(comps)
}
