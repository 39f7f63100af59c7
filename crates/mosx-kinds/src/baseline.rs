//! Stage `baseline`: the non-LLM reference rows of every performance table (METHOD.md §6),
//! scored exactly like a model so that `metrics` consumes them unchanged.
//!
//! Rules (`p_yes` in [0, 1], recommended when `p_yes > 0.5`):
//! * `user_like_rate`: the share of liked items in the point's own history (a history
//!   item is liked when its rating is above the dataset's label threshold, as in the
//!   prompts);
//! * `item_like_rate`: the target's share of positive labels among the **train** points
//!   whose target it is, smoothed toward the train-wide positive rate `r`:
//!   `(pos + s * r) / (n + s)` with `s = smoothing` (default 5); an unseen target gets `r`;
//! * `item_popularity`: the number of **train** histories containing the target (each
//!   history counted once), divided by the largest such count over all items (0 if no
//!   train history has any item).
//!
//! Invariants: only the train part informs the item rules, so no label of the scored
//! part leaks into its scores; the scored points are the part's points thinned by
//! `max_points` with [`spread`], exactly as `evaluate` picks them, so a baseline and a
//! model with the same `part`/`max_points` score the same points. `setting` is only
//! recorded (no rule reads a prompt), so `metrics` can label the row.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use mosx_data::{Sequences, Split};

use crate::artifacts::{self, slot, ARTIFACTS_UNIT};
use mosx_stage::params::Bound;
use mosx_stage::predictions::Part;
use mosx_stage::predictions::{spread, Prediction, Predictions};
use mosx_stage::prompt::Setting;
use mosx_stage::{params, Output, ParamError, Slot, StageCtx, StageError, StageKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    UserLikeRate,
    ItemLikeRate,
    ItemPopularity,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    rule: Rule,
    #[serde(default = "default_part")]
    part: Part,
    /// N evenly spaced points of the part (as `evaluate`); `null`: all.
    #[serde(default)]
    max_points: Option<usize>,
    /// Recorded in the predictions only; the rules read no prompt.
    #[serde(default = "default_setting")]
    setting: Setting,
    /// Weight of the train-wide positive rate in `item_like_rate`.
    #[serde(default = "default_smoothing")]
    smoothing: f64,
}
fn default_part() -> Part {
    Part::Test
}
fn default_setting() -> Setting {
    Setting::Implicit
}
fn default_smoothing() -> f64 {
    5.0
}

/// `p_yes` of each point of `idx` under `rule`; the item rules learn from `split.train`.
pub fn score(
    rule: Rule,
    seq: &Sequences,
    split: &Split,
    idx: &[u32],
    threshold: f32,
    smoothing: f64,
) -> Vec<f64> {
    let point = |i: u32| &seq.points[i as usize];
    match rule {
        Rule::UserLikeRate => idx
            .iter()
            .map(|&i| {
                let r = &point(i).history_ratings;
                if r.is_empty() {
                    0.0
                } else {
                    r.iter().filter(|x| **x > threshold).count() as f64 / r.len() as f64
                }
            })
            .collect(),
        Rule::ItemLikeRate => {
            let mut per: HashMap<u32, (u64, u64)> = HashMap::new();
            let mut pos_all = 0u64;
            for &i in &split.train {
                let p = point(i);
                let e = per.entry(p.target).or_default();
                e.1 += 1;
                if p.label {
                    e.0 += 1;
                    pos_all += 1;
                }
            }
            let rate = if split.train.is_empty() {
                0.5
            } else {
                pos_all as f64 / split.train.len() as f64
            };
            idx.iter()
                .map(|&i| {
                    let (pos, n) = per.get(&point(i).target).copied().unwrap_or_default();
                    let denom = n as f64 + smoothing;
                    if denom > 0.0 {
                        (pos as f64 + smoothing * rate) / denom
                    } else {
                        rate
                    }
                })
                .collect()
        }
        Rule::ItemPopularity => {
            let mut count: HashMap<u32, u64> = HashMap::new();
            for &i in &split.train {
                let mut h = point(i).history.clone();
                h.sort_unstable();
                h.dedup();
                for it in h {
                    *count.entry(it).or_default() += 1;
                }
            }
            let max = count.values().copied().max().unwrap_or(0);
            idx.iter()
                .map(|&i| {
                    if max == 0 {
                        0.0
                    } else {
                        count.get(&point(i).target).copied().unwrap_or(0) as f64 / max as f64
                    }
                })
                .collect()
        }
    }
}

/// The kind's name in specs (`kind: baseline`).
pub const NAME: &str = "baseline";

pub struct Baseline;

