//! Statistics inputs of a report: metric values recomputed from stored predictions, their
//! leave-one-user-out deletions (for the within-seed jackknife SE, METHOD.md §8), and the
//! comparison units of a stage (its sweep points minus the replicate axes, plus the seed).
//!
//! Invariants:
//! * A *unit of comparison* is a sweep point of the plan minus its replicate axes (the
//!   "group", empty for a seeds-only sweep) plus its replicate (the seed; with
//!   `sweep.replicates`, e.g. a training seed, the tuple of them). Two stages are paired unit
//!   by unit; a stage that does not vary over the group axes pairs with every group of the
//!   other.
//! * Per-user metric values are undefined for most users (AUC of a user's one or two test
//!   points, F of one user), so a user enters only through its **deletion**: `θ₋ᵤ`, the
//!   metric over the stage's points without user `u`'s ([`Loo`]); `mosx_stats::jackknife`
//!   turns these into a standard error. Deletions are cached per (stage key, metric).
//! * Metric values recomputed here equal those the `metrics` stage stored (the same
//!   `mosx_fairness` functions on the same points).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

use mosx_data::{Dataset, Sequences, Stereotypes};
use mosx_fairness::{EvalPoint, FairnessKind};
use mosx_store::Store;

use crate::plan::Plan;
use crate::predictions::Predictions;
use crate::stages::artifacts::{self, slot};
use mosx_stage::{ArtifactRef, SlotRef};

/// The scored points behind one `metrics` stage, with each point's user id.
pub struct PointSet {
    pub groups: Vec<String>,
    pub kind: FairnessKind,
    pub users: Vec<String>,
    pub points: Vec<EvalPoint>,
}

/// Decodes artifacts once per report (a BookCrossing dataset is large).
pub struct Loader<'a> {
    pub store: &'a dyn Store,
    datasets: HashMap<String, Arc<Dataset>>,
    sequences: HashMap<String, Arc<Sequences>>,
    stereotypes: HashMap<String, Arc<Stereotypes>>,
    points: HashMap<String, Arc<PointSet>>,
    loo: HashMap<(String, String), Arc<Loo>>,
    stored: HashMap<String, Arc<Vec<(String, f64)>>>,
}

/// A metric of one `metrics` stage on all its points (`theta`) and without each user's points
/// (`without[i]` for `users[i]`, users sorted; `NaN` where the deletion leaves it undefined).
pub struct Loo {
    pub theta: f64,
    pub users: Vec<String>,
    pub without: Vec<f64>,
}

