//! Statistics of a report: metric values recomputed from stored predictions, per-user
//! jackknife values, and paired comparisons across seeds and across users.
//!
//! Invariants:
//! * A *unit of comparison* is a sweep point of the plan minus its replicate axes (the
//!   "group", empty for a seeds-only sweep) plus its replicate (the seed; with
//!   `sweep.replicates`, e.g. a training seed, the tuple of them). Two stages are paired unit by unit; a
//!   stage that does not vary over the group axes pairs with every group of the other.
//! * **Across seeds**: the stored metric of each seed's stage (what the table shows).
//! * **Across users**: per-user metric values are undefined for most users (AUC of a
//!   user's one or two test points, F of one user), so each user gets the leave-one-user-out
//!   **jackknife pseudo-value** `n·θ − (n−1)·θ₋ᵤ` (θ over all `n` users' points, θ₋ᵤ without
//!   user `u`'s points). Their mean is the jackknife estimate of θ and their paired
//!   differences between two methods scored on the same points are the units of the
//!   user-level tests; units are (seed, user), pooled over seeds. A user whose θ₋ᵤ is
//!   undefined is dropped from that comparison. Pseudo-values are rounded to 1e-9, so
//!   identical predictions give exactly zero differences (dropped by Wilcoxon, as scipy's
//!   `zero_method="wilcox"` does).
//! * Metric values recomputed here equal those the `metrics` stage stored (the same
//!   `mosx_fairness` functions on the same points).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use mosx_data::{Dataset, Sequences, Stereotypes};
use mosx_fairness::{EvalPoint, FairnessKind};
use mosx_stats::{paired_t, wilcoxon, WilcoxonOptions};
use mosx_store::Store;

use super::ReportError;
use crate::plan::Plan;
use crate::predictions::Predictions;

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
}

fn decode<T: serde::de::DeserializeOwned>(
    store: &dyn Store,
    key: &str,
    name: &str,
) -> Result<T, String> {
    let bytes = store.artifact(key, name).map_err(|e| e.to_string())?;
    bincode::deserialize(&bytes).map_err(|e| {
        format!(
            "stage {}: cannot decode `{name}`: {e}",
            &key[..12.min(key.len())]
        )
    })
}

