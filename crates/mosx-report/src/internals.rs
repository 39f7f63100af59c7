//! The `internals` filter: a method's training internals, read from a `metrics` stage's cell
//! (the report context copies its train stage's metrics there under `train.`), as one line:
//!
//! * MoS routing: `train.routing.valid.<group>.e<k>` (the share of validation points whose
//!   top-1 expert under group `<group>`'s stereotype prompt is expert `k`, at the kept epoch)
//!   and `train.routing.base.valid.<group>.e<k>` (the untrained router's), rendered per group
//!   as the expert with the largest mean share over seeds and that share:
//!   `routing (validation, kept epoch): male→e2 0.97, female→e0 0.88 (untrained: male→e1
//!   0.40, female→e1 0.38)`, plus ` (per seed: e2 0.99, e0 0.61)` when the seeds' own top
//!   experts differ; `train.router_grad_norm.mean` as `router gradient norm 3.1e-2`;
//! * IFairLRS: `train.ifairlrs.weight.<group>` and `.neutral` → `IFairLRS weights: ...`;
//! * UP5: `train.up5.disc_acc` and `train.up5.disc_chance` → `UP5 discriminator accuracy
//!   0.62 (chance 0.55)`.
//!
//! Values are means over the cell's replicates (`(mean over k seeds)` when k > 1). Invariant:
//! a cell without any of these metrics renders the empty string, so a template can print
//! the line only where it exists; undefined values print `-`.

use std::collections::BTreeMap;

use minijinja::value::Value;
use minijinja::{Error, ErrorKind};
use serde_json::Value as Json;

/// `(mean, per-replicate values)` of an aggregate.
fn agg(v: &Json) -> Option<(Option<f64>, Vec<Option<f64>>)> {
    let o = v.as_object()?;
    let mean = o.get("mean").and_then(Json::as_f64);
    let values = o
        .get("values")
        .and_then(Json::as_array)
        .map(|a| a.iter().map(Json::as_f64).collect())
        .unwrap_or_default();
    Some((mean, values))
}

fn num(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |x| format!("{x:.2}"))
}

type Shares = Vec<(String, BTreeMap<u32, (Option<f64>, Vec<Option<f64>>)>)>;

/// Routing shares under `prefix` (`train.routing.valid.`): group → expert → aggregate, groups
/// in the cell's order.
fn shares(cell: &serde_json::Map<String, Json>, prefix: &str) -> Shares {
    let mut out: Shares = Vec::new();
    for (k, v) in cell {
        let Some(rest) = k.strip_prefix(prefix) else {
            continue;
        };
        let Some((group, e)) = rest.rsplit_once('.') else {
            continue;
        };
        let (Some(k), Some(a)) = (e.strip_prefix('e').and_then(|x| x.parse().ok()), agg(v)) else {
            continue;
        };
        match out.iter_mut().find(|(g, _)| g == group) {
            Some((_, m)) => {
                m.insert(k, a);
            }
            None => out.push((group.to_string(), BTreeMap::from([(k, a)]))),
        }
    }
    out
}

/// The expert with the largest share (first on ties) and the share.
fn top(it: impl Iterator<Item = (u32, Option<f64>)>) -> Option<(u32, f64)> {
    let mut best: Option<(u32, f64)> = None;
    for (k, x) in it {
        if let Some(x) = x {
            if best.is_none_or(|(_, b)| x > b) {
                best = Some((k, x));
            }
        }
    }
    best
}