impl Loo {
    /// `θ₋ᵤ` for user `u`; a user without points here leaves the metric at `theta`.
    pub fn without_user(&self, u: &str) -> f64 {
        match self.users.binary_search_by(|x| x.as_str().cmp(u)) {
            Ok(i) => self.without[i],
            Err(_) => self.theta,
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    store: &dyn Store,
    key: &str,
    a: &ArtifactRef<T>,
) -> Result<T, String> {
    let bytes = store.artifact(key, a.name).map_err(|e| e.to_string())?;
    a.decode(&bytes)
        .map_err(|e| format!("stage {}: {e}", &key[..12.min(key.len())]))
}

impl<'a> Loader<'a> {
    pub fn new(store: &'a dyn Store) -> Self {
        Loader {
            store,
            datasets: HashMap::new(),
            sequences: HashMap::new(),
            stereotypes: HashMap::new(),
            points: HashMap::new(),
            loo: HashMap::new(),
            stored: HashMap::new(),
        }
    }

    /// The stored value of `metric` of stage `node` (`NaN` when absent).
    pub fn stored(
        &mut self,
        plan: &Plan,
        node: petgraph::graph::NodeIndex,
        metric: &str,
    ) -> Result<f64, mosx_store::StoreError> {
        let key = &plan.graph[node].key;
        let all = match self.stored.get(key) {
            Some(m) => m.clone(),
            None => {
                let m = Arc::new(self.store.metrics(key)?);
                self.stored.insert(key.clone(), m.clone());
                m
            }
        };
        Ok(all
            .iter()
            .find(|(k, _)| k == metric)
            .map(|(_, v)| *v)
            .unwrap_or(f64::NAN))
    }

    /// The deletions of `metric` of metrics stage `node` (see [`Loo`]), or why there are none.
    pub fn loo(
        &mut self,
        plan: &Plan,
        node: petgraph::graph::NodeIndex,
        metric: &str,
    ) -> Result<Arc<Loo>, String> {
        let cache = (plan.graph[node].key.clone(), metric.to_string());
        if let Some(l) = self.loo.get(&cache) {
            return Ok(l.clone());
        }
        let ps = self.points(plan, node)?;
        let l = Arc::new(deletions(&ps, metric)?);
        self.loo.insert(cache, l.clone());
        Ok(l)
    }

    /// The points of metrics stage `node` (its inputs: predictions, stereotypes,
    /// sequences, dataset), or an error naming what is missing.
    pub fn points(
        &mut self,
        plan: &Plan,
        node: petgraph::graph::NodeIndex,
    ) -> Result<Arc<PointSet>, String> {
        let n = &plan.graph[node];
        if let Some(p) = self.points.get(&n.key) {
            return Ok(p.clone());
        }
        if n.kind.name() != crate::stages::metrics::NAME {
            return Err(format!(
                "`{}` is a `{}` stage; per-user values come from `metrics` stages",
                n.name,
                n.kind.name()
            ));
        }
        let input = |slot: SlotRef| {
            n.parts
                .inputs
                .get(slot.name)
                .cloned()
                .ok_or_else(|| format!("`{}` has no `{}` input", n.name, slot.name))
        };
        let (pk, sk, qk, dk) = (
            input(slot::PREDICTIONS)?,
            input(slot::STEREOTYPES)?,
            input(slot::SEQUENCES)?,
            input(slot::DATASET)?,
        );
        let store = self.store;
        let ds = match self.datasets.get(&dk) {
            Some(d) => d.clone(),
            None => {
                let d = Arc::new(decode(store, &dk, &artifacts::DATASET)?);
                self.datasets.insert(dk.clone(), d.clone());
                d
            }
        };
        let seq = match self.sequences.get(&qk) {
            Some(d) => d.clone(),
            None => {
                let d = Arc::new(decode(store, &qk, &artifacts::SEQUENCES)?);
                self.sequences.insert(qk.clone(), d.clone());
                d
            }
        };
        let st = match self.stereotypes.get(&sk) {
            Some(d) => d.clone(),
            None => {
                let d = Arc::new(decode(store, &sk, &artifacts::STEREOTYPES)?);
                self.stereotypes.insert(sk.clone(), d.clone());
                d
            }
        };
        let preds: Predictions = decode(store, &pk, &artifacts::PREDICTIONS)?;
        let kind: FairnessKind = n
            .params
            .get("fairness")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let (users, points) = crate::stages::metrics::eval_points(&ds, &seq, &st, &preds)?;
        let ps = Arc::new(PointSet {
            groups: ds.groups.clone(),
            kind,
            users,
            points,
        });
        self.points.insert(n.key.clone(), ps.clone());
        Ok(ps)
    }
}

/// The metrics that read only the scores and labels.
const PERFORMANCE: &[&str] = &["auc", "precision", "recall"];

/// `auc`, `precision` or `recall` (x100) of scores and labels.
fn performance(scores: &[f64], labels: &[bool], name: &str) -> f64 {
    100.0
        * match name {
            "auc" => mosx_fairness::auc(scores, labels),
            _ => {
                let c = mosx_fairness::precision_recall(scores, labels, mosx_fairness::THRESHOLD);
                if name == "precision" {
                    c.precision
                } else {
                    c.recall
                }
            }
        }
}

/// A metric of the `metrics` stage, recomputed on `points`: `F`, `F.consistent`,
/// `F.inconsistent`, `F.<a>.<b>`, `auc`, `precision`, `recall` (all x100 as stored).
pub fn metric(
    points: &[EvalPoint],
    groups: &[String],
    kind: FairnessKind,
    name: &str,
) -> Result<f64, String> {
    let g = groups.len();
    let strict_mean = |xs: &[f64]| {
        if xs.is_empty() || xs.iter().any(|x| x.is_nan()) {
            f64::NAN
        } else {
            xs.iter().sum::<f64>() / xs.len() as f64
        }
    };
    if PERFORMANCE.contains(&name) {
        let (s, l): (Vec<f64>, Vec<bool>) = points.iter().map(|p| (p.p_yes, p.label)).unzip();
        return Ok(performance(&s, &l, name));
    }
    Ok(match name {
        "F" => mosx_fairness::headline(&mosx_fairness::pairwise(points, g, kind)),
        "F.consistent" | "F.inconsistent" => {
            let f = mosx_fairness::pairwise(points, g, kind);
            let xs: Vec<f64> = (0..g)
                .flat_map(|a| (0..g).map(move |b| (a, b)))
                .filter(|(a, b)| (a == b) == (name == "F.consistent"))
                .map(|(a, b)| f[a][b])
                .collect();
            strict_mean(&xs)
        }
        other => {
            let pair = other
                .strip_prefix("F.")
                .and_then(|r| r.split_once('.'))
                .and_then(|(a, b)| {
                    Some((
                        groups.iter().position(|x| x == a)?,
                        groups.iter().position(|x| x == b)?,
                    ))
                });
            match pair {
                Some((a, b)) => mosx_fairness::pairwise(points, g, kind)[a][b],
                None => {
                    return Err(format!(
                        "metric `{other}` cannot be recomputed per user (known: F, F.consistent, F.inconsistent, F.<a>.<b> with groups {}, auc, precision, recall)",
                        groups.join("/")
                    ))
                }
            }
        }
    })
}

/// `θ` and `θ₋ᵤ` of `name` for every user of `ps` (see [`Loo`]).
pub fn deletions(ps: &PointSet, name: &str) -> Result<Loo, String> {
    let mut by_user: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, u) in ps.users.iter().enumerate() {
        by_user.entry(u.as_str()).or_default().push(i);
    }
    let theta = metric(&ps.points, &ps.groups, ps.kind, name)?;
    let mut users = Vec::with_capacity(by_user.len());
    let mut without = Vec::with_capacity(by_user.len());
    let mut keep = vec![true; ps.points.len()];
    // Performance metrics read only (score, label): delete from those, not from the points.
    let perf = PERFORMANCE.contains(&name);
    for (u, idx) in &by_user {
        idx.iter().for_each(|&i| keep[i] = false);
        if perf {
            let (s, l): (Vec<f64>, Vec<bool>) = ps
                .points
                .iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(p, _)| (p.p_yes, p.label))
                .unzip();
            idx.iter().for_each(|&i| keep[i] = true);
            users.push(u.to_string());
            without.push(performance(&s, &l, name));
            continue;
        }
        let rest: Vec<EvalPoint> = ps
            .points
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(p, _)| p.clone())
            .collect();
        idx.iter().for_each(|&i| keep[i] = true);
        users.push(u.to_string());
        without.push(metric(&rest, &ps.groups, ps.kind, name)?);
    }
    Ok(Loo {
        theta,
        users,
        without,
    })
}

