//! Stage `sample`: windows of consecutive interactions, sampled with a seed, with
//! the leave-one-out history/target and the median-threshold label (METHOD.md §1).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use mosx_data::{DataError, Dataset, GroupRatio, SampleOptions};

use crate::artifacts::{self, slot, ARTIFACTS_UNIT};
use mosx_stage::params::Bound;
use mosx_stage::{params, Output, ParamError, Slot, StageCtx, StageError, StageKind};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// Interactions per window: history = window - 1, target = the last one.
    #[serde(default = "default_window")]
    window: usize,
    /// Number of windows sampled; more than exist is an error stating both numbers.
    #[serde(default = "default_windows")]
    windows: usize,
    #[serde(default)]
    seed: u64,
    /// `natural`, a ratio per group, or `default` (natural for MovieLens,
    /// adult 0.6 / teen 0.4 for BookCrossing, METHOD.md §1; natural for a BookCrossing
    /// `group_by` whose groups are not adult and teen).
    #[serde(default = "default_ratio")]
    group_ratio: Ratio,
    /// Label threshold: label = rating > threshold. `null`: the dataset's median
    /// (3 for MovieLens, 5 for BookCrossing).
    #[serde(default)]
    threshold: Option<f32>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Ratio {
    Named(String),
    Map(BTreeMap<String, f64>),
}
fn default_window() -> usize {
    11
}
fn default_windows() -> usize {
    10_000
}
fn default_ratio() -> Ratio {
    Ratio::Named("default".into())
}

impl Ratio {
    fn resolve(&self, ds: &Dataset, ctx: &StageCtx<'_>) -> Result<GroupRatio, StageError> {
        match self {
            Ratio::Named(n) if n == "natural" => Ok(GroupRatio::Natural),
            // METHOD.md's ratio names the default groups; under a `group_by` that
            // lacks them it does not apply, and the default is natural.
            Ratio::Named(n) if n == "default" => Ok(match GroupRatio::default_for(ds.kind) {
                GroupRatio::Ratio(m) if m.keys().all(|g| ds.groups.contains(g)) => {
                    GroupRatio::Ratio(m)
                }
                _ => GroupRatio::Natural,
            }),
            Ratio::Named(n) => Err(ctx.param_error(
                "group_ratio",
                format!("`{n}`: expected `natural`, `default` or a map of group to share"),
            )),
            // The plan checked the names against the dataset folder's kind; the loaded
            // dataset is checked again, in case its groups differ.
            Ratio::Map(m) => match m.keys().find(|g| !ds.groups.contains(g)) {
                Some(g) => Err(ctx.param_error(
                    &format!("group_ratio.{g}"),
                    format!(
                        "unknown group `{g}` (groups of {}: {})",
                        ds.name,
                        ds.groups.join(", ")
                    ),
                )),
                None => Ok(GroupRatio::Ratio(m.clone())),
            },
        }
    }
}

/// The kind's name in specs (`kind: sample`).
pub const NAME: &str = "sample";

pub struct Sample;

impl StageKind for Sample {
    fn name(&self) -> &'static str {
        NAME
    }
    fn code_version(&self) -> u32 {
        1
    }
    fn code(&self) -> &'static [&'static str] {
        &[
            "mosx-data",
            "crates/mosx-kinds/src/sample.rs",
            ARTIFACTS_UNIT,
        ]
    }
    fn about(&self) -> &'static str {
        "sample windows of consecutive interactions; history, target and label"
    }
    fn metrics(&self) -> &'static [&'static str] {
        &[
            "points",
            "users",
            "items",
            "interactions",
            "positives",
            "points.{group}",
            "users.{group}",
            "windows_available.{group}",
        ]
    }
    fn named_groups(&self, params: &Value) -> Vec<(String, String)> {
        let map = params.get("group_ratio").and_then(Value::as_object);
        map.into_iter()
            .flatten()
            .map(|(g, _)| (format!("group_ratio.{g}"), g.clone()))
            .collect()
    }
    fn slots(&self) -> &'static [Slot] {
        const SLOTS: &[Slot] = &[Slot::given(slot::DATASET)];
        SLOTS
    }
    fn normalize(&self, p: &serde_json::Map<String, Value>) -> Result<Value, ParamError> {
        let (typed, v) = params::parse::<Params>(p)?;
        if let Ratio::Named(n) = &typed.group_ratio {
            if n != "natural" && n != "default" {
                return Err(ParamError {
                    field: "group_ratio".into(),
                    message: format!(
                        "`{n}` is not `natural`, `default` or a map of group to share"
                    ),
                    suggestion: mosx_spec::suggest(n, ["natural", "default"]),
                });
            }
        }
        if let Ratio::Map(m) = &typed.group_ratio {
            let sum: f64 = m.values().sum();
            if m.values().any(|r| !(r.is_finite() && *r >= 0.0)) || (sum - 1.0).abs() > 1e-6 {
                let parts: Vec<String> = m.iter().map(|(g, r)| format!("{g} {r}")).collect();
                return Err(ParamError {
                    field: "group_ratio".into(),
                    message: format!(
                        "shares must be >= 0 and sum to 1, found {} = {sum}",
                        parts.join(" + ")
                    ),
                    suggestion: None,
                });
            }
        }
        params::check(&[
            Bound::at_least("window", typed.window, 2),
            Bound::at_least("windows", typed.windows, 1),
            Bound::finite("threshold", typed.threshold.map_or(0.0, f64::from)),
        ])?;
        Ok(v)
    }
    fn run(&self, ctx: &StageCtx<'_>) -> Result<Output, StageError> {
        let p: Params = params::typed(ctx.params)?;
        let ds = ctx.inputs.read(slot::DATASET, &artifacts::DATASET)?;
        let opts = SampleOptions {
            window: p.window,
            n: p.windows,
            seed: p.seed,
            group_ratio: p.group_ratio.resolve(&ds, ctx)?,
            threshold: p.threshold,
        };
        // Too few windows depends on the data: found here, located at `windows`.
        let seq = mosx_data::sample(&ds, &opts).map_err(|e| {
            ctx.data_error(e, |e| match e {
                DataError::TooFewWindows { .. } | DataError::NotEnoughWindows { .. } => {
                    Some("windows")
                }
                _ => None,
            })
        })?;
        let stats = seq.stats(&ds);
        let mut out = Output::default();
        out.metric("points", stats.points as f64);
        out.metric("users", stats.users as f64);
        out.metric("items", stats.items as f64);
        out.metric("interactions", stats.interactions as f64);
        out.metric(
            "positives",
            seq.points.iter().filter(|d| d.label).count() as f64,
        );
        for (i, g) in seq.groups.iter().enumerate() {
            out.metric(
                format!("points.{g}"),
                stats.group_points.get(i).copied().unwrap_or(0) as f64,
            );
            out.metric(
                format!("users.{g}"),
                stats.group_users.get(i).copied().unwrap_or(0) as f64,
            );
            out.metric(
                format!("windows_available.{g}"),
                seq.windows_available.get(i).copied().unwrap_or(0) as f64,
            );
        }
        out.write(&artifacts::SEQUENCES, &seq)?;
        Ok(out)
    }
}
