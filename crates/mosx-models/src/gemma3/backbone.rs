//! [`Backbone`] for [`Gemma3`]: scaled embeddings, the last real token's state, tied head
//! rows with the final soft-capping, pooling and LoRA.
//!
//! Invariants:
//! * Embeddings are multiplied by `sqrt(hidden_size)` rounded to the weights' kind.
//! * The answer state is the final-normed hidden state of the last real token of each
//!   (right-padded) row, in f32 (the final norm is not rounded back to the weights'
//!   kind); without pooling the last layer computes only that row.
//! * `head_logits` forms only the requested rows of the tied embedding, in f32 (the rows
//!   widened), and returns f32, soft-capped by `final_logit_softcapping` when set; the
//!   full-vocabulary head multiplies in the weights' kind and widens the result.
//! * The pooled state is the masked mean of the final-normed hidden states, in f32.

use tch::nn;
use tch::{Device, Kind, Tensor};

use super::layers::Keep;
use super::{sub, Gemma3};
use crate::backbone::{AnswerState, Architecture, Backbone, LoraConfig};
use crate::decoder::take_rows;
use crate::error::{CheckpointError, ModelError};
use crate::lora::DecoderDims;
use crate::numerics::masked_mean;

impl Backbone for Gemma3 {
    fn architecture(&self) -> Architecture {
        Architecture::DecoderOnly
    }

    fn hidden_size(&self) -> i64 {
        self.cfg.hidden_size
    }

    fn device(&self) -> Device {
        self.vs.device()
    }

    fn kind(&self) -> Kind {
        self.kind
    }

    fn embed(&self, ids: &Tensor) -> Tensor {
        let ids = ids.to_device(self.vs.device());
        let pad = self.cfg.pad_token_id.unwrap_or(-1);
        let e = Tensor::embedding(&self.embed_tokens, &ids, pad, false, false);
        // transformers: embed_scale (an f32 scalar) cast to the weights' dtype.
        let scale = (self.cfg.hidden_size as f64).sqrt() as f32;
        let scale = Tensor::from_slice(&[scale])
            .to_kind(self.kind)
            .to_device(self.vs.device());
        e * scale
    }

    fn answer_state(
        &self,
        embeds: &Tensor,
        mask: &Tensor,
        train: bool,
        pooled: bool,
    ) -> AnswerState {
        let device = self.vs.device();
        let mask = mask.to_device(device);
        let last = (mask.ne(0).sum_dim_intlist(1, false, Kind::Int64) - 1).clamp_min(0);
        if !pooled {
            let h_last = self.hidden(embeds, &mask, train, Keep::Rows(&last));
            return AnswerState {
                hidden: self.rms_norm_f32(&h_last, &self.norm),
                pooled: None,
            };
        }
        let h = self.hidden(embeds, &mask, train, Keep::Real);
        let normed = self.rms_norm_f32(&h, &self.norm);
        AnswerState {
            hidden: take_rows(&normed, &last),
            pooled: Some(masked_mean(&normed, &mask)),
        }
    }

    fn head_logits(&self, hidden: &Tensor, ids: Option<&[i64]>) -> Tensor {
        let logits = match ids {
            // A few rows: formed in f32 from the f32 answer state, whatever the weights' kind.
            Some(ids) => {
                let ids = Tensor::from_slice(ids).to_device(self.vs.device());
                let w = self.embed_tokens.index_select(0, &ids).to_kind(Kind::Float);
                hidden.to_kind(Kind::Float).matmul(&w.tr())
            }
            // The whole vocabulary: in the weights' kind (a copy of the embedding in f32
            // would cost 4 bytes per weight), accumulated in f32 by the matmul, then widened.
            None => hidden
                .to_kind(self.kind)
                .matmul(&self.embed_tokens.tr())
                .to_kind(Kind::Float),
        };
        match self.cfg.final_logit_softcapping {
            Some(cap) => (logits / cap).tanh() * cap,
            None => logits,
        }
    }

    fn vocab_size(&self) -> i64 {
        self.embed_tokens.size()[0]
    }

    fn pooled(&self, embeds: &Tensor, mask: &Tensor, train: bool) -> Tensor {
        let mask = mask.to_device(self.vs.device());
        let h = self.hidden(embeds, &mask, train, Keep::Real);
        masked_mean(&self.rms_norm_f32(&h, &self.norm), &mask)
    }

    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
    }

    fn enable_lora(&mut self, path: &nn::Path, cfg: LoraConfig) -> Result<(), ModelError> {
        if cfg.rank <= 0 {
            return Err(CheckpointError::LoraRank { rank: cfg.rank }.into());
        }
        let c = &self.cfg;
        let dims = DecoderDims {
            d: c.hidden_size,
            q_out: c.num_attention_heads * c.head_dim,
            kv_out: c.num_key_value_heads * c.head_dim,
            ff: c.intermediate_size,
        };
        let pref: Vec<&str> = self.prefix.iter().map(String::as_str).collect();
        let base = sub(path, &pref);
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let at = |t| DecoderDims::path(&base, i, t);
            layer.lora.create(cfg, "Gemma-3", |t| dims.of(t), at)?;
        }
        Ok(())
    }
}
