//! T5 configuration: the fields of `config.json` ([`T5Config`], HF defaults when absent)
//! and the feed-forward [`Activation`].
//!
//! Invariants:
//! * [`T5Config::from_json`] rejects what the model cannot run (a non-T5 `model_type`,
//!   `dropout_rate` outside `[0, 1)`, a negative epsilon, fewer than 4 buckets, a
//!   `decoder_start_token_id` outside the vocabulary, an unknown `feed_forward_proj`),
//!   naming the file and the field; every config it returns builds a model.
//! * `gated-gelu` means the tanh approximation (`gelu_new`), as in HF.

use std::path::Path;

use serde_json::Value;
use tch::Tensor;

use crate::config_fields::ConfigFields;
use crate::error::{CheckpointError, ModelError};

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

    pub(super) fn apply(self, x: &Tensor) -> Tensor {
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
