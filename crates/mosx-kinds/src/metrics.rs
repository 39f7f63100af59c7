//! Stage `metrics`: stereotype-aware fairness and performance of a set of
//! predictions (METHOD.md §3): pairwise F(a,b), headline F, AUC, precision and
//! recall, with breakdowns per (user group, target group) and per target side.
//!
//! Item groups come from the `measure` stage; each point's history share P_u is
//! computed from its own history. Undefined values stay NaN (shown as `-`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use mosx_data::{Dataset, Sequences, Stereotypes};
use mosx_fairness::{EvalPoint, FairnessKind};

use crate::artifacts::{self, slot, ARTIFACTS_UNIT};
use mosx_stage::predictions::Predictions;

use mosx_stage::{params, Output, ParamError, Slot, StageCtx, StageError, StageKind};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// `relative` (METHOD.md Eq. 5) or `absolute` (100·|P_R − P_H|).
    #[serde(default = "default_fairness")]
    fairness: FairnessKind,
}
fn default_fairness() -> FairnessKind {
    FairnessKind::Relative
}

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
        ]
    }
    fn slots(&self) -> &'static [Slot] {
        const SLOTS: &[Slot] = &[
            Slot::given(slot::PREDICTIONS),
            Slot::given(slot::STEREOTYPES),
            Slot::inferred(slot::SEQUENCES),
            Slot::inferred(slot::DATASET),
        ];
        SLOTS
    }
    fn normalize(&self, p: &serde_json::Map<String, Value>) -> Result<Value, ParamError> {
        params::parse::<Params>(p).map(|(_, v)| v)
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
        Ok(out)
    }
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
