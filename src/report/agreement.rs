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
    let (mut n, mut max_dp, mut sum_dp) = (0usize, 0f64, 0f64);
    let mut per: Vec<[f64; 6]> = Vec::new();
    for (ia, ib) in na.into_iter().zip(nb) {
        let pa = loader.points(plan, ia).map_err(|m| input_err(output, m))?;
        let pb = loader.points(plan, ib).map_err(|m| input_err(output, m))?;
        let same = pa.users == pb.users
            && pa.points.len() == pb.points.len()
            && pa
                .points
                .iter()
                .zip(&pb.points)
                .all(|(x, y)| x.label == y.label);
        if !same {
            return Err(input_err(
                output,
                format!("options.agreement: `{a}` and `{b}` scored different points"),
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
        let (auc_a, auc_b, f_a, f_b) = (m(&pa, "auc"), m(&pb, "auc"), m(&pa, "F"), m(&pb, "F"));
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
