//! Stage `metrics`: stereotype-aware fairness and performance of a set of
//! predictions (METHOD.md §3): pairwise F(a,b), headline F, AUC, precision and
//! recall, with breakdowns per (user group, target group) and per target side.
//!
//! Item groups come from the `measure` stage; each point's history share P_u is
//! computed from its own history. Undefined values stay NaN (shown as `-`).
//!
//! With a `rankings` input (an `evaluate` under `protocol: ranking`, normally the same stage
//! as `predictions`) it also writes the ranking protocol's metrics at each cut-off of `k`
//! (default `[1, 5, 10]`): HR@K, NDCG@K, MRR, F on the top-K lists and the exposure of the
//! catalogue (`mosx_fairness::evaluate_ranking`; item popularity is the item's number of
//! interactions in the loaded data). `k` is left out of the normalised params when absent,
//! so the keys of pointwise specs are those they had before it; the plan refuses `k` without
//! a `rankings` input.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use mosx_data::{Dataset, Sequences, Stereotypes};
use mosx_fairness::{Catalogue, EvalPoint, FairnessKind, RankedList};
use mosx_stage::rankings::Rankings;

use crate::artifacts::{self, slot, ARTIFACTS_UNIT};
use mosx_stage::predictions::Predictions;

use mosx_stage::{params, Output, ParamError, Slot, StageCtx, StageError, StageKind};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// `relative` (METHOD.md Eq. 5) or `absolute` (100·|P_R − P_H|).
    #[serde(default = "default_fairness")]
    fairness: FairnessKind,
    /// Ranking cut-offs (one K or a list), read with a `rankings` input; absent: `[1, 5, 10]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<Cutoffs>,
}
fn default_fairness() -> FairnessKind {
    FairnessKind::Relative
}

/// `k: 5` or `k: [1, 5, 10]`; normalised to the sorted distinct list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum Cutoffs {
    One(usize),
    Many(Vec<usize>),
}

impl Cutoffs {
    fn list(&self) -> Vec<usize> {
        let mut ks = match self {
            Cutoffs::One(k) => vec![*k],
            Cutoffs::Many(ks) => ks.clone(),
        };
        ks.sort_unstable();
        ks.dedup();
        ks
    }
}

/// The cut-offs read when the spec gives no `k`.
const DEFAULT_K: [usize; 3] = [1, 5, 10];

/// The kind's name in specs (`kind: metrics`).
pub const NAME: &str = "metrics";

pub struct Metrics;

impl StageKind for Metrics {
    fn name(&self) -> &'static str {
        NAME
    }
    fn code_version(&self) -> u32 {
        1
    }
    fn code(&self) -> &'static [&'static str] {
        &[
            "mosx-data",
            "mosx-fairness",
            "crates/mosx-kinds/src/metrics.rs",
            ARTIFACTS_UNIT,
        ]
    }
    fn about(&self) -> &'static str {
        "fairness F(a,b), headline F, AUC, precision and recall of predictions"
    }
    fn metrics(&self) -> &'static [&'static str] {
        &[
            "F",
            "F.consistent",
            "F.inconsistent",
            "auc",
            "precision",
            "recall",
            "n",
            "n_recommended",
            "F.{group}.{group}",
            "lists",
            "mrr",
            "hr.{k}",
            "ndcg.{k}",
            "F.at.{k}",
            "F.at.{k}.consistent",
            "F.at.{k}.inconsistent",
            "F.at.{k}.{group}.{group}",
            "arp.{k}",
            "gini.{k}",
            "coverage.{k}",
        ]
    }
    fn slots(&self) -> &'static [Slot] {
        const SLOTS: &[Slot] = &[
            Slot::given(slot::PREDICTIONS),
            Slot::given(slot::STEREOTYPES),
            Slot::inferred(slot::SEQUENCES),
            Slot::inferred(slot::DATASET),
            Slot::optional(slot::RANKINGS),
        ];
        SLOTS
    }
    fn normalize(&self, p: &serde_json::Map<String, Value>) -> Result<Value, ParamError> {
        let (typed, mut v) = params::parse::<Params>(p)?;
        if let Some(k) = &typed.k {
            let ks = k.list();
            let bad = |message: String| ParamError {
                field: "k".into(),
                message,
                suggestion: None,
            };
            if ks.is_empty() {
                return Err(bad("must hold at least one cut-off".into()));
            }
            if ks[0] == 0 {
                return Err(bad("every cut-off must be >= 1 (got 0)".into()));
            }
            v["k"] = serde_json::json!(ks);
        }
        Ok(v)
    }
    fn run(&self, ctx: &StageCtx<'_>) -> Result<Output, StageError> {
        let p: Params = params::typed(ctx.params)?;
        let ds = ctx.inputs.read(slot::DATASET, &artifacts::DATASET)?;
        let seq = ctx.inputs.read(slot::SEQUENCES, &artifacts::SEQUENCES)?;
        let st = ctx
            .inputs
            .read(slot::STEREOTYPES, &artifacts::STEREOTYPES)?;
        let preds = ctx
            .inputs
            .read(slot::PREDICTIONS, &artifacts::PREDICTIONS)?;
        let (_, points) =
            eval_points(&ds, &seq, &st, &preds).map_err(|message| StageError::Input {
                slot: "predictions".into(),
                message,
            })?;
        let g = ds.groups.len();
        let r = mosx_fairness::evaluate(&points, g, p.fairness);
        let mut out = Output::default();
        out.metric("F", r.headline);
        out.metric("F.consistent", r.consistent);
        out.metric("F.inconsistent", r.inconsistent);
        out.metric("auc", r.auc);
        out.metric("precision", r.precision);
        out.metric("recall", r.recall);
        out.metric("n", r.n as f64);
        out.metric("n_recommended", r.n_recommended as f64);
        for (a, row) in r.fairness.iter().enumerate() {
            for (b, f) in row.iter().enumerate() {
                out.metric(format!("F.{}.{}", ds.groups[a], ds.groups[b]), *f);
            }
        }
        out.write(&artifacts::REPORT, &r)?;
        if ctx.inputs.has(slot::RANKINGS) {
            let rk = ctx.inputs.read(slot::RANKINGS, &artifacts::RANKINGS)?;
            let ks = p.k.as_ref().map_or(DEFAULT_K.to_vec(), Cutoffs::list);
            ranking_metrics(&mut out, &ds, &seq, &st, &rk, &ks, p.fairness)?;
        }
        Ok(out)
    }
}

