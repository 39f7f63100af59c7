//! T5 encoder-decoder (v1.0 / v1.1 / Flan-T5 / mT5), mirroring Hugging Face
//! `modeling_t5.py` (transformers 5.24) in eval and train mode.
//!
//! Invariants:
//! * Variable names are exactly the checkpoint's: `shared.weight`,
//!   `encoder.block.{i}.layer.0.SelfAttention.{q,k,v,o}.weight`,
//!   `encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight`,
//!   `encoder.block.{i}.layer.1.DenseReluDense.{wi,wo | wi_0,wi_1,wo}.weight`,
//!   `….layer_norm.weight`, `encoder.final_layer_norm.weight`, the decoder likewise with
//!   `layer.1.EncDecAttention.*` between self-attention and the feed-forward
//!   (`layer.2`), and `lm_head.weight` only for an untied head.
//! * The per-stack `embed_tokens` alias `shared`: only `shared.weight` is a variable, so
//!   a checkpoint storing only `shared.weight` (what `save_pretrained` writes) loads, and
//!   one storing the aliases too has them ignored. The decoder's cross-attention never
//!   has a relative bias (HF ignores the stray tensor some checkpoints carry).
//! * The head is untied exactly when the weight files store `lm_head.weight` (as
//!   transformers 5 decides); the decoder output is scaled by `d_model^-0.5` before the
//!   head when `scale_decoder_outputs` says so, else when `tie_word_embeddings`
//!   (default true) does: v1.0 scales, v1.1 / Flan-T5 (`tie_word_embeddings: false`) don't.
//! * Relative position bias is computed by the first block of each stack and shared by
//!   all its blocks: bidirectional buckets in the encoder, causal in the decoder. Scores
//!   are not scaled by `d_kv^-0.5` (T5 folds that into the weights).
//! * Layer norm is RMS (no mean, no bias) with the variance accumulated in f32; softmax
//!   is taken in f32. All other arithmetic is in the weights' kind (f32 / bf16 / f16).
//! * Masks are `[B, T]` int64, 1 = real token; padding contributes nothing to real
//!   positions, to cross-attention or to the pooled mean.
//! * Dropout (`dropout_rate`) acts only when `train` is true, at the places HF puts it:
//!   stack input, attention probabilities, each sub-layer output, the feed-forward's
//!   inner activations and after the final layer norm.
//! * `answer_logits` runs one decoder step from `decoder_start_token_id` and multiplies
//!   by the gathered head rows of the answer ids only; the full vocabulary head is never
//!   formed there.
//! * LoRA adapters (`enable_lora`) sit on the targeted projections of every block: `q`,
//!   `k`, `v`, `o` of each attention (encoder self-attention, decoder self- and
//!   cross-attention) and `wi_0` / `wi_1` (`wi` ungated) / `wo` of each feed-forward, named
//!   under the adapter path like the projection they adapt, e.g.
//!   `<path>.encoder.block.0.layer.0.SelfAttention.q.lora_A`.
//!
//! Layout: `config` (`config.json` → [`T5Config`], the feed-forward [`Activation`]),
//! `attention` (relative position buckets, [`T5Attention`]), `layers` (layer norm,
//! feed-forward, attention sub-layers, blocks), `stack` (encoder / decoder [`T5Stack`]),
//! this module (the [`T5`] model: building, loading, encode / decode) and `backbone`
//! (its [`Backbone`](crate::backbone::Backbone) impl). Every public item is re-exported
//! here, so paths are `mosx_models::t5::…`.

mod attention;
mod backbone;
mod config;
mod layers;
mod stack;

pub use attention::{relative_position_bucket, T5Attention};
pub use config::{Activation, T5Config};
pub use layers::{T5Block, T5DenseFeedForward, T5LayerAttention, T5LayerFF, T5LayerNorm};
pub use stack::T5Stack;

use tch::nn::{self, Init};
use tch::{Device, Kind, Tensor};

use crate::backbone::Backbone;
use crate::checkpoint::{safetensors_has_tensor, Checkpoint, LoadWeights};
use crate::error::{CheckpointError, ModelError};

// ---------------------------------------------------------------------------------------
// Helpers shared by the submodules
// ---------------------------------------------------------------------------------------

fn weight(path: &nn::Path, name: &str, dims: &[i64]) -> Tensor {
    // Values come from the checkpoint; zeros only give the variable its shape.
    path.var(name, dims, Init::Const(0.0))
}

fn dropout(x: Tensor, p: f64, train: bool) -> Tensor {
    if train && p > 0.0 {
        x.dropout(p, true)
    } else {
        x
    }
}

