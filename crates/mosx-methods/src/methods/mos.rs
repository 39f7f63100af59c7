//! `mos`: Mixture-of-Stereotypes (METHOD.md §5, paper Eqs. 6-15). Frozen backbone;
//! trainable: the router, the reweighting layer and E prompt experts of L tokens.
//!
//! Invariants:
//! * The router reads `h_g = meanpool(Emb([s_g ; X]))` of the frozen token embeddings. The
//!   mean over the concatenation is `(Σ Emb(s_g) + Σ_real Emb(X)) / (|s_g| + |X|)`, so it is
//!   computed from the task embeddings the backbone reads anyway plus a constant per group:
//!   the router costs no second backbone pass and not even a second embedding lookup.
//! * Top-K keeps the K largest router probabilities **as they are** and zeroes the rest
//!   (`renormalize: false`, the default, METHOD.md §5): the kept `p_i` carries the
//!   router's gradient. `renormalize: true` (an ablation, meaningful for K >= 2) divides
//!   the kept values by their sum, computed as the softmax of their log-probabilities so
//!   that for K = 1 the kept value is exactly 1 and the router's gradient exactly 0 (no
//!   rounding residue for an optimizer to turn into lr-sized steps). `stochastic` routing
//!   samples K distinct experts from `p_g` while training, keeps the sampled `p_i` (the
//!   same renormalisation rule applies) and is top-K at evaluation.
//! * `Method::router_probs` exposes `p_g` so the trainer can log, per epoch, which expert
//!   each group's prompt routes a point to; `Method::watched_grads` names the router's
//!   weight and bias (`router`) so the trainer logs their gradient norm per step.
//! * The mixing weights are `softmax(W_w [p~_1; ...; p~_G] + b_w)` with `reweighting`, else
//!   the mean of the routed probabilities over groups; the soft prompt is `Σ_e w_e P_e`.
//! * The backbone never reads a profile: only the router sees the stereotype sentences.
//! * Any number of groups G >= 1: one stereotype sentence per group of the dataset (the
//!   `Setup`'s, in the dataset's order; a count that differs is a config error), G routings
//!   per point, and the reweighting layer reads their concatenation `[B, G·E]`.
//! * Trainable: `E·L·d` (experts) + `d·E + E` (router) + `G·E·E + E` (reweighting, if on).

use serde_json::Value;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

pub use mosx_config::methods::mos::{Config, Routing};
use mosx_config::methods::typed;
use mosx_models::Backbone;

use super::prompt_tuning::initial_rows;
use crate::error::MethodError;
use crate::losses;
use crate::method::{Method, Setup};

pub struct Mos {
    cfg: Config,
    /// `[E, L, d]` prompt experts.
    pub experts: Tensor,
    router: nn::Linear,
    reweight: Option<nn::Linear>,
    /// Per group: `(Σ Emb(s_g)` `[d]` f32, `|s_g|)`.
    group_sums: Vec<(Tensor, f64)>,
}

pub(super) fn build(
    cfg: &Value,
    setup: &Setup,
    backbone: &mut dyn Backbone,
    root: &nn::Path,
) -> Result<Box<dyn Method>, MethodError> {
    let c: Config = typed("mos", cfg)?;
    if setup.group_prompts.len() != setup.n_groups || setup.n_groups == 0 {
        return Err(MethodError::config(
            "mos",
            "",
            format!(
                "needs one stereotype sentence per group ({} groups, {} sentences)",
                setup.n_groups,
                setup.group_prompts.len()
            ),
        ));
    }
    backbone.freeze_base();
    let d = setup.hidden;
    let e = c.experts;
    let seed = crate::batch::epoch_seed(setup.seed, 0, 21);
    let start = initial_rows(backbone, setup, e * c.tokens, c.init, seed).view([e, c.tokens, d]);
    let experts = root.var_copy("experts", &start);
    let router = nn::linear(root / "router", d, e, Default::default());
    let g = setup.n_groups as i64;
    let reweight = c
        .reweighting
        .then(|| nn::linear(root / "reweighting", g * e, e, Default::default()));
    let group_sums = {
        let _ng = tch::no_grad_guard();
        setup
            .group_prompts
            .iter()
            .map(|ids| {
                let t = Tensor::from_slice(ids)
                    .view([1, -1])
                    .to_device(backbone.device());
                let emb = backbone.embed(&t).to_kind(Kind::Float).squeeze_dim(0);
                (
                    emb.sum_dim_intlist(0, false, Kind::Float)
                        .to_device(setup.device),
                    ids.len() as f64,
                )
            })
            .collect()
    };
    Ok(Box::new(Mos {
        cfg: c,
        experts,
        router,
        reweight,
        group_sums,
    }))
}

