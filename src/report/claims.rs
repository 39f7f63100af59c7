//! Verdicts on a spec's `claims:` (see `mosx_spec::Claim`), with the seed as the unit
//! (METHOD.md §8).
//!
//! A claim `L op R + m` is the comparison (`compare`) of `d = L − R` with the null value `m`,
//! one-sided in the claimed direction: `>`/`>=` test H0 `d ≤ m` (with `m = −δ` the
//! non-inferiority test of "L within δ of R"), `<`/`<=` test H0 `d ≥ m`. The p-values of all
//! the spec's claims are Holm-corrected together; the verdict (`mosx_stats::verdict`):
//! * **holds**: Holm-adjusted p < alpha;
//! * **does not hold**: the two-sided `1 − alpha` interval of `d` (HKSJ) excludes the claim;
//! * **inconclusive**: otherwise, and always with one seed (no test across seeds).
//!
//! Each row also carries the estimate, its interval, p, the Holm-adjusted p, seeds and users
//! (see [`super::compare::Comparison`], flattened into the claim's JSON object).

use serde_json::{json, Value};

use mosx_stats::Alternative;

use super::compare::{self, Request};
use super::stats::Loader;
use super::ReportError;
use crate::plan::Plan;

pub fn evaluate(plan: &Plan, loader: &mut Loader<'_>, output: &str) -> Result<Value, ReportError> {
    let mut comps = Vec::new();
    for c in &plan.spec.claims {
        let req = Request {
            label: c.name.clone(),
            a: format!("{}.{}", c.left.stage, c.left.metric),
            b: format!("{}.{}", c.right.stage, c.right.metric),
            margin: c.margin,
            alternative: if c.op.greater() {
                Alternative::Greater
            } else {
                Alternative::Less
            },
            level: 1.0 - c.alpha,
            note: None,
        };
        comps.push(compare::compare(plan, loader, &req, output)?);
    }
    let alpha: Vec<f64> = plan.spec.claims.iter().map(|c| c.alpha).collect();
    compare::holm_in_place(&mut comps, &alpha);
    let rows = plan
        .spec
        .claims
        .iter()
        .zip(comps)
        .map(|(c, cmp)| {
            let mut row = json!({
                "name": c.name,
                "test": c.test,
                "op": c.op.symbol(),
                "alpha": c.alpha,
            });
            if let (Value::Object(o), Ok(Value::Object(fields))) =
                (&mut row, serde_json::to_value(&cmp))
            {
                for (k, v) in fields {
                    o.entry(k).or_insert(v);
                }
            }
            row
        })
        .collect();
    Ok(Value::Array(rows))
}