// ---------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------

/// `T5ForConditionalGeneration`, scoring answers at the first decoder step.
pub struct T5 {
    cfg: T5Config,
    vs: nn::VarStore,
    shared: Tensor,
    encoder: T5Stack,
    decoder: T5Stack,
    lm_head: Option<Tensor>,
    lora_enabled: bool,
}

impl std::fmt::Debug for T5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("T5")
            .field("cfg", &self.cfg)
            .field("device", &self.vs.device())
            .field("kind", &self.shared.kind())
            .field("untied_head", &self.lm_head.is_some())
            .field("lora_enabled", &self.lora_enabled)
            .finish()
    }
}

impl T5 {
    /// Builds the variables (zero-filled, of `kind` on `device`) for `cfg`; the head is
    /// `lm_head.weight` when `untied_head`, else `shared.weight`. Weights must be loaded
    /// afterwards (see [`T5::load`]).
    pub fn new(
        cfg: T5Config,
        untied_head: bool,
        device: Device,
        kind: Kind,
    ) -> Result<T5, ModelError> {
        crate::numerics::check_float_kind("T5", kind)?;
        let ff = cfg
            .feed_forward()
            .map_err(|message| CheckpointError::ModelConfig {
                model: "T5".into(),
                field: "feed_forward_proj".into(),
                message,
            })?;
        let mut vs = nn::VarStore::new(device);
        vs.set_kind(kind);
        let root = vs.root();
        let shared = weight(
            &(&root / "shared"),
            "weight",
            &[cfg.vocab_size, cfg.d_model],
        );
        let encoder = T5Stack::new(&(&root / "encoder"), &cfg, ff, false);
        let decoder = T5Stack::new(&(&root / "decoder"), &cfg, ff, true);
        let lm_head = untied_head.then(|| {
            weight(
                &(&root / "lm_head"),
                "weight",
                &[cfg.vocab_size, cfg.d_model],
            )
        });
        Ok(T5 {
            cfg,
            vs,
            shared,
            encoder,
            decoder,
            lm_head,
            lora_enabled: false,
        })
    }

    /// Reads the config, decides tied vs untied head from the weight files and loads
    /// every weight by name.
    pub fn load(ck: &Checkpoint, device: Device, kind: Kind) -> Result<T5, ModelError> {
        let cfg = T5Config::from_json(&ck.config, &ck.config_path())?;
        let untied = safetensors_has_tensor(&ck.weight_files, "lm_head.weight")?;
        let mut model = T5::new(cfg, untied, device, kind)?;
        ck.load_weights(&mut model.vs)?;
        Ok(model)
    }

    pub fn config(&self) -> &T5Config {
        &self.cfg
    }

    /// Whether the head has its own `lm_head.weight`.
    pub fn has_untied_head(&self) -> bool {
        self.lm_head.is_some()
    }

    /// The `[vocab, d_model]` output projection (`lm_head.weight` or `shared.weight`).
    pub fn head_weight(&self) -> &Tensor {
        self.lm_head.as_ref().unwrap_or(&self.shared)
    }

    /// Encoder final hidden states `[B, T, d]` of `inputs_embeds` with `mask` `[B, T]`.
    pub fn encode(&self, embeds: &Tensor, mask: &Tensor, train: bool) -> Tensor {
        self.encoder.forward(embeds, Some(mask), None, train)
    }

    /// Decoder hidden states `[B, L, d]` for `decoder_ids` `[B, L]` (causal, no decoder
    /// padding mask), already scaled for the head when the config says so.
    pub fn decode(
        &self,
        decoder_ids: &Tensor,
        encoded: &Tensor,
        mask: &Tensor,
        train: bool,
    ) -> Tensor {
        let dec = self.embed(decoder_ids);
        let h = self
            .decoder
            .forward(&dec, None, Some((encoded, mask)), train);
        if self.cfg.scales_decoder_output() {
            h * (self.cfg.d_model as f64).powf(-0.5)
        } else {
            h
        }
    }

    /// Full-vocabulary logits `[B, L, vocab]` (HF's `T5ForConditionalGeneration.forward`
    /// with `inputs_embeds`); for checks and generation, not for answer scoring.
    pub fn full_logits(
        &self,
        embeds: &Tensor,
        mask: &Tensor,
        decoder_ids: &Tensor,
        train: bool,
    ) -> Tensor {
        let enc = self.encode(embeds, mask, train);
        self.decode(decoder_ids, &enc, mask, train)
            .linear::<Tensor>(self.head_weight(), None)
    }
}
