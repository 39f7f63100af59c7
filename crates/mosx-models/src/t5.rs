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
//! * LoRA adapters (`enable_lora`) sit on every attention `q` and `v` (encoder
//!   self-attention, decoder self- and cross-attention), named under the adapter path
//!   like the projection they adapt, e.g. `<path>.encoder.block.0.layer.0.SelfAttention.q.lora_A`.

use std::path::Path;

use serde_json::Value;
use tch::nn::{self, Init};
use tch::{Device, Kind, Tensor};

use crate::backbone::{AnswerState, Architecture, Backbone, LoraConfig};
use crate::checkpoint::{safetensors_has_tensor, Checkpoint, LoadWeights};
use crate::config_fields::ConfigFields;
use crate::error::{CheckpointError, ModelError};
use crate::lora::Lora;
use crate::numerics::{masked_mean, min_value};

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

/// Activation of the feed-forward block, from `feed_forward_proj`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `relu`.
    Relu,
    /// `gelu`: exact (erf) GELU.
    Gelu,
    /// `gelu_new` / `gelu_pytorch_tanh`: tanh approximation (what `gated-gelu` means).
    GeluTanh,
    /// `silu` / `swish`.
    Silu,
}

impl Activation {
    fn from_hf(name: &str) -> Option<Activation> {
        match name {
            "relu" => Some(Activation::Relu),
            "gelu" => Some(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" => Some(Activation::GeluTanh),
            "silu" | "swish" => Some(Activation::Silu),
            _ => None,
        }
    }

    fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Activation::Relu => x.relu(),
            Activation::Gelu => x.gelu("none"),
            Activation::GeluTanh => x.gelu("tanh"),
            Activation::Silu => x.silu(),
        }
    }
}

/// The fields of a T5 `config.json` this implementation reads (HF defaults when absent).
#[derive(Debug, Clone, PartialEq)]
pub struct T5Config {
    pub vocab_size: i64,
    pub d_model: i64,
    pub d_kv: i64,
    pub d_ff: i64,
    pub num_layers: i64,
    /// Defaults to `num_layers`.
    pub num_decoder_layers: i64,
    pub num_heads: i64,
    pub relative_attention_num_buckets: i64,
    pub relative_attention_max_distance: i64,
    pub dropout_rate: f64,
    pub layer_norm_epsilon: f64,
    /// `"relu"`, `"gated-gelu"`, `"gated-silu"`, …
    pub feed_forward_proj: String,
    /// As written in `config.json` (default true).
    pub tie_word_embeddings: bool,
    /// transformers ≥ 5 writes this explicitly; when absent it follows `tie_word_embeddings`.
    pub scale_decoder_outputs: Option<bool>,
    pub pad_token_id: i64,
    pub eos_token_id: Vec<i64>,
    /// Defaults to `pad_token_id` (0 for every T5 checkpoint).
    pub decoder_start_token_id: i64,
}

impl Default for T5Config {
    /// `T5Config()` of transformers (t5-small's shape).
    fn default() -> T5Config {
        T5Config {
            vocab_size: 32128,
            d_model: 512,
            d_kv: 64,
            d_ff: 2048,
            num_layers: 6,
            num_decoder_layers: 6,
            num_heads: 8,
            relative_attention_num_buckets: 32,
            relative_attention_max_distance: 128,
            dropout_rate: 0.1,
            layer_norm_epsilon: 1e-6,
            feed_forward_proj: "relu".into(),
            tie_word_embeddings: true,
            scale_decoder_outputs: None,
            pad_token_id: 0,
            eos_token_id: vec![1],
            decoder_start_token_id: 0,
        }
    }
}