impl StageKind for Baseline {
    fn name(&self) -> &'static str {
        NAME
    }
    fn code_version(&self) -> u32 {
        1
    }
    fn code(&self) -> &'static [&'static str] {
        &[
            "mosx-data",
            "crates/mosx-kinds/src/baseline.rs",
            ARTIFACTS_UNIT,
        ]
    }
    fn about(&self) -> &'static str {
        "non-LLM reference scores: user like-rate, target like-rate, target popularity"
    }
    fn metrics(&self) -> &'static [&'static str] {
        &["n", "mean_p_yes", "recommended"]
    }
    fn slots(&self) -> &'static [Slot] {
        const SLOTS: &[Slot] = &[
            Slot::given(slot::SPLIT),
            Slot::inferred(slot::SEQUENCES),
            Slot::inferred(slot::DATASET),
        ];
        SLOTS
    }
    fn normalize(&self, p: &serde_json::Map<String, Value>) -> Result<Value, ParamError> {
        let (typed, v) = params::parse::<Params>(p)?;
        params::check(&[
            Bound::cap("max_points", typed.max_points),
            Bound::non_negative("smoothing", typed.smoothing),
        ])?;
        Ok(v)
    }
    fn run(&self, ctx: &StageCtx<'_>) -> Result<Output, StageError> {
        let p: Params = params::typed(ctx.params)?;
        let ds = ctx.inputs.read(slot::DATASET, &artifacts::DATASET)?;
        let seq = ctx.inputs.read(slot::SEQUENCES, &artifacts::SEQUENCES)?;
        let split = ctx.inputs.read(slot::SPLIT, &artifacts::SPLIT)?;
        let mut idx: Vec<u32> = match p.part {
            Part::Test => split.test.clone(),
            Part::Valid => split.valid.clone(),
        };
        if let Some(n) = p.max_points {
            idx = spread(&idx, n);
        }
        let scores = score(p.rule, &seq, &split, &idx, ds.label_threshold, p.smoothing);
        let preds = Predictions {
            setting: p.setting,
            points: idx
                .iter()
                .zip(&scores)
                .map(|(i, s)| Prediction {
                    index: *i,
                    p_yes: *s,
                })
                .collect(),
        };
        let mut out = Output::default();
        out.metric("n", preds.points.len() as f64);
        out.metric(
            "mean_p_yes",
            scores.iter().sum::<f64>() / scores.len().max(1) as f64,
        );
        out.metric(
            "recommended",
            scores
                .iter()
                .filter(|x| **x > mosx_fairness::THRESHOLD)
                .count() as f64,
        );
        out.write(&artifacts::PREDICTIONS, &preds)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mosx_data::DataPoint;

    fn pt(user: u32, history: &[u32], ratings: &[f32], target: u32, label: bool) -> DataPoint {
        DataPoint {
            user,
            history: history.to_vec(),
            history_ratings: ratings.to_vec(),
            target,
            target_rating: if label { 5.0 } else { 1.0 },
            label,
        }
    }

    /// Train: points 0-3; test: points 4-5. Items 10, 11, 12, 13.
    fn case() -> (Sequences, Split) {
        let points = vec![
            pt(0, &[10, 11], &[4.0, 2.0], 12, true),
            pt(0, &[11, 12], &[2.0, 5.0], 10, false),
            pt(1, &[10, 12], &[5.0, 4.0], 12, true),
            pt(1, &[10, 10], &[1.0, 1.0], 11, false),
            pt(2, &[12, 13], &[4.0, 5.0], 12, true),
            pt(2, &[13, 11], &[3.0, 4.0], 13, false),
        ];
        let seq = Sequences {
            dataset: "toy".into(),
            groups: vec!["a".into(), "b".into()],
            points,
            windows_available: vec![],
        };
        let split = Split {
            train: vec![0, 1, 2, 3],
            valid: vec![],
            test: vec![4, 5],
        };
        (seq, split)
    }

    #[test]
    fn user_like_rate_is_the_liked_share_of_the_own_history() {
        let (seq, split) = case();
        // threshold 3: point 4 rates [4, 5] -> 2/2; point 5 rates [3, 4] -> 1/2 (3 is not > 3).
        let s = score(Rule::UserLikeRate, &seq, &split, &[4, 5], 3.0, 5.0);
        assert_eq!(s, vec![1.0, 0.5]);
    }

    #[test]
    fn item_like_rate_smooths_toward_the_train_rate() {
        let (seq, split) = case();
        // Train labels: 2 of 4 positive -> r = 0.5. Target 12 in train: 2 points, 2 positive
        // -> (2 + 5 * 0.5) / (2 + 5) = 4.5 / 7. Target 13 never a train target -> r = 0.5.
        let s = score(Rule::ItemLikeRate, &seq, &split, &[4, 5], 3.0, 5.0);
        assert!((s[0] - 4.5 / 7.0).abs() < 1e-15, "{s:?}");
        assert_eq!(s[1], 0.5);
        // Without smoothing, the raw train like-rate.
        let s = score(Rule::ItemLikeRate, &seq, &split, &[4], 3.0, 0.0);
        assert_eq!(s, vec![1.0]);
    }

    #[test]
    fn item_popularity_counts_train_histories_once_each() {
        let (seq, split) = case();
        // Train histories containing: 10 -> points 0, 2, 3 (twice in 3, counted once) = 3;
        // 11 -> 0, 1 = 2; 12 -> 1, 2 = 2; 13 -> 0 (only in test histories). Max = 3.
        let s = score(Rule::ItemPopularity, &seq, &split, &[4, 5], 3.0, 5.0);
        assert_eq!(s, vec![2.0 / 3.0, 0.0]);
    }

    #[test]
    fn params_defaults_and_validation() {
        let v = Baseline
            .normalize(
                serde_json::json!({"rule": "item_like_rate"})
                    .as_object()
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"rule": "item_like_rate", "part": "test", "max_points": null,
                               "setting": "implicit", "smoothing": 5.0})
        );
        let e = Baseline
            .normalize(
                serde_json::json!({"rule": "user_like_rate", "smoothin": 1})
                    .as_object()
                    .unwrap(),
            )
            .unwrap_err();
        assert_eq!(e.suggestion.as_deref(), Some("smoothing"));
        assert!(Baseline
            .normalize(
                serde_json::json!({"rule": "user_like_rate", "smoothing": -1})
                    .as_object()
                    .unwrap()
            )
            .is_err());
    }
}
