//! Stage `sample`: windows of consecutive interactions, sampled with a seed, with
//! the leave-one-out history/target and the median-threshold label (METHOD.md §1).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use mosx_data::{Dataset, DatasetKind, GroupRatio, SampleOptions};

use super::{params, Output, ParamError, Slot, StageCtx, StageError, StageKind};

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
    /// adult 0.6 / teen 0.4 for BookCrossing, METHOD.md §1).
    #[serde(default = "default_ratio")]
    group_ratio: Ratio,
    /// Label threshold: label = rating > threshold. `null`: the dataset's median
    /// (3 for MovieLens, 5 for BookCrossing).
    #[serde(default)]
    threshold: Option<f32>,
}
const FIELDS: &[&str] = &["window", "windows", "seed", "group_ratio", "threshold"];

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
    fn resolve(&self, ds: &Dataset) -> Result<GroupRatio, StageError> {
        match self {
            Ratio::Named(n) if n == "natural" => Ok(GroupRatio::Natural),
            Ratio::Named(n) if n == "default" => Ok(match ds.kind {
                DatasetKind::MovieLens => GroupRatio::Natural,
                DatasetKind::BookCrossing => GroupRatio::Ratio(BTreeMap::from([
                    ("adult".to_string(), 0.6),
                    ("teen".to_string(), 0.4),
                ])),
            }),
            Ratio::Named(n) => Err(StageError::Other(format!(
                "group_ratio `{n}`: expected `natural`, `default` or a map of group to share"
            ))),
            Ratio::Map(m) => {
                for g in m.keys() {
                    if !ds.groups.contains(g) {
                        return Err(StageError::Other(format!(
                            "group_ratio: unknown group `{g}` (groups of {}: {})",
                            ds.name,
                            ds.groups.join(", ")
                        )));
                    }
                }
                Ok(GroupRatio::Ratio(m.clone()))
            }
        }
    }
}

pub struct Sample;

impl StageKind for Sample {
    fn name(&self) -> &'static str {
        "sample"
    }
    fn code_version(&self) -> u32 {
        1
    }
    fn code(&self) -> &'static [&'static str] {
        &["mosx-data", "src/stages/sample.rs"]
    }
    fn about(&self) -> &'static str {
        "sample windows of consecutive interactions; history, target and label"
    }
    fn slots(&self) -> &'static [Slot] {
        &[Slot {
            name: "dataset",
            producers: &["load"],
            inferable: false,
            optional: false,
        }]
    }
    fn normalize(&self, p: &serde_json::Map<String, Value>) -> Result<Value, ParamError> {
        let (typed, v) = params::parse::<Params>(p, FIELDS)?;
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
        if typed.windows == 0 {
            return Err(ParamError {
                field: "windows".into(),
                message: "must be at least 1 (a sample of 0 windows is empty)".into(),
                suggestion: None,
            });
        }
        if typed.window < 2 {
            return Err(ParamError {
                field: "window".into(),
                message: "must be at least 2".into(),
                suggestion: None,
            });
        }
        Ok(v)
    }
    fn run(&self, ctx: &StageCtx<'_>) -> Result<Output, StageError> {
        let p: Params = params::typed(ctx.params)?;
        let ds = ctx.inputs.get::<Dataset>("dataset", "dataset")?;
        let opts = SampleOptions {
            window: p.window,
            n: p.windows,
            seed: p.seed,
            group_ratio: p.group_ratio.resolve(&ds)?,
            threshold: p.threshold,
        };
        let seq = mosx_data::sample(&ds, &opts)?;
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
        out.put("sequences", "sequences", &seq)?;
        Ok(out)
    }
}