impl T5Config {
    /// Parses a `config.json` object; `path` names the file in errors.
    pub fn from_json(config: &Value, path: &Path) -> Result<T5Config, ModelError> {
        if !config.is_object() {
            return Err(CheckpointError::File {
                path: path.to_path_buf(),
                message: "expected a JSON object".into(),
            }
            .into());
        }
        let f = ConfigFields {
            v: config,
            path,
            prefix: "",
        };
        let d = T5Config::default();
        if let Some(mt) = f.present("model_type") {
            match mt.as_str() {
                Some("t5") | Some("mt5") => {}
                _ => {
                    return Err(f.err(
                        "model_type",
                        format!("expected \"t5\" or \"mt5\", found {mt}"),
                    ))
                }
            }
        }
        let num_layers = f.positive("num_layers", d.num_layers)?;
        let pad_token_id = f.int("pad_token_id", d.pad_token_id)?;
        let cfg = T5Config {
            vocab_size: f.positive("vocab_size", d.vocab_size)?,
            d_model: f.positive("d_model", d.d_model)?,
            d_kv: f.positive("d_kv", d.d_kv)?,
            d_ff: f.positive("d_ff", d.d_ff)?,
            num_layers,
            num_decoder_layers: f.positive("num_decoder_layers", num_layers)?,
            num_heads: f.positive("num_heads", d.num_heads)?,
            relative_attention_num_buckets: f.positive(
                "relative_attention_num_buckets",
                d.relative_attention_num_buckets,
            )?,
            relative_attention_max_distance: f.positive(
                "relative_attention_max_distance",
                d.relative_attention_max_distance,
            )?,
            dropout_rate: f.float("dropout_rate", d.dropout_rate)?,
            layer_norm_epsilon: f.float("layer_norm_epsilon", d.layer_norm_epsilon)?,
            feed_forward_proj: f.string("feed_forward_proj", &d.feed_forward_proj)?,
            tie_word_embeddings: f.opt_bool("tie_word_embeddings")?.unwrap_or(true),
            scale_decoder_outputs: f.opt_bool("scale_decoder_outputs")?,
            pad_token_id,
            eos_token_id: f.int_or_list("eos_token_id", &d.eos_token_id)?,
            decoder_start_token_id: f.int("decoder_start_token_id", pad_token_id)?,
        };
        if !(0.0..1.0).contains(&cfg.dropout_rate) {
            return Err(f.err(
                "dropout_rate",
                format!("must be in [0, 1), found {}", cfg.dropout_rate),
            ));
        }
        if !(cfg.layer_norm_epsilon >= 0.0) {
            return Err(f.err(
                "layer_norm_epsilon",
                format!("must be non-negative, found {}", cfg.layer_norm_epsilon),
            ));
        }
        if cfg.relative_attention_num_buckets < 4 {
            return Err(f.err("relative_attention_num_buckets", "must be at least 4"));
        }
        if !(0..cfg.vocab_size).contains(&cfg.decoder_start_token_id) {
            return Err(f.err(
                "decoder_start_token_id",
                format!(
                    "{} is outside the vocabulary (size {})",
                    cfg.decoder_start_token_id, cfg.vocab_size
                ),
            ));
        }
        cfg.feed_forward()
            .map_err(|m| f.err("feed_forward_proj", m))?;
        Ok(cfg)
    }

    /// `(activation, gated)` from `feed_forward_proj`, with HF's rule that `gated-gelu`
    /// means the tanh approximation (`gelu_new`).
    pub fn feed_forward(&self) -> Result<(Activation, bool), String> {
        let parts: Vec<&str> = self.feed_forward_proj.split('-').collect();
        let (gated, act) = match parts.as_slice() {
            [act] => (false, *act),
            ["gated", act] => (true, *act),
            _ => {
                return Err(format!(
                    "\"{}\" is not of the form \"ACT\" or \"gated-ACT\"",
                    self.feed_forward_proj
                ))
            }
        };
        let act = if self.feed_forward_proj == "gated-gelu" {
            "gelu_new"
        } else {
            act
        };
        let act = Activation::from_hf(act).ok_or_else(|| {
            format!("unsupported activation \"{act}\" (relu, gelu, gelu_new, silu)")
        })?;
        Ok((act, gated))
    }

    /// Whether the decoder output is multiplied by `d_model^-0.5` before the head.
    pub fn scales_decoder_output(&self) -> bool {
        self.scale_decoder_outputs
            .unwrap_or(self.tie_word_embeddings)
    }

