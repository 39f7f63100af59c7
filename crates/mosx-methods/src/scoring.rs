//! Scoring with a method (or the bare backbone) and the trainer's validation pass.
//!
//! Invariants: everything here runs under `no_grad` and in evaluation mode (no dropout),
//! so it draws nothing from torch's generator; points are scored in length-sorted chunks
//! ([`scoring_batches`]) and returned in the order given.

use tch::Kind;

use mosx_models::Backbone;

use crate::batch::{scoring_batches, Batch};
use crate::diagnostics;
use crate::error::MethodError;
use crate::losses;
use crate::method::{forward, Method};
use crate::trainer::{TrainConfig, TrainData};

/// `p_yes` of every row of `ids` (f64), with the method's soft prompt if any.
pub fn score(
    method: Option<&dyn Method>,
    backbone: &dyn Backbone,
    ids: &[&[i64]],
    answer: [i64; 2],
    pad_id: i64,
    batch_size: usize,
) -> Result<Vec<f64>, MethodError> {
    let _g = tch::no_grad_guard();
    let lengths: Vec<usize> = ids.iter().map(|r| r.len()).collect();
    let mut out = vec![0.0; ids.len()];
    for chunk in scoring_batches(&lengths, batch_size) {
        let rows: Vec<Vec<i64>> = chunk.iter().map(|&i| ids[i].to_vec()).collect();
        let tb = mosx_models::tokenizer::pad_batch(&rows, pad_id);
        let fwd = forward(method, backbone, &tb, answer, false, false);
        let p = mosx_models::probe::answer_probs(&fwd.pair_logits)?;
        for (&i, [p_yes, _]) in chunk.iter().zip(p) {
            out[i] = p_yes;
        }
    }
    Ok(out)
}

/// Mean validation loss (the task terms, unweighted by IFairLRS), `p_yes` per point and
/// the accuracy of the method's group discriminator, if any (same pass).
pub(crate) fn validate(
    method: &dyn Method,
    backbone: &dyn Backbone,
    data: &TrainData<'_>,
    cfg: &TrainConfig,
) -> Result<(f64, Vec<f64>, Option<f64>), MethodError> {
    let _g = tch::no_grad_guard();
    let lengths: Vec<usize> = data.valid.iter().map(|e| e.ids.len()).collect();
    let mut p = vec![0.0; data.valid.len()];
    let mut loss = 0.0;
    let mut correct: Option<usize> = None;
    for idx in scoring_batches(&lengths, cfg.eval_batch_size) {
        let batch = Batch::new(
            data.valid,
            &idx,
            data.pad_id,
            None,
            false,
            backbone.device(),
        );
        let fwd = forward(
            Some(method),
            backbone,
            &batch.tokens,
            data.answer,
            false,
            method.needs_pooled(),
        );
        if let Some(logits) = method.group_logits(&fwd) {
            *correct.get_or_insert(0) += diagnostics::correct(&logits, &batch.user_groups)?;
        }
        let per = losses::rec_per_sample(
            cfg.rec_loss,
            &fwd.pair_logits,
            || backbone.head_logits(&fwd.hidden, None),
            &batch.labels,
            data.answer,
        );
        loss += per.sum(Kind::Float).double_value(&[]);
        for (&i, [py, _]) in idx
            .iter()
            .zip(mosx_models::probe::answer_probs(&fwd.pair_logits)?)
        {
            p[i] = py;
        }
    }
    let n = data.valid.len().max(1) as f64;
    Ok((loss / n, p, correct.map(|c| c as f64 / n)))
}
