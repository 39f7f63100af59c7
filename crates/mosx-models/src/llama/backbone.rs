//! [`Backbone`] for [`Llama`]: unscaled embeddings, the last real token's state, head rows
//! (`lm_head` or the tied embeddings), pooling and LoRA.
//!
//! Invariants:
//! * The answer state is the final-normed hidden state of the last real token of each
//!   (right-padded) row, normed as transformers does (in the weights' kind), widened to f32;
//!   without pooling the last layer computes only that row.
//! * `head_logits` forms only the requested rows of the head in f32 and returns f32; the
//!   full-vocabulary head multiplies in the weights' kind and widens the result.
//! * The pooled state is the masked mean of the final-normed hidden states, in f32.

use tch::nn;
use tch::{Device, Kind, Tensor};

use super::Llama;
use crate::backbone::{AnswerState, Architecture, Backbone, LoraConfig};
use crate::decoder::{take_rows, Keep};
use crate::error::{CheckpointError, ModelError};
use crate::lora::DecoderDims;
use crate::numerics::masked_mean;

impl Llama {
    /// The head's weight: `lm_head.weight`, or the embeddings when tied.
    fn head(&self) -> &Tensor {
        self.lm_head.as_ref().unwrap_or(&self.embed_tokens)
    }

    /// The final norm, widened to f32.
    fn final_norm(&self, h: &Tensor) -> Tensor {
        self.rms_norm(h, &self.norm).to_kind(Kind::Float)
    }
}

impl Backbone for Llama {
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
        Tensor::embedding(&self.embed_tokens, &ids, pad, false, false)
    }

    fn answer_state(
        &self,
        embeds: &Tensor,
        mask: &Tensor,
        train: bool,
        pooled: bool,
    ) -> AnswerState {
        let mask = mask.to_device(self.vs.device());
        let last = (mask.ne(0).sum_dim_intlist(1, false, Kind::Int64) - 1).clamp_min(0);
        if !pooled {
            let h_last = self.hidden(embeds, &mask, train, Keep::Rows(&last));
            return AnswerState {
                hidden: self.final_norm(&h_last),
                pooled: None,
            };
        }
        let normed = self.final_norm(&self.hidden(embeds, &mask, train, Keep::Real));
        AnswerState {
            hidden: take_rows(&normed, &last),
            pooled: Some(masked_mean(&normed, &mask)),
        }
    }

    fn head_logits(&self, hidden: &Tensor, ids: Option<&[i64]>) -> Tensor {
        match ids {
            Some(ids) => {
                let ids = Tensor::from_slice(ids).to_device(self.vs.device());
                let w = self.head().index_select(0, &ids).to_kind(Kind::Float);
                hidden.to_kind(Kind::Float).matmul(&w.tr())
            }
            None => hidden
                .to_kind(self.kind)
                .matmul(&self.head().tr())
                .to_kind(Kind::Float),
        }
    }

    fn vocab_size(&self) -> i64 {
        self.head().size()[0]
    }

    fn pooled(&self, embeds: &Tensor, mask: &Tensor, train: bool) -> Tensor {
        let mask = mask.to_device(self.vs.device());
        let h = self.hidden(embeds, &mask, train, Keep::Real);
        masked_mean(&self.final_norm(&h), &mask)
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
        let base = path.sub("model");
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let at = |t| DecoderDims::path(&base, i, t);
            layer.lora.create(cfg, "Llama", |t| dims.of(t), at)?;
        }
        Ok(())
    }
}