    /// `num_heads * d_kv`, the width of q/k/v.
    pub fn inner_dim(&self) -> i64 {
        self.num_heads * self.d_kv
    }
}

// ---------------------------------------------------------------------------------------
// Modules
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

/// RMS layer norm without mean subtraction or bias.
#[derive(Debug)]
pub struct T5LayerNorm {
    weight: Tensor,
    eps: f64,
}

impl T5LayerNorm {
    pub fn new(path: &nn::Path, cfg: &T5Config) -> T5LayerNorm {
        T5LayerNorm {
            weight: weight(path, "weight", &[cfg.d_model]),
            eps: cfg.layer_norm_epsilon,
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let x32 = x.to_kind(Kind::Float);
        let variance = x32.square().mean_dim(-1, true, Kind::Float);
        let normed = x32 * (variance + self.eps).rsqrt();
        normed.to_kind(self.weight.kind()) * &self.weight
    }
}

/// Bucket of each relative position `memory - query` (HF `_relative_position_bucket`).
pub fn relative_position_bucket(
    relative_position: &Tensor,
    bidirectional: bool,
    num_buckets: i64,
    max_distance: i64,
) -> Tensor {
    let (offset, distance, num_buckets) = if bidirectional {
        let half = num_buckets / 2;
        (
            relative_position.gt(0).to_kind(Kind::Int64) * half,
            relative_position.abs(),
            half,
        )
    } else {
        (
            relative_position.zeros_like(),
            -relative_position.clamp_max(0),
            num_buckets,
        )
    };
    let max_exact = num_buckets / 2;
    let is_small = distance.lt(max_exact);
    // Clamping below keeps log() finite; the small branch is chosen there anyway.
    let large = (distance.clamp_min(max_exact).to_kind(Kind::Float) / max_exact as f64).log()
        / (max_distance as f64 / max_exact as f64).ln()
        * (num_buckets - max_exact) as f64;
    let large = (large.to_kind(Kind::Int64) + max_exact).clamp_max(num_buckets - 1);
    offset + distance.where_self(&is_small, &large)
}

/// Multi-head attention with optional relative position bias and LoRA on q and v.
#[derive(Debug)]
pub struct T5Attention {
    q: Tensor,
    k: Tensor,
    v: Tensor,
    o: Tensor,
    relative_attention_bias: Option<Tensor>,
    q_lora: Option<Lora>,
    v_lora: Option<Lora>,
    n_heads: i64,
    d_kv: i64,
    d_model: i64,
    num_buckets: i64,
    max_distance: i64,
    bidirectional: bool,
    dropout: f64,
}

impl T5Attention {
    /// `path` is e.g. `encoder.block.0.layer.0.SelfAttention`.
    pub fn new(
        path: &nn::Path,
        cfg: &T5Config,
        has_relative_bias: bool,
        bidirectional: bool,
    ) -> T5Attention {
        let (d, inner) = (cfg.d_model, cfg.inner_dim());
        T5Attention {
            q: weight(&(path / "q"), "weight", &[inner, d]),
            k: weight(&(path / "k"), "weight", &[inner, d]),
            v: weight(&(path / "v"), "weight", &[inner, d]),
            o: weight(&(path / "o"), "weight", &[d, inner]),
            relative_attention_bias: has_relative_bias.then(|| {
                weight(
                    &(path / "relative_attention_bias"),
                    "weight",
                    &[cfg.relative_attention_num_buckets, cfg.num_heads],
                )
            }),
            q_lora: None,
            v_lora: None,
            n_heads: cfg.num_heads,
            d_kv: cfg.d_kv,
            d_model: cfg.d_model,
            num_buckets: cfg.relative_attention_num_buckets,
            max_distance: cfg.relative_attention_max_distance,
            bidirectional,
            dropout: cfg.dropout_rate,
        }
    }

    /// Adds adapters on q and v under `path` (`<path>.q.lora_A`, …).
    pub fn enable_lora(&mut self, path: &nn::Path, cfg: LoraConfig) {
        let inner = self.n_heads * self.d_kv;
        self.q_lora = Some(Lora::new(&(path / "q"), self.d_model, inner, cfg));
        self.v_lora = Some(Lora::new(&(path / "v"), self.d_model, inner, cfg));
    }

