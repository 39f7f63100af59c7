//! What the trainer measures of a method's internals for the log (no effect on training).
//!
//! Invariants:
//! * Everything here runs under `no_grad` and draws nothing from torch's generator, so
//!   logging cannot change a training's parameters or its reproducibility.
//! * Routing shares come from the method's router probabilities (`Method::router_probs`)
//!   on the task embeddings alone: no backbone pass, a point's top-1 expert per group is
//!   the argmax of `p_g` (deterministic, also for `stochastic` routing).
//! * A gradient norm is the joint L2 norm of the current grads of a watched tensor set,
//!   read after the accumulated backward passes of an optimizer step and before clipping;
//!   undefined grads count as zero.
//! * A group discriminator's accuracy counts the points whose argmax logit is their user's
//!   group; its chance rate is the share of the most common user group (what always
//!   answering that group scores).

use std::collections::BTreeMap;

use tch::{Kind, Tensor};

use mosx_models::Backbone;

use crate::batch::{scoring_batches, Example};
use crate::error::MethodError;
use crate::method::Method;

/// `[G][E]` routing shares of `examples` (see the module note), None for a method without
/// a router or for no examples.
pub fn routing_shares(
    method: &dyn Method,
    backbone: &dyn Backbone,
    examples: &[Example],
    pad_id: i64,
    batch_size: usize,
) -> Result<Option<Vec<Vec<f64>>>, MethodError> {
    let _g = tch::no_grad_guard();
    let lengths: Vec<usize> = examples.iter().map(|e| e.ids.len()).collect();
    let mut counts: Vec<Vec<f64>> = Vec::new();
    for chunk in scoring_batches(&lengths, batch_size) {
        let rows: Vec<Vec<i64>> = chunk.iter().map(|&i| examples[i].ids.clone()).collect();
        let tb = mosx_models::tokenizer::pad_batch(&rows, pad_id);
        let ids = tb.input_ids.to_device(backbone.device());
        let mask = tb.attention_mask.to_device(backbone.device());
        let Some(probs) = method.router_probs(&backbone.embed(&ids), &mask) else {
            return Ok(None);
        };
        for (g, p) in probs.iter().enumerate() {
            let e = p.size()[1] as usize;
            if counts.len() <= g {
                counts.push(vec![0.0; e]);
            }
            let top = Vec::<i64>::try_from(p.argmax(-1, false).to_device(tch::Device::Cpu))?;
            for k in top {
                counts[g][k as usize] += 1.0;
            }
        }
    }
    if counts.is_empty() {
        return Ok(None);
    }
    let n = examples.len() as f64;
    Ok(Some(
        counts
            .into_iter()
            .map(|row| row.into_iter().map(|c| c / n).collect())
            .collect(),
    ))
}

/// The gradient norm of each watched tensor set (see the module note).
pub fn grad_norms(watched: &[(&'static str, Vec<Tensor>)]) -> BTreeMap<String, f64> {
    let _g = tch::no_grad_guard();
    watched
        .iter()
        .map(|(name, ts)| {
            let sq: f64 = ts
                .iter()
                .map(Tensor::grad)
                .filter(Tensor::defined)
                .map(|g| {
                    g.to_kind(Kind::Double)
                        .square()
                        .sum(Kind::Double)
                        .double_value(&[])
                })
                .sum();
            (name.to_string(), sq.sqrt())
        })
        .collect()
}

/// Per watched set, the mean of its step norms over `steps` (the steps of one epoch).
pub fn mean_norms(steps: &[&BTreeMap<String, f64>]) -> BTreeMap<String, f64> {
    let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for s in steps {
        for (n, &v) in *s {
            let e = sums.entry(n.clone()).or_default();
            e.0 += v;
            e.1 += 1;
        }
    }
    sums.into_iter()
        .map(|(n, (s, k))| (n, s / k.max(1) as f64))
        .collect()
}

/// How many rows of `logits` `[B, G]` have their argmax at `groups` `[B]`.
pub fn correct(logits: &Tensor, groups: &Tensor) -> Result<usize, MethodError> {
    let hit = logits
        .argmax(-1, false)
        .eq_tensor(&groups.to_device(logits.device()))
        .sum(Kind::Int64);
    Ok(i64::try_from(hit)? as usize)
}

/// The share of the most common user group among `examples` (0 for none).
pub fn majority_share(examples: &[Example]) -> f64 {
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for e in examples {
        *counts.entry(e.user_group).or_default() += 1;
    }
    let top = counts.values().copied().max().unwrap_or(0);
    top as f64 / examples.len().max(1) as f64
}
