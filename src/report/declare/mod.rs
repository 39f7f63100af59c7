//! The comparisons a report entry declares: plain `options.comparisons` and the compact
//! `options.compare`, expanded into one [`Request`] each (METHOD.md §7 lists hundreds).
//!
//! ```yaml
//! options:
//!   comparisons:                       # one by one
//!     - { label: "F MoS vs UP5", a: ml_metrics_mos_implicit.F, b: ml_metrics_up5_implicit.F,
//!         margin: 0, alternative: less }
//!   compare:                           # compact: the product of `over`, `a`, `b`, `metrics`
//!     - a: { stage: "{prefix}_metrics_mos_{setting}", label: MoS }
//!       b: [ { stage: "{prefix}_metrics_up5_{setting}", label: UP5 }, "{prefix}_metrics_full_{setting}" ]
//!       metrics: [F, auc]
//!       margin: { auc: -2 }            # a number, or per metric (default 0)
//!       alternative: { F: less, auc: greater }   # two-sided | greater | less, or per metric
//!       over:                          # placeholders: a list of values or {value, label}
//!         prefix: [ { value: ml, label: MovieLens-100K }, { value: bx, label: BookCrossing } ]
//!         setting: [implicit, explicit, counterfactual]
//!       label: "{prefix}, {setting}: {metric} {a} vs {b}"   # optional; this is the default
//!     - a: { best_of: ["{p}_metrics_mos_implicit", "{p}_metrics_up5_implicit"], by: auc, label: best LLM method }
//!       b: { best_of: ["{p}_metrics_user_like_rate"], by: auc, pick: max, label: best non-LLM row }
//!       metrics: [auc]
//!       over: { p: [ml, bx] }
//! ```
//!
//! Invariants:
//! * A side is a stage name pattern, `{stage, label}`, or `{best_of: [sides], by: METRIC,
//!   pick: max|min, label}`: the candidate with the largest (smallest) mean of `by` over
//!   seeds, chosen at render time; its label names the pick and the note says the selection
//!   makes that test optimistic (it is not accounted for).
//! * Every `{name}` in a pattern or label is bound by `over` (labels also know `{a}`, `{b}`,
//!   `{metric}`); every expanded stage is a stage of the spec. Violations are [`SpecError`]s
//!   located at the field (`report.I.options.compare.J.b.K`) and naming the stage.
//! * Expansion order: `over` bindings (first key slowest), then `a`, `b`, `metrics`.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use mosx_spec::{Spec, SpecError};
use mosx_stats::Alternative;

mod request;
mod side;

pub use request::{default_label, request};
use side::{bindings, side, substitute};

use super::compare::parse_alternative;

/// One `over` variable at one value: (name, value, label).
type Binding = (String, String, String);

/// Keys of a compact `compare` entry and of a plain `comparisons` entry.
pub const COMPARE_KEYS: &[&str] = &[
    "a",
    "b",
    "metrics",
    "margin",
    "alternative",
    "over",
    "label",
];
pub const COMPARISON_KEYS: &[&str] = &["label", "a", "b", "margin", "alternative"];

/// One side of a declared comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Side {
    Stage {
        stage: String,
        label: String,
    },
    Best {
        candidates: Vec<(String, String)>,
        by: String,
        max: bool,
        label: String,
    },
}

/// A comparison as declared; `Best` sides are resolved against the store at render time.
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    /// The label template (placeholders: `over` names, `{a}`, `{b}`, `{metric}`).
    pub label: Option<String>,
    /// The `over` binding: (name, value, label).
    pub bound: Vec<Binding>,
    pub a: Side,
    pub b: Side,
    pub metric: String,
    pub margin: f64,
    pub alternative: Alternative,
}

/// A plain comparison (already a request) or a declared one.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Plain {
        label: String,
        a: String,
        b: String,
        margin: f64,
        alternative: Alternative,
    },
    Declared(Declared),
}