/// The ranking protocol's metrics and report (module note) of the scored lists `rk`.
fn ranking_metrics(
    out: &mut Output,
    ds: &Dataset,
    seq: &Sequences,
    st: &Stereotypes,
    rk: &Rankings,
    ks: &[usize],
    kind: FairnessKind,
) -> Result<(), StageError> {
    let lists = ranked_lists(ds, seq, st, rk).map_err(|message| StageError::Input {
        slot: slot::RANKINGS.name.into(),
        message,
    })?;
    let mut popularity = vec![0.0; ds.items.len()];
    for it in &ds.interactions {
        if let Some(c) = popularity.get_mut(it.item as usize) {
            *c += 1.0;
        }
    }
    let catalogue = Catalogue {
        n_items: ds.items.len(),
        popularity: &popularity,
    };
    let r = mosx_fairness::evaluate_ranking(&lists, ds.groups.len(), ks, kind, &catalogue);
    out.metric("lists", r.n as f64);
    out.metric("mrr", r.mrr);
    for a in &r.at {
        let k = a.k;
        out.metric(format!("hr.{k}"), a.hr);
        out.metric(format!("ndcg.{k}"), a.ndcg);
        out.metric(format!("F.at.{k}"), a.headline);
        out.metric(format!("F.at.{k}.consistent"), a.consistent);
        out.metric(format!("F.at.{k}.inconsistent"), a.inconsistent);
        for (u, row) in a.fairness.iter().enumerate() {
            for (b, f) in row.iter().enumerate() {
                let (gu, gb) = (&ds.groups[u], &ds.groups[b]);
                out.metric(format!("F.at.{k}.{gu}.{gb}"), *f);
            }
        }
        out.metric(format!("arp.{k}"), a.arp);
        out.metric(format!("gini.{k}"), a.gini);
        out.metric(format!("coverage.{k}"), a.coverage);
    }
    out.write(&artifacts::RANKING_REPORT, &r)
}

/// Each scored list with its user's group, its point's history shares and its candidates'
/// item groups; an error names a list whose index is outside the sequences or whose scores
/// do not match its items.
fn ranked_lists(
    ds: &Dataset,
    seq: &Sequences,
    st: &Stereotypes,
    rk: &Rankings,
) -> Result<Vec<RankedList>, String> {
    rk.lists
        .iter()
        .map(|l| {
            let d = seq
                .points
                .get(l.index as usize)
                .ok_or_else(|| format!("list index {} outside the sequences", l.index))?;
            if l.items.is_empty() || l.items.len() != l.p_yes.len() {
                return Err(format!(
                    "list {} has {} items but {} scores",
                    l.index,
                    l.items.len(),
                    l.p_yes.len()
                ));
            }
            Ok(RankedList {
                user_group: ds.users[d.user as usize].group as usize,
                history_share: st.history_share(&d.history),
                items: l.items.clone(),
                item_groups: l.items.iter().map(|&i| st.item_groups(i)).collect(),
                scores: l.p_yes.clone(),
            })
        })
        .collect()
}

/// The evaluation points of `preds` (METHOD.md §3): each prediction with its user's group, its
/// target's item groups and its history's group shares, and each point's user id. Written
/// once, for the `metrics` kind and the reports' statistics; an error names a prediction
/// whose index is outside the sequences.
pub fn eval_points(
    ds: &Dataset,
    seq: &Sequences,
    st: &Stereotypes,
    preds: &Predictions,
) -> Result<(Vec<String>, Vec<EvalPoint>), String> {
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
    Ok((users, points))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalize(v: Value) -> Result<Value, ParamError> {
        Metrics.normalize(v.as_object().unwrap())
    }

    #[test]
    fn params_without_k_normalise_as_before_it_and_k_is_a_sorted_list() {
        let v = normalize(serde_json::json!({})).unwrap();
        assert_eq!(v, serde_json::json!({"fairness": "relative"}));
        let v = normalize(serde_json::json!({"k": 5})).unwrap();
        assert_eq!(v["k"], serde_json::json!([5]));
        let v = normalize(serde_json::json!({"k": [10, 1, 5, 5]})).unwrap();
        assert_eq!(v["k"], serde_json::json!([1, 5, 10]));
        assert_eq!(
            normalize(serde_json::json!({"k": [0, 5]}))
                .unwrap_err()
                .field,
            "k"
        );
        assert_eq!(
            normalize(serde_json::json!({"k": []})).unwrap_err().field,
            "k"
        );
    }
}