/// Puts `vals` (the kept entries of `p`, at `idx`) back in place, zero elsewhere; with
/// `renormalize` the kept values are first divided by their sum, as the softmax of their
/// logs (equal to `v / Σ v`; for one kept value exactly 1 with exactly zero gradient).
fn keep(p: &Tensor, idx: &Tensor, vals: Tensor, renormalize: bool) -> Tensor {
    let vals = if renormalize {
        vals.clamp_min(f64::from(f32::MIN_POSITIVE))
            .log()
            .softmax(-1, Kind::Float)
    } else {
        vals
    };
    p.zeros_like().scatter(-1, idx, &vals)
}

/// Keeps the K largest entries of each row of `p` `[B, E]` and zeroes the rest; the kept
/// entries stay as they are unless `renormalize` (see the module note).
pub fn top_k(p: &Tensor, k: i64, renormalize: bool) -> Tensor {
    let (vals, idx) = p.topk(k, -1, true, true);
    keep(p, &idx, vals, renormalize)
}

/// K distinct experts per row sampled from `p` `[B, E]` (torch's generator); their
/// probabilities kept as they are unless `renormalize`, the rest zeroed.
pub fn sample_k(p: &Tensor, k: i64, renormalize: bool) -> Tensor {
    let idx = p.detach().multinomial(k, false);
    let vals = p.gather(-1, &idx, false);
    keep(p, &idx, vals, renormalize)
}

impl Mos {
    /// Router probabilities `p_g` `[B, E]` of every group for task embeddings `embeds`.
    pub fn group_probs(&self, embeds: &Tensor, mask: &Tensor) -> Vec<Tensor> {
        let m = mask.to_kind(Kind::Float).unsqueeze(-1);
        let emb = embeds.to_kind(Kind::Float);
        let sum_x = (&emb * &m).sum_dim_intlist(1, false, Kind::Float); // [B, d]
        let n_x = m.sum_dim_intlist(1, false, Kind::Float); // [B, 1]
        self.group_sums
            .iter()
            .map(|(s, n)| {
                let h = (&sum_x + s.unsqueeze(0)) / (&n_x + *n);
                self.router.forward(&h).softmax(-1, Kind::Float)
            })
            .collect()
    }

    /// Routed probabilities `p~_g` (top-K, or K sampled while training if stochastic).
    pub fn route(&self, probs: &[Tensor], train: bool) -> Vec<Tensor> {
        let (k, renorm) = (self.cfg.top_k(), self.cfg.renormalize);
        probs
            .iter()
            .map(|p| match (self.cfg.routing, train) {
                (Routing::Stochastic, true) => sample_k(p, k, renorm),
                _ => top_k(p, k, renorm),
            })
            .collect()
    }

    /// Mixing weights `w` `[B, E]` from the routed probabilities of all groups.
    pub fn mix_weights(&self, routed: &[Tensor]) -> Tensor {
        match &self.reweight {
            Some(layer) => layer
                .forward(&Tensor::cat(routed, -1))
                .softmax(-1, Kind::Float),
            None => Tensor::stack(routed, 0).mean_dim(0, false, Kind::Float),
        }
    }
}

impl Method for Mos {
    fn name(&self) -> &'static str {
        "mos"
    }
    fn soft_prompt(&self, embeds: &Tensor, mask: &Tensor, train: bool) -> Option<Tensor> {
        let probs = self.group_probs(embeds, mask);
        let routed = self.route(&probs, train);
        let w = self.mix_weights(&routed); // [B, E]
        let (e, l, d) = {
            let s = self.experts.size();
            (s[0], s[1], s[2])
        };
        let mixed = w.matmul(&self.experts.view([e, l * d])).view([-1, l, d]);
        Some(mixed)
    }
    fn diversity(&self) -> Option<Tensor> {
        Some(losses::diversity(&self.experts))
    }
    fn router_probs(&self, embeds: &Tensor, mask: &Tensor) -> Option<Vec<Tensor>> {
        Some(self.group_probs(embeds, mask))
    }
    fn watched_grads(&self) -> Vec<(&'static str, Vec<Tensor>)> {
        let mut ts = vec![self.router.ws.shallow_clone()];
        ts.extend(self.router.bs.as_ref().map(Tensor::shallow_clone));
        vec![("router", ts)]
    }
}