struct Ctx<'a> {
    spec: &'a Spec,
    stages: BTreeSet<&'a str>,
}

impl Ctx<'_> {
    fn err(&self, field: &str, message: String) -> SpecError {
        self.spec.error_at(field, message, None)
    }
}

/// Every comparison of report entry `index` (its `options`), expanded and checked.
pub fn entries(
    spec: &Spec,
    index: usize,
    options: &Map<String, Value>,
) -> Result<Vec<Entry>, SpecError> {
    let ctx = Ctx {
        spec,
        stages: spec
            .instances
            .iter()
            .flat_map(|i| i.stages.iter().map(|s| s.name.as_str()))
            .collect(),
    };
    let base = format!("report.{index}.options");
    let mut out = Vec::new();
    if let Some(list) = options.get("comparisons") {
        let field = format!("{base}.comparisons");
        let list = list
            .as_array()
            .ok_or_else(|| ctx.err(&field, "expected a list of {label, a, b, margin}".into()))?;
        for (j, c) in list.iter().enumerate() {
            out.push(plain(&ctx, &format!("{field}.{j}"), c)?);
        }
    }
    if let Some(list) = options.get("compare") {
        let field = format!("{base}.compare");
        let list = list
            .as_array()
            .ok_or_else(|| ctx.err(&field, "expected a list of compact comparisons".into()))?;
        for (j, c) in list.iter().enumerate() {
            out.extend(compact(&ctx, &format!("{field}.{j}"), c)?);
        }
    }
    Ok(out)
}

fn check_keys(
    ctx: &Ctx<'_>,
    field: &str,
    m: &Map<String, Value>,
    keys: &[&str],
) -> Result<(), SpecError> {
    for k in m.keys() {
        if !keys.contains(&k.as_str()) {
            return Err(ctx.spec.error_at_key(
                &format!("{field}.{k}"),
                format!("unknown key `{k}` (known: {})", keys.join(", ")),
                mosx_spec::suggest(k, keys.iter().copied()),
            ));
        }
    }
    Ok(())
}

fn alternative_of(ctx: &Ctx<'_>, field: &str, v: Option<&Value>) -> Result<Alternative, SpecError> {
    match v {
        None | Some(Value::Null) => Ok(Alternative::TwoSided),
        Some(Value::String(s)) => parse_alternative(s).ok_or_else(|| {
            ctx.err(
                field,
                format!("unknown alternative `{s}` (two-sided, greater, less)"),
            )
        }),
        Some(other) => Err(ctx.err(
            field,
            format!("expected two-sided, greater or less, found {other}"),
        )),
    }
}

fn plain(ctx: &Ctx<'_>, field: &str, c: &Value) -> Result<Entry, SpecError> {
    let m = c
        .as_object()
        .ok_or_else(|| ctx.err(field, "expected {label, a, b, margin}".into()))?;
    check_keys(ctx, field, m, COMPARISON_KEYS)?;
    let operand = |k: &str| -> Result<String, SpecError> {
        let f = format!("{field}.{k}");
        let s = m
            .get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| ctx.err(&f, format!("missing `{k}`: expected STAGE.METRIC")))?;
        let (stage, _) = super::stats::split_operand(s)
            .ok_or_else(|| ctx.err(&f, format!("`{s}` is not STAGE.METRIC")))?;
        known_stage(ctx, &f, stage, None)?;
        Ok(s.to_string())
    };
    let (a, b) = (operand("a")?, operand("b")?);
    let label = match m.get("label").and_then(Value::as_str) {
        Some(l) if !l.is_empty() => l.to_string(),
        _ => format!("{a} vs {b}"),
    };
    let margin = match m.get("margin") {
        None | Some(Value::Null) => 0.0,
        Some(v) => v.as_f64().ok_or_else(|| {
            ctx.err(
                &format!("{field}.margin"),
                format!("expected a number, found {v}"),
            )
        })?,
    };
    let alternative = alternative_of(ctx, &format!("{field}.alternative"), m.get("alternative"))?;
    Ok(Entry::Plain {
        label,
        a,
        b,
        margin,
        alternative,
    })
}