    /// Relative position bias `[1, H, q_len, k_len]`, or `None` for a layer without one.
    pub fn compute_bias(&self, q_len: i64, k_len: i64) -> Option<Tensor> {
        let table = self.relative_attention_bias.as_ref()?;
        let device = table.device();
        let context = Tensor::arange(q_len, (Kind::Int64, device)).unsqueeze(1);
        let memory = Tensor::arange(k_len, (Kind::Int64, device)).unsqueeze(0);
        let buckets = relative_position_bucket(
            &(memory - context),
            self.bidirectional,
            self.num_buckets,
            self.max_distance,
        );
        let values = Tensor::embedding(table, &buckets, -1, false, false); // [q, k, H]
        Some(values.permute([2, 0, 1]).unsqueeze(0))
    }

    fn heads(&self, x: &Tensor) -> Tensor {
        let (b, t) = (x.size()[0], x.size()[1]);
        x.view([b, t, self.n_heads, self.d_kv]).transpose(1, 2)
    }

    /// `x` `[B, Tq, d]`; `kv` `[B, Tk, d]` for cross-attention (else `x`); `bias` is
    /// the additive position bias plus mask, broadcastable to `[B, H, Tq, Tk]`.
    pub fn forward(
        &self,
        x: &Tensor,
        kv: Option<&Tensor>,
        bias: Option<&Tensor>,
        train: bool,
    ) -> Tensor {
        let kv = kv.unwrap_or(x);
        let mut q = x.linear::<Tensor>(&self.q, None);
        if let Some(l) = &self.q_lora {
            q = l.apply(x, q, train);
        }
        let k = kv.linear::<Tensor>(&self.k, None);
        let mut v = kv.linear::<Tensor>(&self.v, None);
        if let Some(l) = &self.v_lora {
            v = l.apply(kv, v, train);
        }
        let (q, k, v) = (self.heads(&q), self.heads(&k), self.heads(&v));
        let mut scores = q.matmul(&k.transpose(2, 3));
        if let Some(bias) = bias {
            scores = scores + bias;
        }
        let probs = scores.softmax(-1, Kind::Float).to_kind(v.kind());
        let probs = dropout(probs, self.dropout, train);
        let out = probs.matmul(&v).transpose(1, 2).contiguous();
        let (b, t) = (out.size()[0], out.size()[1]);
        out.view([b, t, self.n_heads * self.d_kv])
            .linear::<Tensor>(&self.o, None)
    }
}

/// `wo(drop(act(wi x)))` or, gated, `wo(drop(act(wi_0 x) * wi_1 x))`.
#[derive(Debug)]
pub enum T5DenseFeedForward {
    ActDense {
        wi: Tensor,
        wo: Tensor,
    },
    GatedActDense {
        wi_0: Tensor,
        wi_1: Tensor,
        wo: Tensor,
    },
}

/// Pre-norm feed-forward sub-layer (`layer.{1|2}`).
#[derive(Debug)]
pub struct T5LayerFF {
    dense: T5DenseFeedForward,
    act: Activation,
    layer_norm: T5LayerNorm,
    dropout: f64,
}

impl T5LayerFF {
    pub fn new(path: &nn::Path, cfg: &T5Config, act: Activation, gated: bool) -> T5LayerFF {
        let p = path / "DenseReluDense";
        let (d, ff) = (cfg.d_model, cfg.d_ff);
        let dense = if gated {
            T5DenseFeedForward::GatedActDense {
                wi_0: weight(&(&p / "wi_0"), "weight", &[ff, d]),
                wi_1: weight(&(&p / "wi_1"), "weight", &[ff, d]),
                wo: weight(&(&p / "wo"), "weight", &[d, ff]),
            }
        } else {
            T5DenseFeedForward::ActDense {
                wi: weight(&(&p / "wi"), "weight", &[ff, d]),
                wo: weight(&(&p / "wo"), "weight", &[d, ff]),
            }
        };
        T5LayerFF {
            dense,
            act,
            layer_norm: T5LayerNorm::new(&(path / "layer_norm"), cfg),
            dropout: cfg.dropout_rate,
        }
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.layer_norm.forward(x);
        let h = match &self.dense {
            T5DenseFeedForward::ActDense { wi, wo } => {
                let a = self.act.apply(&h.linear::<Tensor>(wi, None));
                dropout(a, self.dropout, train).linear::<Tensor>(wo, None)
            }
            T5DenseFeedForward::GatedActDense { wi_0, wi_1, wo } => {
                let g = self.act.apply(&h.linear::<Tensor>(wi_0, None))
                    * h.linear::<Tensor>(wi_1, None);
                dropout(g, self.dropout, train).linear::<Tensor>(wo, None)
            }
        };
        x + dropout(h, self.dropout, train)
    }
}

/// An attention sub-layer with its pre-norm (`SelfAttention` or `EncDecAttention`).
#[derive(Debug)]
pub struct T5LayerAttention {
    attention: T5Attention,
    layer_norm: T5LayerNorm,
    dropout: f64,
}

impl T5LayerAttention {
    fn new(
        path: &nn::Path,
        name: &str,
        cfg: &T5Config,
        has_bias: bool,
        bidirectional: bool,
    ) -> T5LayerAttention {
        T5LayerAttention {
            attention: T5Attention::new(&(path / name), cfg, has_bias, bidirectional),
            layer_norm: T5LayerNorm::new(&(path / "layer_norm"), cfg),
            dropout: cfg.dropout_rate,
        }
    }

