//! The one interface every training method implements, and the forward pass they share.
//!
//! Invariants:
//! * A method owns only what it trains (variables under its own `nn::Path`, or for `full`
//!   the backbone's own variables) and says which they are in [`Method::trainable`]; the
//!   names it gives are the names saved in the adapter file.
//! * The soft prompt a method builds is prepended by [`forward`] through
//!   [`crate::soft_prompt::prepend`], the only place that does it.
//! * A method never sees a stage, the store or the spec: only [`Setup`], examples and the
//!   backbone.

use tch::{Device, Kind, Tensor};

pub use mosx_config::Objective;

use mosx_models::{Backbone, TokenBatch};

use crate::batch::{Batch, Example};
use crate::soft_prompt::prepend;

/// What a method may know of the task when it is built.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Width of the backbone's token embeddings.
    pub hidden: i64,
    /// Number of stereotype groups.
    pub n_groups: usize,
    /// Token ids (no special tokens) of each group's stereotype sentence, e.g. "The user is
    /// a female." (METHOD.md Eq. 6), indexed by group.
    pub group_prompts: Vec<Vec<i64>>,
    /// Seed of the method's initialisation.
    pub seed: u64,
    pub device: Device,
}

/// One forward pass over a batch.
#[derive(Debug)]
pub struct Forward {
    /// `[B, d]` state at the answer position.
    pub hidden: Tensor,
    /// `[B, 2]` f32 logits of (Yes, No).
    pub pair_logits: Tensor,
    /// `[B, d]` f32 pooled last hidden state, when the method asked for it.
    pub pooled: Option<Tensor>,
}

impl Forward {
    /// `p_yes = softmax([logit_yes, logit_no])[0]`, `[B]` f32.
    pub fn p_yes(&self) -> Tensor {
        self.pair_logits.softmax(-1, Kind::Float).select(1, 0)
    }
}

/// What a method's own loss terms may read.
pub struct LossCtx<'a> {
    pub backbone: &'a dyn Backbone,
    pub batch: &'a Batch,
    pub forward: &'a Forward,
    /// `[Yes, No]` vocabulary ids.
    pub answer: [i64; 2],
    /// Index of the optimizer step this batch belongs to.
    pub step: usize,
    pub train: bool,
}

pub trait Method: Send {
    /// The name specs use (`method: mos`).
    fn name(&self) -> &'static str;
    /// The soft prompt for a batch, `[B, L, d]` or `[L, d]` (f32), from the task's token
    /// embeddings `embeds` `[B, T, d]` and mask; None for methods without one.
    fn soft_prompt(&self, _embeds: &Tensor, _mask: &Tensor, _train: bool) -> Option<Tensor> {
        None
    }
    /// Whether the losses need the pooled hidden state (computed in the same pass).
    fn needs_pooled(&self) -> bool {
        false
    }
    /// Whether examples must carry the prompt rendered with every group's profile.
    fn needs_variants(&self) -> bool {
        false
    }
    /// Per-example weights of `L_rec` over the training set (None: all 1).
    fn sample_weights(&self, _train: &[Example]) -> Option<Vec<f64>> {
        None
    }
    /// The weights of `sample_weights` per target item group and for a neutral target, for
    /// the log (IFairLRS; see [`crate::log::GroupWeights`]).
    fn item_group_weights(&self, _train: &[Example]) -> Option<crate::log::GroupWeights> {
        None
    }
    /// Logits `[B, G]` of the method's user-group discriminator reading a forward pass
    /// (computed with the pooled state when [`Method::needs_pooled`]), for the log (UP5).
    fn group_logits(&self, _fwd: &Forward) -> Option<Tensor> {
        None
    }
    /// `L_div`, for methods with several prompt experts (None: the objective cannot use it).
    fn diversity(&self) -> Option<Tensor> {
        None
    }
    /// Whether the task loss (`L_rec`, `L_fair`) is optimised at this step; a method that
    /// alternates (UP5) returns false on its auxiliary steps.
    fn trains_task(&self, _step: usize) -> bool {
        true
    }
    /// Per group, the router's probabilities over experts `[B, E]` for the task embeddings
    /// (MoS); the trainer logs from them which expert each group's prompt routes to.
    fn router_probs(&self, _embeds: &Tensor, _mask: &Tensor) -> Option<Vec<Tensor>> {
        None
    }
    /// Named sets of trainable tensors whose joint gradient norm (before clipping) the
    /// trainer logs per optimizer step and per epoch, e.g. MoS's `router` (weight, bias).
    fn watched_grads(&self) -> Vec<(&'static str, Vec<Tensor>)> {
        Vec::new()
    }
    /// The method's own loss terms, already weighted, with their names for the log.
    fn extra_losses(&self, _cx: &LossCtx<'_>) -> Vec<(&'static str, Tensor)> {
        Vec::new()
    }
    /// The trainable tensors with the names they are saved under, sorted by name: by
    /// default every variable of the adapter store (`<method>.<variable>`).
    fn trainable(
        &self,
        _backbone: &dyn Backbone,
        adapter: &tch::nn::VarStore,
    ) -> Vec<(String, Tensor)> {
        named_variables(adapter, "")
    }
}

/// Embeds `tokens`, prepends the method's soft prompt and runs the backbone once.
pub fn forward(
    method: Option<&dyn Method>,
    backbone: &dyn Backbone,
    tokens: &TokenBatch,
    answer: [i64; 2],
    train: bool,
    pooled: bool,
) -> Forward {
    let device = backbone.device();
    let ids = tokens.input_ids.to_device(device);
    let mask = tokens.attention_mask.to_device(device);
    let embeds = backbone.embed(&ids);
    let soft = method.and_then(|m| m.soft_prompt(&embeds, &mask, train));
    let (embeds, mask) = prepend(soft.as_ref(), embeds, mask);
    let st = backbone.answer_state(&embeds, &mask, train, pooled);
    let pair_logits = backbone.head_logits(&st.hidden, Some(&answer));
    Forward {
        hidden: st.hidden,
        pair_logits,
        pooled: st.pooled,
    }
}

/// Sorted `(name, tensor)` pairs of a variable store, names prefixed.
pub fn named_variables(vs: &tch::nn::VarStore, prefix: &str) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(n, t)| (format!("{prefix}{n}"), t))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}
