//! The one interface the training and evaluation stages see of a backbone.
//!
//! Invariants shared by every implementation:
//! * `embed` returns what Hugging Face would pass as `inputs_embeds` (for Gemma-3 the
//!   `sqrt(hidden)` scale is already applied, as `Gemma3TextScaledWordEmbedding` does);
//!   a soft prompt is concatenated in that space, in front of the task tokens.
//! * `answer_logits` computes the logits of the requested vocabulary ids only, at the
//!   answer position: the first decoder step for T5, the position after the last real
//!   token for decoder-only models. It never materialises the full-vocabulary head.
//! * Masks are `[B, T]` int64 with 1 for real tokens and 0 for padding; batches are
//!   right-padded.
//! * Base weights live in the model's own `VarStore`; adapters (LoRA) live under their
//!   own path prefix and are the only trainable variables once `freeze_base` is called.

use tch::{Device, Kind, Tensor};

use crate::error::ModelError;
pub use mosx_config::methods::lora::{Target, Targets};

/// A right-padded batch of token ids and its attention mask.
#[derive(Debug)]
pub struct TokenBatch {
    /// `[B, T]` int64 token ids, right-padded with the pad id.
    pub input_ids: Tensor,
    /// `[B, T]` int64, 1 for real tokens and 0 for padding.
    pub attention_mask: Tensor,
}

/// Which family a checkpoint belongs to, read from `config.json`'s `model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// Encoder-decoder: the answer is scored at the first decoder step.
    EncoderDecoder,
    /// Decoder-only: the answer is the next token after the prompt.
    DecoderOnly,
}

/// LoRA settings: rank, scale, dropout and the adapted projections.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoraConfig {
    pub rank: i64,
    pub alpha: f64,
    pub dropout: f64,
    /// Which projections get an adapter (default attention q and v).
    pub targets: Targets,
}

/// What one forward pass yields at the answer position.
#[derive(Debug)]
pub struct AnswerState {
    /// `[B, d]`: the state the LM head reads at the answer position (Gemma-3: after the
    /// final norm, in f32; T5: the first decoder step in the weights' kind, scaled as the
    /// tied head requires).
    pub hidden: Tensor,
    /// `[B, d]` f32: the masked mean of the last hidden state (the encoder's for T5), when
    /// asked for; computed from the same pass, never a second one.
    pub pooled: Option<Tensor>,
}

pub trait Backbone: Send {
    /// Architecture of this backbone.
    fn architecture(&self) -> Architecture;
    /// Width of the token embeddings (`d_model` / `hidden_size`).
    fn hidden_size(&self) -> i64;
    /// Device the weights live on.
    fn device(&self) -> Device;
    /// Floating dtype of the weights.
    fn kind(&self) -> Kind;
    /// Token embeddings of `ids` (`[B, T]` → `[B, T, d]`), as `inputs_embeds`.
    fn embed(&self, ids: &Tensor) -> Tensor;
    /// One forward pass: the answer-position state and, if `pooled`, the pooled state.
    /// `embeds` is `[B, T, d]` (soft prompt already prepended when used), `mask` `[B, T]`.
    fn answer_state(
        &self,
        embeds: &Tensor,
        mask: &Tensor,
        train: bool,
        pooled: bool,
    ) -> AnswerState;
    /// f32 logits `[B, A]` of the vocabulary ids `ids` from an answer state (`None`: the
    /// whole vocabulary, `[B, V]`, as the label-token cross-entropy needs).
    fn head_logits(&self, hidden: &Tensor, ids: Option<&[i64]>) -> Tensor;
    /// Vocabulary size of the LM head.
    fn vocab_size(&self) -> i64;
    /// Logits `[B, answer_ids.len()]` of the given vocabulary ids at the answer position.
    fn answer_logits(
        &self,
        embeds: &Tensor,
        mask: &Tensor,
        answer_ids: &[i64],
        train: bool,
    ) -> Tensor {
        let st = self.answer_state(embeds, mask, train, false);
        self.head_logits(&st.hidden, Some(answer_ids))
    }
    /// Mean over real tokens of the last hidden state (the encoder's for T5): `[B, d]`.
    fn pooled(&self, embeds: &Tensor, mask: &Tensor, train: bool) -> Tensor;
    /// The variable store holding the base weights (names exactly as in the checkpoint).
    fn var_store(&self) -> &tch::nn::VarStore;
    /// Mutable access, e.g. to freeze or to move to another device.
    fn var_store_mut(&mut self) -> &mut tch::nn::VarStore;
    /// Stop gradients to every base weight.
    fn freeze_base(&mut self) {
        self.var_store_mut().freeze();
    }
    /// Add LoRA adapters on every layer's projections named by `cfg.targets`, with their
    /// variables created under `path` (a path of a separate `VarStore`, e.g. the
    /// adapter's), named as peft names them (`<layer path>.<module>.lora_A`).
    fn enable_lora(&mut self, path: &tch::nn::Path, cfg: LoraConfig) -> Result<(), ModelError>;
}