impl<'a> Loader<'a> {
    pub fn new(store: &'a dyn Store) -> Self {
        Loader {
            store,
            datasets: HashMap::new(),
            sequences: HashMap::new(),
            stereotypes: HashMap::new(),
            points: HashMap::new(),
        }
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
        if n.kind.name() != "metrics" {
            return Err(format!(
                "`{}` is a `{}` stage; per-user values come from `metrics` stages",
                n.name,
                n.kind.name()
            ));
        }
        let input = |slot: &str| {
            n.parts
                .inputs
                .get(slot)
                .cloned()
                .ok_or_else(|| format!("`{}` has no `{slot}` input", n.name))
        };
        let (pk, sk, qk, dk) = (
            input("predictions")?,
            input("stereotypes")?,
            input("sequences")?,
            input("dataset")?,
        );
        let store = self.store;
        let ds = match self.datasets.get(&dk) {
            Some(d) => d.clone(),
            None => {
                let d = Arc::new(decode::<Dataset>(store, &dk, "dataset")?);
                self.datasets.insert(dk.clone(), d.clone());
                d
            }
        };
        let seq = match self.sequences.get(&qk) {
            Some(d) => d.clone(),
            None => {
                let d = Arc::new(decode::<Sequences>(store, &qk, "sequences")?);
                self.sequences.insert(qk.clone(), d.clone());
                d
            }
        };
        let st = match self.stereotypes.get(&sk) {
            Some(d) => d.clone(),
            None => {
                let d = Arc::new(decode::<Stereotypes>(store, &sk, "stereotypes")?);
                self.stereotypes.insert(sk.clone(), d.clone());
                d
            }
        };
        let preds: Predictions = decode(store, &pk, crate::predictions::ARTIFACT)?;
        let kind: FairnessKind = n
            .params
            .get("fairness")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let mut users = Vec::with_capacity(preds.points.len());
        let mut points = Vec::with_capacity(preds.points.len());
        for pr in &preds.points {
            let d = seq
                .points
                .get(pr.index as usize)
                .ok_or_else(|| format!("prediction index {} outside the sequences", pr.index))?;
            let u = &ds.users[d.user as usize];
            users.push(u.id.clone());
            points.push(EvalPoint {
                user_group: u.group as usize,
                target_groups: st.item_groups(d.target),
                history_share: st.history_share(&d.history),
                p_yes: pr.p_yes,
                label: d.label,
            });
        }
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

/// A metric of the `metrics` stage, recomputed on `points`: `F`, `F.consistent`,
/// `F.inconsistent`, `F.<a>.<b>`, `auc`, `precision`, `recall` (all x100 as stored).
pub fn metric(
    points: &[EvalPoint],
    groups: &[String],
    kind: FairnessKind,
    name: &str,
) -> Result<f64, String> {
    let g = groups.len();
    let perf = || {
        let (s, l): (Vec<f64>, Vec<bool>) = points.iter().map(|p| (p.p_yes, p.label)).unzip();
        (s, l)
    };
    let strict_mean = |xs: &[f64]| {
        if xs.is_empty() || xs.iter().any(|x| x.is_nan()) {
            f64::NAN
        } else {
            xs.iter().sum::<f64>() / xs.len() as f64
        }
    };
    Ok(match name {
        "auc" => {
            let (s, l) = perf();
            100.0 * mosx_fairness::auc(&s, &l)
        }
        "precision" | "recall" => {
            let (s, l) = perf();
            let c = mosx_fairness::precision_recall(&s, &l, mosx_fairness::THRESHOLD);
            100.0
                * if name == "precision" {
                    c.precision
                } else {
                    c.recall
                }
        }
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

/// Jackknife pseudo-values of `name` per user (see the module docs).
pub fn jackknife(ps: &PointSet, name: &str) -> Result<BTreeMap<String, f64>, String> {
    let mut by_user: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, u) in ps.users.iter().enumerate() {
        by_user.entry(u.as_str()).or_default().push(i);
    }
    let n = by_user.len() as f64;
    let theta = metric(&ps.points, &ps.groups, ps.kind, name)?;
    let mut out = BTreeMap::new();
    let mut keep = vec![true; ps.points.len()];
    for (u, idx) in &by_user {
        idx.iter().for_each(|&i| keep[i] = false);
        let rest: Vec<EvalPoint> = ps
            .points
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(p, _)| p.clone())
            .collect();
        idx.iter().for_each(|&i| keep[i] = true);
        let without = metric(&rest, &ps.groups, ps.kind, name)?;
        // Rounded to 1e-9 (metrics are x100): two methods with the same predictions
        // for a user then give an exact zero difference, not rounding noise that the
        // tests would rank.
        let pv = ((n * theta - (n - 1.0) * without) * 1e9).round() / 1e9;
        if pv.is_finite() {
            out.insert(u.to_string(), pv);
        }
    }
    Ok(out)
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

/// One paired test's numbers (JSON `null` where undefined).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TestResult {
    /// Pairs used.
    pub n: usize,
    /// Mean of `a − (b + margin)`.
    pub mean_diff: Option<f64>,
    pub t: Option<f64>,
    pub t_p: Option<f64>,
    /// Cohen's d_z of the differences.
    pub d_z: Option<f64>,
    pub w_p: Option<f64>,
    /// Matched-pairs rank-biserial correlation.
    pub r_rb: Option<f64>,
    /// Holm-corrected `t_p` and `w_p` (filled by the caller for the family).
    pub t_p_holm: Option<f64>,
    pub w_p_holm: Option<f64>,
    /// Why the test could not run, if it could not.
    pub note: Option<String>,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

pub fn test_pairs(a: &[f64], b: &[f64]) -> TestResult {
    let mut r = TestResult {
        n: a.len(),
        ..Default::default()
    };
    if !a.is_empty() {
        r.mean_diff = finite(a.iter().zip(b).map(|(x, y)| x - y).sum::<f64>() / a.len() as f64);
    }
    match paired_t(a, b) {
        Ok(t) => {
            r.n = t.n;
            r.t = finite(t.t);
            r.t_p = finite(t.p);
            r.d_z = finite(t.d_z);
        }
        Err(e) => r.note = Some(e.to_string()),
    }
    match wilcoxon(a, b, WilcoxonOptions::default()) {
        Ok(w) => {
            r.w_p = finite(w.p);
            r.r_rb = finite(w.r_rank_biserial);
        }
        Err(e) => {
            if r.note.is_none() {
                r.note = Some(e.to_string());
            }
        }
    }
    r
}

/// A comparison of `a` with `b + margin`, paired across seeds and across users.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub label: String,
    pub a: String,
    pub b: String,
    pub margin: f64,
    pub seeds: usize,
    pub mean_a: Option<f64>,
    pub mean_b: Option<f64>,
    pub across_seeds: TestResult,
    pub across_users: TestResult,
}

/// Compare `a` (`STAGE.METRIC`) with `b` plus `margin`.
pub fn compare(
    plan: &Plan,
    store: &dyn Store,
    loader: &mut Loader<'_>,
    label: &str,
    a: &str,
    b: &str,
    margin: f64,
    output: &str,
) -> Result<Comparison, ReportError> {
    let bad = |message: String| ReportError::Input {
        output: output.to_string(),
        message,
    };
    let (sa, ma) = split_operand(a).ok_or_else(|| bad(format!("`{a}` is not STAGE.METRIC")))?;
    let (sb, mb) = split_operand(b).ok_or_else(|| bad(format!("`{b}` is not STAGE.METRIC")))?;
    let ua = units(plan, sa);
    let ub = units(plan, sb);
    for (s, u) in [(sa, &ua), (sb, &ub)] {
        if u.is_empty() {
            return Err(bad(format!("no stage `{s}` in the spec")));
        }
    }
    let single_b = ub
        .keys()
        .map(|(g, _)| g)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        == 1;
    let mut pairs = Vec::new();
    for ((g, seed), na) in &ua {
        let nb = ub.get(&(g.clone(), seed.clone())).or_else(|| {
            single_b
                .then(|| ub.iter().find(|((_, s), _)| s == seed).map(|(_, n)| n))
                .flatten()
        });
        if let Some(nb) = nb {
            pairs.push((seed.clone(), *na, *nb));
        }
    }
    let stored = |n: petgraph::graph::NodeIndex, m: &str| -> Result<f64, ReportError> {
        let key = &plan.graph[n].key;
        Ok(store
            .metrics(key)?
            .into_iter()
            .find(|(k, _)| k == m)
            .map(|(_, v)| v)
            .unwrap_or(f64::NAN))
    };
    let (mut xa, mut xb) = (Vec::new(), Vec::new());
    let mut seeds = std::collections::BTreeSet::new();
    for (seed, na, nb) in &pairs {
        let (va, vb) = (stored(*na, ma)?, stored(*nb, mb)?);
        if va.is_finite() && vb.is_finite() {
            xa.push(va);
            xb.push(vb + margin);
            seeds.insert(seed.clone());
        }
    }
    let mean = |xs: &[f64]| (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64);
    let mean_a = mean(&xa);
    let mean_b = mean(&xb).map(|m| m - margin);
    let across_seeds = test_pairs(&xa, &xb);
    // Across users: jackknife pseudo-values per (seed, user), pooled over seeds.
    let (mut ua_v, mut ub_v) = (Vec::new(), Vec::new());
    let mut user_note = None;
    for (_, na, nb) in &pairs {
        let r = (|| -> Result<(), String> {
            let pa = loader.points(plan, *na)?;
            let pb = loader.points(plan, *nb)?;
            let ja = jackknife(&pa, ma)?;
            let jb = if na == nb && ma == mb {
                ja.clone()
            } else {
                jackknife(&pb, mb)?
            };
            for (u, va) in &ja {
                if let Some(vb) = jb.get(u) {
                    ua_v.push(*va);
                    ub_v.push(vb + margin);
                }
            }
            Ok(())
        })();
        if let Err(e) = r {
            user_note = Some(e);
            ua_v.clear();
            ub_v.clear();
            break;
        }
    }
    let mut across_users = test_pairs(&ua_v, &ub_v);
    if user_note.is_some() {
        across_users.note = user_note;
    }
    Ok(Comparison {
        label: label.to_string(),
        a: a.to_string(),
        b: b.to_string(),
        margin,
        seeds: seeds.len(),
        mean_a,
        mean_b,
        across_seeds,
        across_users,
    })
}

/// Holm-correct each of the four p-value families (seed t, seed Wilcoxon, user t, user
/// Wilcoxon) across `comps`, in place.
pub fn holm_in_place(comps: &mut [Comparison]) {
    type Get = fn(&mut Comparison) -> (&mut Option<f64>, &mut Option<f64>);
    let fams: [Get; 4] = [
        |c| (&mut c.across_seeds.t_p, &mut c.across_seeds.t_p_holm),
        |c| (&mut c.across_seeds.w_p, &mut c.across_seeds.w_p_holm),
        |c| (&mut c.across_users.t_p, &mut c.across_users.t_p_holm),
        |c| (&mut c.across_users.w_p, &mut c.across_users.w_p_holm),
    ];
    for get in fams {
        let ps: Vec<f64> = comps
            .iter_mut()
            .map(|c| get(c).0.unwrap_or(f64::NAN))
            .collect();
        let adj = mosx_stats::holm(&ps);
        for (c, p) in comps.iter_mut().zip(adj) {
            *get(c).1 = finite(p);
        }
    }
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
    fn jackknife_of_a_mean_like_metric_recovers_each_users_value() {
        // Recall over one positive point per user is the mean of the users' hits, so the
        // pseudo-value of each user is exactly 100 * hit.
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
        let j = jackknife(&ps, "recall").unwrap();
        let got: Vec<f64> = j.values().map(|v| (v * 1e9).round() / 1e9).collect();
        assert_eq!(got, vec![100.0, 0.0, 100.0, 100.0]);
        // Their mean is the metric itself for a mean-like statistic.
        assert_eq!(
            metric(&ps.points, &ps.groups, ps.kind, "recall").unwrap(),
            75.0
        );
        assert!(metric(&ps.points, &ps.groups, ps.kind, "F.a.c").is_err());
        // F.a.a recomputed as mosx_fairness::pairwise gives it.
        let f = mosx_fairness::pairwise(&ps.points, 2, ps.kind)[0][0];
        assert_eq!(metric(&ps.points, &ps.groups, ps.kind, "F.a.a").unwrap(), f);
    }

    #[test]
    fn paired_tests_report_undefined_cases_as_notes() {
        let r = test_pairs(&[1.0], &[0.0]);
        assert!(r.t_p.is_none() && r.note.is_some());
        let r = test_pairs(&[1.0, 2.0, 4.0], &[0.5, 1.0, 1.0]);
        assert!(r.t_p.is_some() && r.w_p.is_some());
        assert_eq!(r.mean_diff, Some(1.5));
    }
}