fn routing_text(groups: &Shares, per_seed: bool) -> String {
    groups
        .iter()
        .map(|(g, experts)| {
            let Some((k, share)) = top(experts.iter().map(|(k, (m, _))| (*k, *m))) else {
                return format!("{g}→-");
            };
            let mut s = format!("{g}→e{k} {share:.2}");
            let seeds = experts.values().map(|(_, v)| v.len()).max().unwrap_or(0);
            let tops: Vec<Option<(u32, f64)>> = (0..seeds)
                .map(|i| {
                    top(experts
                        .iter()
                        .map(|(k, (_, v))| (*k, v.get(i).copied().flatten())))
                })
                .collect();
            let defined: Vec<(u32, f64)> = tops.iter().flatten().copied().collect();
            if per_seed && defined.iter().any(|(e, _)| *e != defined[0].0) {
                let each: Vec<String> = tops
                    .iter()
                    .map(|t| t.map_or("-".into(), |(e, x)| format!("e{e} {x:.2}")))
                    .collect();
                s.push_str(&format!(" (per seed: {})", each.join(", ")));
            }
            s
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The line for a cell (see the module docs).
pub fn line(cell: &serde_json::Map<String, Json>) -> String {
    let mut parts = Vec::new();
    let valid = shares(cell, "train.routing.valid.");
    if !valid.is_empty() {
        let mut s = format!(
            "routing (validation, kept epoch): {}",
            routing_text(&valid, true)
        );
        let base = shares(cell, "train.routing.base.valid.");
        if !base.is_empty() {
            s.push_str(&format!(" (untrained: {})", routing_text(&base, false)));
        }
        parts.push(s);
    }
    if let Some((m, _)) = cell.get("train.router_grad_norm.mean").and_then(agg) {
        parts.push(format!(
            "router gradient norm {}",
            m.map_or_else(|| "-".into(), |x| format!("{x:.1e}"))
        ));
    }
    let mut weights: Vec<(String, Option<f64>)> = cell
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.strip_prefix("train.ifairlrs.weight.")?.to_string(),
                agg(v)?.0,
            ))
        })
        .collect();
    if !weights.is_empty() {
        // The neutral weight last.
        weights.sort_by_key(|(g, _)| g == "neutral");
        let w: Vec<String> = weights
            .iter()
            .map(|(g, x)| format!("{g} {}", num(*x)))
            .collect();
        parts.push(format!("IFairLRS weights: {}", w.join(", ")));
    }
    if let Some((acc, _)) = cell.get("train.up5.disc_acc").and_then(agg) {
        let chance = cell
            .get("train.up5.disc_chance")
            .and_then(agg)
            .and_then(|a| a.0);
        parts.push(format!(
            "UP5 discriminator accuracy {} (chance {})",
            num(acc),
            num(chance)
        ));
    }
    if parts.is_empty() {
        return String::new();
    }
    let n = cell
        .iter()
        .filter(|(k, _)| k.starts_with("train."))
        .filter_map(|(_, v)| v.get("n").and_then(Json::as_u64))
        .max()
        .unwrap_or(0);
    let mut out = parts.join("; ");
    if n > 1 {
        out.push_str(&format!(" (mean over {n} seeds)"));
    }
    out
}

pub(crate) fn filter(cell: &Value) -> Result<String, Error> {
    if cell.is_undefined() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "filter `internals` got an undefined value",
        ));
    }
    if cell.is_none() {
        return Ok(String::new());
    }
    let json = serde_json::to_value(cell).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("filter `internals`: {e}"),
        )
    })?;
    match json {
        Json::Object(m) => Ok(line(&m)),
        other => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("filter `internals` expects a cell (metric → aggregate), got {other}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn a(values: &[f64]) -> Json {
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        json!({"mean": mean, "n": values.len(), "values": values})
    }

    #[test]
    fn a_mos_cell_renders_its_routing_and_gradient_norm() {
        let cell = json!({
            "F": a(&[50.0, 52.0]),
            "train.routing.valid.male.e0": a(&[0.02, 0.04]),
            "train.routing.valid.male.e2": a(&[0.98, 0.96]),
            "train.routing.valid.female.e0": a(&[0.9, 0.2]),
            "train.routing.valid.female.e1": a(&[0.1, 0.8]),
            "train.routing.base.valid.male.e1": a(&[0.4, 0.4]),
            "train.routing.base.valid.male.e0": a(&[0.6, 0.6]),
            "train.routing.base.valid.female.e1": a(&[0.38, 0.38]),
            "train.router_grad_norm.mean": a(&[0.03, 0.032]),
        });
        assert_eq!(
            line(cell.as_object().unwrap()),
            "routing (validation, kept epoch): male→e2 0.97, female→e0 0.55 (per seed: e0 0.90, e1 0.80) \
             (untrained: male→e0 0.60, female→e1 0.38); router gradient norm 3.1e-2 (mean over 2 seeds)"
        );
    }

    #[test]
    fn other_methods_render_their_internals_and_plain_cells_nothing() {
        let cell = json!({
            "train.ifairlrs.weight.neutral": a(&[1.0]),
            "train.ifairlrs.weight.male": a(&[0.81]),
            "train.ifairlrs.weight.female": a(&[1.42]),
            "train.up5.disc_acc": a(&[0.62]),
            "train.up5.disc_chance": a(&[0.55]),
        });
        assert_eq!(
            line(cell.as_object().unwrap()),
            "IFairLRS weights: male 0.81, female 1.42, neutral 1.00; UP5 discriminator accuracy 0.62 (chance 0.55)"
        );
        let plain = json!({"F": a(&[1.0]), "train.best_valid_auc": a(&[0.6])});
        assert_eq!(line(plain.as_object().unwrap()), "");
    }
}
