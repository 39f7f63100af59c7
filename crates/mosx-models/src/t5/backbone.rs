//! [`Backbone`] for [`T5`]: embedding, answer states from one decoder step, head rows,
//! pooling and LoRA.
//!
//! Invariants:
//! * `answer_state` decodes one step from `decoder_start_token_id`; `head_logits` forms
//!   only the rows of the requested answer ids, in f32 (the full head only when none are
//!   given, in the weights' kind) and returns f32.
//! * The pooled state is the masked mean of the encoder output (padding excluded).
//! * LoRA can be enabled once, with a rank ≥ 1, a finite alpha and a dropout in `[0, 1)`.

use tch::nn;
use tch::{Device, Kind, Tensor};

use super::T5;
use crate::backbone::{AnswerState, Architecture, Backbone, LoraConfig};
use crate::error::{CheckpointError, ModelError};
use crate::numerics::masked_mean;

impl Backbone for T5 {
    fn architecture(&self) -> Architecture {
        Architecture::EncoderDecoder
    }

    fn hidden_size(&self) -> i64 {
        self.cfg.d_model
    }

    fn device(&self) -> Device {
        self.vs.device()
    }

    fn kind(&self) -> Kind {
        self.shared.kind()
    }

    fn embed(&self, ids: &Tensor) -> Tensor {
        Tensor::embedding(&self.shared, ids, -1, false, false)
    }

    fn answer_state(
        &self,
        embeds: &Tensor,
        mask: &Tensor,
        train: bool,
        pooled: bool,
    ) -> AnswerState {
        let b = embeds.size()[0];
        let enc = self.encode(embeds, mask, train);
        let start = Tensor::full(
            [b, 1],
            self.cfg.decoder_start_token_id,
            (Kind::Int64, embeds.device()),
        );
        let hidden = self.decode(&start, &enc, mask, train).squeeze_dim(1);
        let pooled = pooled.then(|| masked_mean(&enc, mask).to_kind(Kind::Float));
        AnswerState { hidden, pooled }
    }

    /// Panics if an id is outside the vocabulary (callers take them from the
    /// checkpoint's own tokenizer).
    fn head_logits(&self, hidden: &Tensor, ids: Option<&[i64]>) -> Tensor {
        let rows = match ids {
            Some(ids) => {
                if let Some(bad) = ids
                    .iter()
                    .find(|&&id| !(0..self.cfg.vocab_size).contains(&id))
                {
                    panic!(
                        "answer id {bad} is outside the T5 vocabulary (size {})",
                        self.cfg.vocab_size
                    );
                }
                let ids = Tensor::from_slice(ids).to_device(hidden.device());
                // A few rows: formed in f32 whatever the weights' kind.
                let rows = self
                    .head_weight()
                    .index_select(0, &ids)
                    .to_kind(Kind::Float);
                return hidden.to_kind(Kind::Float).matmul(&rows.tr()); // [B, A]
            }
            None => self.head_weight().shallow_clone(),
        };
        hidden.matmul(&rows.tr()).to_kind(Kind::Float)
    }

    fn vocab_size(&self) -> i64 {
        self.cfg.vocab_size
    }

    fn pooled(&self, embeds: &Tensor, mask: &Tensor, train: bool) -> Tensor {
        masked_mean(&self.encode(embeds, mask, train), mask)
    }

    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
    }

    fn enable_lora(&mut self, path: &nn::Path, cfg: LoraConfig) -> Result<(), ModelError> {
        if self.lora_enabled {
            return Err(CheckpointError::LoraEnabled { model: "T5".into() }.into());
        }
        if cfg.rank < 1 || !cfg.alpha.is_finite() || !(0.0..1.0).contains(&cfg.dropout) {
            return Err(CheckpointError::LoraSettings {
                rank: cfg.rank,
                alpha: cfg.alpha,
                dropout: cfg.dropout,
            }
            .into());
        }
        for (stack_name, stack) in [
            ("encoder", &mut self.encoder),
            ("decoder", &mut self.decoder),
        ] {
            let at = |suffix: &str| {
                suffix
                    .split('.')
                    .fold(path / stack_name / "block", |p, part| p / part)
            };
            for (suffix, attention) in stack.attentions_mut() {
                attention.enable_lora(&at(&suffix), cfg)?;
            }
            for (suffix, ff) in stack.feed_forwards_mut() {
                ff.enable_lora(&at(&suffix), cfg)?;
            }
        }
        self.lora_enabled = true;
        Ok(())
    }
}
