//! Verdicts on a spec's `claims:` (see `mosx_spec::Claim`).
//!
//! Each claim `L op R + margin` is a comparison (`stats::compare`) of `L` with `R + margin`.
//! Its **primary test** is the paired t-test across users (jackknife pseudo-values, pooled
//! over seeds) when per-user values exist (metrics stages), otherwise the paired t-test
//! across seeds. The primary p-values of all the spec's claims are Holm-corrected together.
//! Verdict, with `d` the mean of `L − (R + margin)` and `p` the corrected p-value:
//! * **holds**: `d` has the claimed sign (> 0 for `>`/`>=`, < 0 for `<`/`<=`) and `p < alpha`;
//! * **does not hold**: `d` has the opposite sign and `p < alpha`;
//! * **inconclusive**: otherwise, or when no test could be run (the note says why).
//!
//! The effect size is the primary test's Cohen's d_z (signed like `d`).

use serde_json::{json, Value};

use mosx_store::Store;

use super::stats::{self, Loader};
use super::ReportError;
use crate::plan::Plan;

pub fn evaluate(
    plan: &Plan,
    store: &dyn Store,
    loader: &mut Loader<'_>,
    output: &str,
) -> Result<Value, ReportError> {
    let mut rows = Vec::new();
    let mut primary = Vec::new();
    for c in &plan.spec.claims {
        let a = format!("{}.{}", c.left.stage, c.left.metric);
        let b = format!("{}.{}", c.right.stage, c.right.metric);
        let cmp = stats::compare(plan, store, loader, &c.name, &a, &b, c.margin, output)?;
        let (basis, test) = if cmp.across_users.t_p.is_some() {
            ("users", &cmp.across_users)
        } else {
            ("seeds", &cmp.across_seeds)
        };
        primary.push(test.t_p.unwrap_or(f64::NAN));
        rows.push((c, basis, test.clone(), cmp));
    }
    let adj = mosx_stats::holm(&primary);
    let out: Vec<Value> = rows
        .into_iter()
        .zip(adj)
        .map(|((c, basis, test, cmp), p_holm)| {
            let d = test.mean_diff;
            let verdict = match (d, p_holm.is_finite() && p_holm < c.alpha) {
                (Some(d), true) if (d > 0.0) == c.op.greater() && d != 0.0 => "holds",
                (Some(d), true) if d != 0.0 => "does not hold",
                _ => "inconclusive",
            };
            json!({
                "name": c.name,
                "test": c.test,
                "op": c.op.symbol(),
                "margin": c.margin,
                "alpha": c.alpha,
                "verdict": verdict,
                "basis": basis,
                "mean_left": cmp.mean_a,
                "mean_right": cmp.mean_b,
                "diff": d,
                "effect_d_z": test.d_z,
                "p": test.t_p,
                "p_holm": p_holm.is_finite().then_some(p_holm),
                "seeds": cmp.seeds,
                "n": test.n,
                "users": cmp.across_users.n,
                "seed_t_p": cmp.across_seeds.t_p,
                "user_w_p": cmp.across_users.w_p,
                "note": test.note.clone().or(cmp.across_users.note.clone()),
            })
        })
        .collect();
    Ok(Value::Array(out))
}
