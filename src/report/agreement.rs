//! `agreement`: how far one `metrics` stage's scores are from another's on the same points,
//! for the pairs a report entry declares in `options.agreement`
//! (`[{a: STAGE, b: STAGE, label: TEXT}]`), e.g. bf16 against f32 or CUDA against CPU.
//!
//! Invariants:
//! * The two stages are paired replicate by replicate, in the plan's point order; each pair
//!   must score the same points (same users and labels, in the same order), or the report
//!   fails naming the pair: a difference of scores is meaningless across different points.
//! * Per pair, over every replicate's points pooled: `n`, `max_abs_dp` and `mean_abs_dp` of
//!   `|p_b(Yes) − p_a(Yes)|`; per replicate and aggregated like `cells` (`{mean, sd, n, ..}`):
//!   `auc_a`, `auc_b`, `d_auc = auc_b − auc_a`, `F_a`, `F_b`, `d_F = F_b − F_a` (on the
//!   tables' x100 scale, as `stats::metric` returns them). Undefined numbers are JSON `null`.

use serde_json::{json, Map, Value};

use super::stats::{self, Loader};
use super::ReportError;
use crate::plan::Plan;

fn input_err(output: &str, message: String) -> ReportError {
    ReportError::Input {
        output: output.to_string(),
        message,
    }
}

/// The declared pairs' agreement (see the module note), in declaration order.
pub fn agreement(
    plan: &Plan,
    loader: &mut Loader<'_>,
    options: &Map<String, Value>,
    output: &str,
) -> Result<Vec<Value>, ReportError> {
    let mut out = Vec::new();
    for decl in options
        .get("agreement")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = |k: &str| {
            decl.get(k).and_then(Value::as_str).ok_or_else(|| {
                input_err(
                    output,
                    format!("options.agreement: every entry needs a string `{k}`"),
                )
            })
        };
        let (a, b) = (field("a")?, field("b")?);
        let label = decl.get("label").and_then(Value::as_str).unwrap_or(b);
        out.push(pair(plan, loader, a, b, label, output)?);
    }
    Ok(out)
}

/// One declared pair `a`, `b` over all their replicates.
fn pair(
    plan: &Plan,
    loader: &mut Loader<'_>,
    a: &str,
    b: &str,
    label: &str,
    output: &str,
) -> Result<Value, ReportError> {
    let (na, nb) = (plan.all_of(a), plan.all_of(b));
    if na.is_empty() || na.len() != nb.len() {
        return Err(input_err(
            output,
            format!(
                "options.agreement: `{a}` has {} instance(s), `{b}` {}",
                na.len(),
                nb.len()
            ),
        ));
    }
    let mut sets = Vec::new();
    for (ia, ib) in na.into_iter().zip(nb) {
        let pa = loader.points(plan, ia).map_err(|m| input_err(output, m))?;
        let pb = loader.points(plan, ib).map_err(|m| input_err(output, m))?;
        sets.push((pa, pb));
    }
    let pairs: Vec<(&stats::PointSet, &stats::PointSet)> =
        sets.iter().map(|(x, y)| (&**x, &**y)).collect();
    summarise(&pairs, a, b, label).map_err(|m| input_err(output, m))
}

/// The agreement of `a` and `b` from their point sets, one pair per replicate (see the
/// module note); an error when a pair scored different points.
fn summarise(
    pairs: &[(&stats::PointSet, &stats::PointSet)],
    a: &str,
    b: &str,
    label: &str,
) -> Result<Value, String> {
    let (mut n, mut max_dp, mut sum_dp) = (0usize, 0f64, 0f64);
    let mut per: Vec<[f64; 6]> = Vec::new();
    for (pa, pb) in pairs {
        let same = pa.users == pb.users
            && pa.points.len() == pb.points.len()
            && pa
                .points
                .iter()
                .zip(&pb.points)
                .all(|(x, y)| x.label == y.label);
        if !same {
            return Err(format!(
                "options.agreement: `{a}` and `{b}` scored different points"
            ));
        }
        for (x, y) in pa.points.iter().zip(&pb.points) {
            let d = (y.p_yes - x.p_yes).abs();
            max_dp = max_dp.max(d);
            sum_dp += d;
            n += 1;
        }
        let m = |ps: &stats::PointSet, name: &str| {
            stats::metric(&ps.points, &ps.groups, ps.kind, name).unwrap_or(f64::NAN)
        };
        let (auc_a, auc_b, f_a, f_b) = (m(pa, "auc"), m(pb, "auc"), m(pa, "F"), m(pb, "F"));
        per.push([auc_a, auc_b, auc_b - auc_a, f_a, f_b, f_b - f_a]);
    }
    let names = ["auc_a", "auc_b", "d_auc", "F_a", "F_b", "d_F"];
    let mut v = json!({
        "a": a, "b": b, "label": label, "n": n,
        "max_abs_dp": num(if n > 0 { max_dp } else { f64::NAN }),
        "mean_abs_dp": num(sum_dp / n as f64),
    });
    for (k, name) in names.iter().enumerate() {
        let xs: Vec<f64> = per.iter().map(|r| r[k]).collect();
        let s = mosx_stats::summary(&xs);
        v[*name] = json!({
            "mean": num(s.mean), "sd": num(s.sd), "n": s.n, "expected": xs.len(),
            "values": xs.iter().map(|x| num(*x)).collect::<Vec<_>>(),
        });
    }
    Ok(v)
}

fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mosx_fairness::{EvalPoint, FairnessKind};

    fn set(ps: &[(f64, bool)]) -> stats::PointSet {
        stats::PointSet {
            groups: vec!["a".into(), "b".into()],
            kind: FairnessKind::Relative,
            users: (0..ps.len()).map(|i| format!("u{i}")).collect(),
            points: ps
                .iter()
                .enumerate()
                .map(|(i, &(p_yes, label))| EvalPoint {
                    user_group: i % 2,
                    target_groups: vec![i < 2, i >= 2],
                    history_share: vec![0.5, 0.5],
                    p_yes,
                    label,
                })
                .collect(),
        }
    }

    #[test]
    fn agreement_pools_score_differences_and_summarises_metric_differences_per_replicate() {
        let labels = [true, false, true, false];
        let with = |ps: [f64; 4]| set(&ps.iter().copied().zip(labels).collect::<Vec<_>>());
        // Replicate 1: a ranks both positives first (AUC 100); b orders 2 of the 4
        // (positive, negative) pairs right (0.8 > 0.5, 0.8 > 0.4; 0.3 < 0.5, 0.3 < 0.4): AUC 50.
        // |dp| = 0.1, 0.3, 0.4, 0.0. Replicate 2: identical scores.
        let (a1, b1) = (with([0.9, 0.2, 0.7, 0.4]), with([0.8, 0.5, 0.3, 0.4]));
        let (a2, b2) = (with([0.9, 0.2, 0.7, 0.4]), with([0.9, 0.2, 0.7, 0.4]));
        let v = summarise(&[(&a1, &b1), (&a2, &b2)], "f32", "bf16", "bf16 vs f32").unwrap();
        assert_eq!(v["n"], 8);
        // A NaN is written as null (see `num`).
        let close = |x: &Value, want: f64| match x.as_f64() {
            Some(got) => (got - want).abs() < 1e-12,
            None => x.is_null() && want.is_nan(),
        };
        assert!(close(&v["max_abs_dp"], 0.4), "{v}");
        assert!(close(&v["mean_abs_dp"], 0.8 / 8.0), "{v}");
        assert!(close(&v["auc_a"]["mean"], 100.0), "{v}");
        assert!(close(&v["auc_b"]["values"][0], 50.0), "{v}");
        assert!(close(&v["d_auc"]["mean"], -25.0), "{v}");
        // sd of [-50, 0] with n - 1 = 1: sqrt(2 * 25^2) = 35.355...
        assert!(close(&v["d_auc"]["sd"], (2.0f64 * 625.0).sqrt()), "{v}");
        assert_eq!(v["d_auc"]["n"], 2);
        let f = |ps: &stats::PointSet| stats::metric(&ps.points, &ps.groups, ps.kind, "F").unwrap();
        assert!(close(&v["d_F"]["values"][0], f(&b1) - f(&a1)), "{v}");
        assert!(close(&v["d_F"]["values"][1], f(&b2) - f(&a2)), "{v}");
    }

    #[test]
    fn agreement_refuses_pairs_that_scored_different_points() {
        let a = set(&[(0.9, true), (0.2, false)]);
        let b = set(&[(0.9, false), (0.2, false)]);
        let e = summarise(&[(&a, &b)], "x", "y", "y").unwrap_err();
        assert!(e.contains("`x` and `y` scored different points"), "{e}");
    }
}
