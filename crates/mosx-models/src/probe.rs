//! Zero-shot probing: p(Yes) and p(No) of a backbone at the answer position.
//!
//! Invariants:
//! * `p_yes = softmax([logit_yes, logit_no])[0]` (METHOD.md §3), `p_no = 1 - p_yes` up to
//!   rounding; the ids are the tokenizer's answer ids for "Yes" / "No". The two answer
//!   logits are returned as the backbone computed them (f32, widened exactly to f64), and
//!   the softmax is taken in f64 from them, so an outside check can recompute `p_yes`.
//! * Prompts are tokenized with special tokens, sorted by length and batched
//!   (`batch_size` at a time) to limit padding; results come back in input order.
//! * Runs without gradients.

use tch::Tensor;

use crate::backbone::Backbone;
use crate::error::{CheckpointError, ModelError};
use crate::tokenizer::{pad_batch, TextTokenizer};

/// The answer probabilities of one prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeResult {
    pub prompt: String,
    pub p_yes: f64,
    pub p_no: f64,
    /// The answer logits of "Yes" and "No" (the backbone's f32 values, exactly widened).
    pub logit_yes: f64,
    pub logit_no: f64,
    pub yes_id: i64,
    pub no_id: i64,
    /// Number of tokens of the prompt (special tokens included).
    pub n_tokens: usize,
}

/// `[p_yes, p_no]` rows from `[B, 2]` answer logits.
pub fn answer_probs(logits: &Tensor) -> Result<Vec<[f64; 2]>, ModelError> {
    let p = logits
        .to_kind(tch::Kind::Double)
        .softmax(-1, tch::Kind::Double)
        .to_device(tch::Device::Cpu);
    let flat: Vec<f64> = Vec::<f64>::try_from(p.flatten(0, -1))?;
    Ok(flat.chunks_exact(2).map(|c| [c[0], c[1]]).collect())
}

/// `[logit_yes, logit_no]` rows from `[B, 2]` answer logits, widened to f64.
fn answer_logit_rows(logits: &Tensor) -> Result<Vec<[f64; 2]>, ModelError> {
    let l = logits
        .to_kind(tch::Kind::Double)
        .to_device(tch::Device::Cpu);
    let flat: Vec<f64> = Vec::<f64>::try_from(l.flatten(0, -1))?;
    Ok(flat.chunks_exact(2).map(|c| [c[0], c[1]]).collect())
}

/// Scores every prompt; see the module note.
pub fn probe(
    backbone: &dyn Backbone,
    tok: &TextTokenizer,
    prompts: &[String],
    batch_size: usize,
) -> Result<Vec<ProbeResult>, ModelError> {
    let [yes_id, no_id] = tok.answer_ids("Yes", "No")?;
    let encoded: Vec<Vec<i64>> = prompts
        .iter()
        .map(|p| tok.encode(p, true))
        .collect::<Result<_, _>>()?;
    if let Some(i) = encoded.iter().position(Vec::is_empty) {
        return Err(CheckpointError::EmptyPrompt {
            index: i + 1,
            prompt: prompts[i].clone(),
        }
        .into());
    }
    let mut order: Vec<usize> = (0..prompts.len()).collect();
    order.sort_by_key(|&i| encoded[i].len());
    let mut results: Vec<Option<ProbeResult>> = vec![None; prompts.len()];
    let _guard = tch::no_grad_guard();
    for chunk in order.chunks(batch_size.max(1)) {
        let rows: Vec<Vec<i64>> = chunk.iter().map(|&i| encoded[i].clone()).collect();
        let batch = pad_batch(&rows, tok.pad_id());
        let ids = batch.input_ids.to_device(backbone.device());
        let mask = batch.attention_mask.to_device(backbone.device());
        let embeds = backbone.embed(&ids);
        let logits = backbone.answer_logits(&embeds, &mask, &[yes_id, no_id], false);
        let probs = answer_probs(&logits)?;
        let raw = answer_logit_rows(&logits)?;
        for ((&i, [p_yes, p_no]), [logit_yes, logit_no]) in chunk.iter().zip(probs).zip(raw) {
            results[i] = Some(ProbeResult {
                prompt: prompts[i].clone(),
                p_yes,
                p_no,
                logit_yes,
                logit_no,
                yes_id,
                no_id,
                n_tokens: encoded[i].len(),
            });
        }
    }
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.ok_or_else(|| CheckpointError::Unscored { index: i + 1 }.into()))
        .collect()
}
