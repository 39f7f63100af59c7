//! `ifairlrs` (item-side fairness): prompt tuning with per-sample weights on `L_rec`.
//!
//! For each item group b, `w_b = (share of b among the train history items) / (share of b
//! among the train target items)`; a sample's weight is the mean `w_b` of its target's
//! groups (1 for a neutral target), and the weights are normalised to mean 1 over the
//! training set. The log records `w_b` and the neutral weight on that scale
//! ([`weight_table`]). Each sample's own loss is weighted (the public code averages the loss
//! before weighting, which cancels the weights; not here).

use serde_json::Value;
use tch::{nn, Tensor};

pub use mosx_config::methods::ifairlrs::Config;
use mosx_config::methods::typed;
use mosx_models::Backbone;

use super::prompt_tuning::{Init, SoftPrompt};
use crate::batch::Example;
use crate::error::MethodError;
use crate::log::GroupWeights;
use crate::method::{Method, Setup};

pub struct IFairLrs {
    soft: SoftPrompt,
}

pub(super) fn build(
    cfg: &Value,
    setup: &Setup,
    backbone: &mut dyn Backbone,
    root: &nn::Path,
) -> Result<Box<dyn Method>, MethodError> {
    let c: Config = typed("ifairlrs", cfg)?;
    backbone.freeze_base();
    let soft = SoftPrompt::new(root, setup, backbone, c.tokens, Init::Vocab, 11);
    Ok(Box::new(IFairLrs { soft }))
}

/// `w_b` per item group (None where no train target is in b), from the training examples.
pub fn group_weights(train: &[Example]) -> Vec<Option<f64>> {
    let g = train.first().map_or(0, |e| e.history_share.len());
    let n = train.len().max(1) as f64;
    (0..g)
        .map(|b| {
            let hist = train.iter().map(|e| e.history_share[b]).sum::<f64>() / n;
            let targ = train.iter().filter(|e| e.target_groups[b]).count() as f64 / n;
            (targ > 0.0).then(|| hist / targ)
        })
        .collect()
}

/// Each sample's raw weight (mean `w_b` of its target's groups, 1 if neutral) and their
/// mean over `train`.
fn raw_weights(train: &[Example], wb: &[Option<f64>]) -> (Vec<f64>, f64) {
    let raw: Vec<f64> = train
        .iter()
        .map(|e| {
            let ws: Vec<f64> = e
                .target_groups
                .iter()
                .enumerate()
                .filter(|(_, &m)| m)
                .filter_map(|(b, _)| wb[b])
                .collect();
            if ws.is_empty() {
                1.0
            } else {
                ws.iter().sum::<f64>() / ws.len() as f64
            }
        })
        .collect();
    let mean = raw.iter().sum::<f64>() / raw.len().max(1) as f64;
    (raw, mean)
}

/// Per-sample weights (see the module note), mean 1 over `train`.
pub fn sample_weights(train: &[Example]) -> Vec<f64> {
    let (raw, mean) = raw_weights(train, &group_weights(train));
    if mean > 0.0 {
        raw.iter().map(|w| w / mean).collect()
    } else {
        vec![1.0; raw.len()]
    }
}

/// `w_b` and the neutral weight on the scale of [`sample_weights`] (divided by the raw
/// mean): what a sample whose target is in group b only, or neutral, is weighted by.
pub fn weight_table(train: &[Example]) -> GroupWeights {
    let wb = group_weights(train);
    let (_, mean) = raw_weights(train, &wb);
    let scale = if mean > 0.0 { 1.0 / mean } else { 1.0 };
    GroupWeights {
        groups: wb.iter().map(|w| w.map(|w| w * scale)).collect(),
        neutral: scale,
    }
}

impl Method for IFairLrs {
    fn name(&self) -> &'static str {
        "ifairlrs"
    }
    fn soft_prompt(&self, _e: &Tensor, _m: &Tensor, _train: bool) -> Option<Tensor> {
        Some(self.soft.prompt.shallow_clone())
    }
    fn sample_weights(&self, train: &[Example]) -> Option<Vec<f64>> {
        Some(sample_weights(train))
    }
    fn item_group_weights(&self, train: &[Example]) -> Option<GroupWeights> {
        Some(weight_table(train))
    }
}