fn known_stage(
    ctx: &Ctx<'_>,
    field: &str,
    stage: &str,
    from: Option<&str>,
) -> Result<(), SpecError> {
    if ctx.stages.contains(stage) {
        return Ok(());
    }
    let from = from.map(|f| format!(" (from {f})")).unwrap_or_default();
    Err(ctx.spec.error_at(
        field,
        format!("no stage `{stage}` in the spec{from}"),
        mosx_spec::suggest(stage, ctx.stages.iter().copied()),
    ))
}

/// `v` as a list (a single value is a list of one), with each item's field.
fn items<'v>(field: &str, v: &'v Value) -> Vec<(String, &'v Value)> {
    match v {
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(k, x)| (format!("{field}.{k}"), x))
            .collect(),
        other => vec![(field.to_string(), other)],
    }
}

/// A per-metric option: a value for every metric, or a map metric → value.
fn per_metric<'v>(v: Option<&'v Value>, metric: &str) -> Option<&'v Value> {
    match v {
        Some(Value::Object(m)) => m.get(metric),
        other => other,
    }
}

fn compact(ctx: &Ctx<'_>, field: &str, c: &Value) -> Result<Vec<Entry>, SpecError> {
    let m = c
        .as_object()
        .ok_or_else(|| ctx.err(field, "expected {a, b, metrics, ...}".into()))?;
    check_keys(ctx, field, m, COMPARE_KEYS)?;
    let need = |k: &str| {
        m.get(k)
            .ok_or_else(|| ctx.err(field, format!("missing `{k}`")))
    };
    let (av, bv, mv) = (need("a")?, need("b")?, need("metrics")?);
    let mut metrics = Vec::new();
    for (f, x) in items(&format!("{field}.metrics"), mv) {
        metrics.push(
            x.as_str()
                .ok_or_else(|| ctx.err(&f, format!("expected a metric name, found {x}")))?
                .to_string(),
        );
    }
    let label = match m.get("label") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => {
            return Err(ctx.err(
                &format!("{field}.label"),
                format!("expected a string, found {v}"),
            ))
        }
    };
    let mut out = Vec::new();
    for bind in bindings(ctx, &format!("{field}.over"), m.get("over"))? {
        let sides = |name: &str, v: &Value| -> Result<Vec<Side>, SpecError> {
            items(&format!("{field}.{name}"), v)
                .into_iter()
                .map(|(f, x)| side(ctx, &f, x, &bind))
                .collect()
        };
        let (as_, bs) = (sides("a", av)?, sides("b", bv)?);
        for a in &as_ {
            for b in &bs {
                for metric in &metrics {
                    let margin = match per_metric(m.get("margin"), metric) {
                        None | Some(Value::Null) => 0.0,
                        Some(v) => v.as_f64().ok_or_else(|| {
                            ctx.err(
                                &format!("{field}.margin"),
                                format!("expected a number or a map metric: number, found {v}"),
                            )
                        })?,
                    };
                    let alternative = alternative_of(
                        ctx,
                        &format!("{field}.alternative"),
                        per_metric(m.get("alternative"), metric),
                    )?;
                    if let Some(l) = &label {
                        // Checked now, filled at render time (a `best_of` side's pick).
                        let names = ["a", "b", "metric"]
                            .map(|n| (n.to_string(), String::new(), String::new()));
                        let all: Vec<_> = bind.iter().cloned().chain(names).collect();
                        substitute(l, &all, true)
                            .map_err(|e| ctx.err(&format!("{field}.label"), e))?;
                    }
                    out.push(Entry::Declared(Declared {
                        label: label.clone(),
                        bound: bind.clone(),
                        a: a.clone(),
                        b: b.clone(),
                        metric: metric.clone(),
                        margin,
                        alternative,
                    }));
                }
            }
        }
    }
    Ok(out)
}