/// `STAGE.METRIC` → (stage, metric).
pub fn split_operand(s: &str) -> Option<(&str, &str)> {
    s.split_once('.')
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
}

/// A sweep point split into its setting (the non-replicate axes, as a map) and its replicate:
/// the value of the one replicate axis (`vars.seed` for `seeds`), a label such as
/// `train_seed=1, seed=0` when the spec names several (`sweep.replicates`), none without any.
pub fn unit_of(
    spec: &mosx_spec::Spec,
    point: &BTreeMap<String, Value>,
) -> (serde_json::Map<String, Value>, Option<Value>) {
    let reps = &spec.replicate_paths;
    let group = point
        .iter()
        .filter(|(k, _)| !reps.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let replicate = match reps.as_slice() {
        [] => None,
        [one] => point.get(one).cloned(),
        many => Some(Value::String(
            many.iter()
                .filter_map(|p| {
                    point
                        .get(p)
                        .map(|v| format!("{}={v}", p.trim_start_matches("vars.")))
                })
                .collect::<Vec<_>>()
                .join(", "),
        )),
    };
    (group, replicate)
}

/// The comparison units of spec stage `stage`: (setting, replicate) → node (see module docs).
pub fn units(
    plan: &Plan,
    stage: &str,
) -> BTreeMap<(String, Option<String>), petgraph::graph::NodeIndex> {
    let mut out = BTreeMap::new();
    for i in plan.all_of(stage) {
        for &ix in &plan.graph[i].points {
            let Some(inst) = plan.spec.instances.get(ix) else {
                continue;
            };
            let (group, rep) = unit_of(&plan.spec, &inst.point);
            let g = serde_json::to_string(&group).unwrap_or_default();
            out.entry((g, rep.as_ref().map(Value::to_string)))
                .or_insert(i);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(g: usize, target: usize, share: f64, p: f64, label: bool) -> EvalPoint {
        EvalPoint {
            user_group: g,
            target_groups: vec![target == 0, target == 1],
            history_share: vec![share, 1.0 - share],
            p_yes: p,
            label,
        }
    }

    #[test]
    fn deletions_of_a_mean_like_metric_give_its_standard_error() {
        // Recall over one positive point per user is the mean of the users' hits: without
        // user u it is the mean of the others, and the jackknife SE is the SE of a mean.
        let ps = PointSet {
            groups: vec!["a".into(), "b".into()],
            kind: FairnessKind::Relative,
            users: vec!["u1".into(), "u2".into(), "u3".into(), "u4".into()],
            points: vec![
                pt(0, 0, 0.5, 0.9, true),
                pt(0, 1, 0.5, 0.2, true),
                pt(1, 0, 0.5, 0.7, true),
                pt(1, 1, 0.5, 0.8, true),
            ],
        };
        let l = deletions(&ps, "recall").unwrap();
        assert_eq!(l.theta, 75.0);
        assert_eq!(l.users, vec!["u1", "u2", "u3", "u4"]);
        let got: Vec<f64> = l.without.iter().map(|v| (v * 1e9).round() / 1e9).collect();
        let third = (200.0f64 / 3.0 * 1e9).round() / 1e9;
        assert_eq!(got, vec![third, 100.0, third, third]);
        assert_eq!(l.without_user("u2"), l.without[1]);
        assert_eq!(l.without_user("nobody"), 75.0);
        // sd of the hits [100, 0, 100, 100] / sqrt(4) = 25.
        let j = mosx_stats::jackknife::from_loo(l.theta, &l.without).unwrap();
        assert!((j.se - 25.0).abs() < 1e-9, "{}", j.se);
        assert!(metric(&ps.points, &ps.groups, ps.kind, "F.a.c").is_err());
        // F.a.a recomputed as mosx_fairness::pairwise gives it.
        let f = mosx_fairness::pairwise(&ps.points, 2, ps.kind)[0][0];
        assert_eq!(metric(&ps.points, &ps.groups, ps.kind, "F.a.a").unwrap(), f);
    }
}