    fn forward(
        &self,
        x: &Tensor,
        kv: Option<&Tensor>,
        bias: Option<&Tensor>,
        train: bool,
    ) -> Tensor {
        let h = self.layer_norm.forward(x);
        let h = self.attention.forward(&h, kv, bias, train);
        x + dropout(h, self.dropout, train)
    }
}

/// One block: self-attention, cross-attention (decoder only), feed-forward.
#[derive(Debug)]
pub struct T5Block {
    self_attention: T5LayerAttention,
    cross_attention: Option<T5LayerAttention>,
    ff: T5LayerFF,
}

impl T5Block {
    pub fn new(
        path: &nn::Path,
        cfg: &T5Config,
        ff: (Activation, bool),
        first: bool,
        decoder: bool,
    ) -> T5Block {
        let (act, gated) = ff;
        let layer = path / "layer";
        let self_attention =
            T5LayerAttention::new(&(&layer / 0), "SelfAttention", cfg, first, !decoder);
        let cross_attention = decoder
            .then(|| T5LayerAttention::new(&(&layer / 1), "EncDecAttention", cfg, false, true));
        let ff = T5LayerFF::new(&(&layer / if decoder { 2 } else { 1 }), cfg, act, gated);
        T5Block {
            self_attention,
            cross_attention,
            ff,
        }
    }

    pub fn forward(
        &self,
        x: &Tensor,
        self_bias: &Tensor,
        encoder: Option<(&Tensor, &Tensor)>,
        train: bool,
    ) -> Tensor {
        let mut h = self.self_attention.forward(x, None, Some(self_bias), train);
        if let (Some(cross), Some((enc, enc_bias))) = (&self.cross_attention, encoder) {
            h = cross.forward(&h, Some(enc), Some(enc_bias), train);
        }
        self.ff.forward(&h, train)
    }
}

/// The encoder or the decoder stack.
#[derive(Debug)]
pub struct T5Stack {
    blocks: Vec<T5Block>,
    final_layer_norm: T5LayerNorm,
    decoder: bool,
    dropout: f64,
}

impl T5Stack {
    /// `path` is `encoder` or `decoder`.
    pub fn new(path: &nn::Path, cfg: &T5Config, ff: (Activation, bool), decoder: bool) -> T5Stack {
        let n = if decoder {
            cfg.num_decoder_layers
        } else {
            cfg.num_layers
        };
        let block = path / "block";
        let blocks = (0..n)
            .map(|i| T5Block::new(&(&block / i), cfg, ff, i == 0, decoder))
            .collect();
        T5Stack {
            blocks,
            final_layer_norm: T5LayerNorm::new(&(path / "final_layer_norm"), cfg),
            decoder,
            dropout: cfg.dropout_rate,
        }
    }

