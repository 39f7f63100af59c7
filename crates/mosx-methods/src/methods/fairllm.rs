//! `fairllm` (user-side): prompt tuning with a penalty on the divergence between the
//! predictions for the same sample under every sensitive-attribute prompt:
//! `L_rec + λ · mean_{g≠g'} |p_yes(X, s_g) − p_yes(X, s_g')|`, where `(X, s_g)` is the
//! task prompt rendered with group g's profile. Costs one extra pass per group. With G
//! groups the mean runs over all G(G−1)/2 unordered pairs, each pair once (FaiRLLM compares
//! the recommendations under every value of the attribute, not one value against the
//! rest); for two groups it is the single pair.
//!
//! Invariant: the variant passes run without dropout (`train = false` for the backbone;
//! gradients still flow), so identical prompts give identical predictions and a penalty of
//! exactly 0 on every backbone, T5's dropout included; with dropout on, each pass would
//! draw its own mask and the penalty would measure dropout noise. The task pass (`L_rec`)
//! keeps its dropout.

use serde_json::Value;
use tch::{nn, Kind, Tensor};

pub use mosx_config::methods::fairllm::Config;
use mosx_config::methods::typed;
use mosx_models::Backbone;

use super::prompt_tuning::{Init, SoftPrompt};
use crate::error::MethodError;
use crate::method::{forward, LossCtx, Method, Setup};

pub struct FairLlm {
    soft: SoftPrompt,
    lambda: f64,
}

pub(super) fn build(
    cfg: &Value,
    setup: &Setup,
    backbone: &mut dyn Backbone,
    root: &nn::Path,
) -> Result<Box<dyn Method>, MethodError> {
    let c: Config = typed("fairllm", cfg)?;
    backbone.freeze_base();
    let soft = SoftPrompt::new(root, setup, backbone, c.tokens, Init::Vocab, 11);
    Ok(Box::new(FairLlm {
        soft,
        lambda: c.lambda,
    }))
}

/// `mean_{g≠g'} |p_g − p_g'|` over `[B]` predictions per group, averaged over the batch.
pub fn consistency_penalty(per_group: &[Tensor]) -> Tensor {
    let mut terms = Vec::new();
    for (i, a) in per_group.iter().enumerate() {
        for b in &per_group[i + 1..] {
            terms.push((a - b).abs().mean(Kind::Float));
        }
    }
    match terms.is_empty() {
        true => Tensor::zeros([], (Kind::Float, tch::Device::Cpu)),
        false => Tensor::stack(&terms, 0).mean(Kind::Float),
    }
}

impl Method for FairLlm {
    fn name(&self) -> &'static str {
        "fairllm"
    }
    fn soft_prompt(&self, _e: &Tensor, _m: &Tensor, _train: bool) -> Option<Tensor> {
        Some(self.soft.prompt.shallow_clone())
    }
    fn needs_variants(&self) -> bool {
        true
    }
    fn extra_losses(&self, cx: &LossCtx<'_>) -> Vec<(&'static str, Tensor)> {
        if cx.batch.variants.is_empty() {
            return Vec::new();
        }
        let per_group: Vec<Tensor> = cx
            .batch
            .variants
            .iter()
            .map(|tb| forward(Some(self), cx.backbone, tb, cx.answer, false, false).p_yes())
            .collect();
        vec![("consistency", consistency_penalty(&per_group) * self.lambda)]
    }
}