    /// Final hidden states `[B, T, d]` of `embeds` `[B, T, d]`. `mask` `[B, T]` (1 = real)
    /// applies to keys; the decoder is causal on top. `encoder` is the encoder's output
    /// and its mask, for the decoder's cross-attention.
    pub fn forward(
        &self,
        embeds: &Tensor,
        mask: Option<&Tensor>,
        encoder: Option<(&Tensor, &Tensor)>,
        train: bool,
    ) -> Tensor {
        let kind = embeds.kind();
        let device = embeds.device();
        let t = embeds.size()[1];
        let mut bias = match self
            .blocks
            .first()
            .and_then(|b| b.self_attention.attention.compute_bias(t, t))
        {
            Some(b) => b.to_kind(kind),
            None => Tensor::zeros([1, 1, t, t], (kind, device)),
        };
        if self.decoder {
            let future = Tensor::ones([t, t], (kind, device)).triu(1);
            bias = bias + (future * min_value(kind)).view([1, 1, t, t]);
        }
        if let Some(mask) = mask {
            bias = bias + key_mask_bias(mask, kind);
        }
        let enc = encoder.map(|(h, m)| (h, key_mask_bias(m, kind)));
        let mut h = dropout(embeds.shallow_clone(), self.dropout, train);
        for block in &self.blocks {
            h = block.forward(&h, &bias, enc.as_ref().map(|(e, b)| (*e, b)), train);
        }
        dropout(self.final_layer_norm.forward(&h), self.dropout, train)
    }

    fn attentions_mut(&mut self) -> Vec<(String, &mut T5Attention)> {
        let mut out = Vec::new();
        for (i, block) in self.blocks.iter_mut().enumerate() {
            out.push((
                format!("{i}.layer.0.SelfAttention"),
                &mut block.self_attention.attention,
            ));
            if let Some(cross) = block.cross_attention.as_mut() {
                out.push((format!("{i}.layer.1.EncDecAttention"), &mut cross.attention));
            }
        }
        out
    }
}

/// `[B, T]` 0/1 mask → additive `[B, 1, 1, T]` bias (0 for real keys, kind min for padding).
fn key_mask_bias(mask: &Tensor, kind: Kind) -> Tensor {
    let size = mask.size();
    mask.eq(0).to_kind(kind).view([size[0], 1, 1, size[1]]) * min_value(kind)
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

fn check_kind(kind: Kind) -> Result<(), ModelError> {
    match kind {
        Kind::Float | Kind::BFloat16 | Kind::Half | Kind::Double => Ok(()),
        other => Err(CheckpointError::Other(format!(
            "T5 weights must be a floating kind, not {other:?}"
        ))
        .into()),
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
        check_kind(kind)?;
        let ff = cfg.feed_forward().map_err(|m| {
            CheckpointError::Other(format!("T5 config field `feed_forward_proj`: {m}"))
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
                self.head_weight().index_select(0, &ids) // [A, d]
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
            return Err(CheckpointError::Other(
                "LoRA adapters are already enabled on this T5".into(),
            )
            .into());
        }
        if cfg.rank < 1 || !cfg.alpha.is_finite() || !(0.0..1.0).contains(&cfg.dropout) {
            return Err(CheckpointError::Other(format!(
                "invalid LoRA settings: rank {} (must be ≥ 1), alpha {} (finite), dropout {} (in [0, 1))",
                cfg.rank, cfg.alpha, cfg.dropout
            ))
            .into());
        }
        for (stack_name, stack) in [
            ("encoder", &mut self.encoder),
            ("decoder", &mut self.decoder),
        ] {
            for (suffix, attention) in stack.attentions_mut() {
                let p = suffix
                    .split('.')
                    .fold(path / stack_name / "block", |p, part| p / part);
                attention.enable_lora(&p, cfg);
            }
        }
        self.lora_enabled = true;
        Ok(())
    }
}
