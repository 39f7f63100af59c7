//! Llama-family configuration: [`LlamaConfig`] mirrors `config.json` (serde) and
//! [`LlamaConfig::resolve`] turns it into the flags the decoder runs on ([`Flavour`]).
//!
//! Invariants (each mirrors transformers 5.24's config classes):
//! * `model_type` picks the [`Family`]; the family fixes what the file does not say:
//!   Qwen2 has biases on q/k/v (never on o), Qwen3 RMS-norms q and k per head and has
//!   `head_dim` 128 by default, Mistral never has biases, Llama and Qwen3 follow
//!   `attention_bias` (q, k, v and o) and Llama `mlp_bias`.
//! * `head_dim` defaults to `hidden_size / num_attention_heads` (Qwen3: 128),
//!   `num_key_value_heads` to `num_attention_heads`; `tie_word_embeddings` to false.
//! * Sliding windows: `layer_types` when given; else Mistral slides every layer when
//!   `sliding_window` is set, Qwen2/Qwen3 slide layers `i >= max_window_layers` only with
//!   `use_sliding_window`, Llama never.
//! * RoPE: `rope_parameters` (transformers 5), else `rope_scaling` with `rope_theta`
//!   (older files); types `default`, `linear` and `llama3` are run, others are an error.
//! * What the decoder cannot run (an activation other than SiLU, an odd `head_dim`, key/value
//!   heads not dividing the query heads, `partial_rotary_factor` < 1) is an error naming
//!   the field.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{CheckpointError, ModelError};

/// The model types this module runs.
pub const SUPPORTED: [&str; 4] = ["llama", "qwen2", "qwen3", "mistral"];

/// Which family a `model_type` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Llama,
    Qwen2,
    Qwen3,
    Mistral,
}

impl Family {
    /// The family of a `model_type`, `None` when this module does not run it.
    pub fn of(model_type: &str) -> Option<Family> {
        match model_type {
            "llama" => Some(Family::Llama),
            "qwen2" => Some(Family::Qwen2),
            "qwen3" => Some(Family::Qwen3),
            "mistral" => Some(Family::Mistral),
            _ => None,
        }
    }
}

/// RoPE settings as `config.json` writes them (`rope_parameters` or `rope_scaling`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct RopeFields {
    #[serde(default, alias = "type")]
    pub rope_type: Option<String>,
    #[serde(default)]
    pub rope_theta: Option<f64>,
    #[serde(default)]
    pub factor: Option<f64>,
    #[serde(default)]
    pub low_freq_factor: Option<f64>,
    #[serde(default)]
    pub high_freq_factor: Option<f64>,
    #[serde(default)]
    pub original_max_position_embeddings: Option<f64>,
    #[serde(default)]
    pub partial_rotary_factor: Option<f64>,
}

/// The fields of a Llama-family `config.json` the decoder reads (absent → `None`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LlamaConfig {
    /// As written (may be absent: the loader sets the factory's type, see
    /// `Checkpoint::model_type`).
    #[serde(default)]
    pub model_type: String,
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub intermediate_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    #[serde(default)]
    pub num_key_value_heads: Option<i64>,
    #[serde(default)]
    pub head_dim: Option<i64>,
    #[serde(default)]
    pub hidden_act: Option<String>,
    #[serde(default)]
    pub rms_norm_eps: Option<f64>,
    #[serde(default)]
    pub max_position_embeddings: Option<i64>,
    #[serde(default)]
    pub rope_theta: Option<f64>,
    #[serde(default)]
    pub rope_parameters: Option<RopeFields>,
    #[serde(default)]
    pub rope_scaling: Option<RopeFields>,
    #[serde(default)]
    pub partial_rotary_factor: Option<f64>,
    #[serde(default)]
    pub attention_bias: Option<bool>,
    #[serde(default)]
    pub mlp_bias: Option<bool>,
    #[serde(default)]
    pub tie_word_embeddings: Option<bool>,
    #[serde(default)]
    pub sliding_window: Option<i64>,
    #[serde(default)]
    pub use_sliding_window: Option<bool>,
    #[serde(default)]
    pub max_window_layers: Option<i64>,
    #[serde(default)]
    pub layer_types: Option<Vec<String>>,
    #[serde(default)]
    pub pad_token_id: Option<i64>,
    #[serde(default)]
    pub bos_token_id: Option<i64>,
}

/// The rotary embedding a flavour uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rope {
    /// `default` (factor 1) and `linear` (positions divided by `factor`).
    Linear { theta: f64, factor: f64 },
    /// Llama-3's frequency-dependent scaling (`rope_type: llama3`).
    Llama3 {
        theta: f64,
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: f64,
    },
}

/// What the decoder runs: sizes and the architecture flags resolved from the config.
#[derive(Debug, Clone, PartialEq)]
pub struct Flavour {
    pub family: Family,
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub intermediate_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    pub num_key_value_heads: i64,
    pub head_dim: i64,
    pub rms_norm_eps: f64,
    pub rope: Rope,
    /// Biases on q, k and v / on o / on the MLP projections.
    pub qkv_bias: bool,
    pub o_bias: bool,
    pub mlp_bias: bool,
    /// RMSNorm of q and k per head before RoPE (Qwen3).
    pub qk_norm: bool,
    pub tie_word_embeddings: bool,
    /// The window of each layer, `None` for full attention.
    pub layer_window: Vec<Option<i64>>,
    pub pad_token_id: Option<i64>,
}

fn config_err(path: &Path, field: &str, message: impl Into<String>) -> ModelError {
    CheckpointError::Config {
        path: path.to_path_buf(),
        field: field.into(),
        message: message.into(),
    }
    .into()
}

impl LlamaConfig {
    /// Parses `config.json`'s object.
    pub fn from_json(config: &Value, path: &Path) -> Result<LlamaConfig, ModelError> {
        LlamaConfig::deserialize(config).map_err(|e| config_err(path, "config", e.to_string()))
    }

    /// The flags the decoder runs on (see the module note); `path` names the file in errors.
    pub fn resolve(&self, path: &Path) -> Result<Flavour, ModelError> {
        let family = Family::of(&self.model_type).ok_or_else(|| {
            config_err(
                path,
                "model_type",
                format!(
                    "\"{}\" is not a Llama-family type (supported: {})",
                    self.model_type,
                    SUPPORTED.join(", ")
                ),
            )
        })?;
        let (nh, d) = (self.num_attention_heads, self.hidden_size);
        if nh <= 0 || d <= 0 || self.num_hidden_layers < 0 || self.intermediate_size <= 0 {
            return Err(config_err(path, "hidden_size", "sizes must be positive"));
        }
        let nkv = self.num_key_value_heads.unwrap_or(nh);
        if nkv <= 0 || nh % nkv != 0 {
            return Err(config_err(
                path,
                "num_key_value_heads",
                format!("{nkv} does not divide num_attention_heads {nh}"),
            ));
        }
        let default_hd = if family == Family::Qwen3 { 128 } else { d / nh };
        let head_dim = self.head_dim.unwrap_or(default_hd);
        if head_dim <= 0 || head_dim % 2 != 0 {
            return Err(config_err(
                path,
                "head_dim",
                format!("must be positive and even, found {head_dim}"),
            ));
        }
        match self.hidden_act.as_deref() {
            None | Some("silu") | Some("swish") => {}
            Some(other) => {
                return Err(config_err(
                    path,
                    "hidden_act",
                    format!("unsupported activation \"{other}\" (supported: silu)"),
                ))
            }
        }
        let bias = self.attention_bias.unwrap_or(false);
        let (qkv_bias, o_bias) = match family {
            Family::Qwen2 => (true, false),
            Family::Mistral => (false, false),
            Family::Llama | Family::Qwen3 => (bias, bias),
        };
        Ok(Flavour {
            family,
            vocab_size: self.vocab_size,
            hidden_size: d,
            intermediate_size: self.intermediate_size,
            num_hidden_layers: self.num_hidden_layers,
            num_attention_heads: nh,
            num_key_value_heads: nkv,
            head_dim,
            rms_norm_eps: self.rms_norm_eps.unwrap_or(1e-6),
            rope: self.rope(path)?,
            qkv_bias,
            o_bias,
            mlp_bias: family == Family::Llama && self.mlp_bias.unwrap_or(false),
            qk_norm: family == Family::Qwen3,
            tie_word_embeddings: self.tie_word_embeddings.unwrap_or(false),
            layer_window: self.layer_windows(family, path)?,
            pad_token_id: self.pad_token_id,
        })
    }

    /// The window of each layer (see the module note).
    fn layer_windows(&self, family: Family, path: &Path) -> Result<Vec<Option<i64>>, ModelError> {
        let n = self.num_hidden_layers;
        if let Some(w) = self.sliding_window {
            if w <= 0 {
                return Err(config_err(
                    path,
                    "sliding_window",
                    format!("must be positive, found {w}"),
                ));
            }
        }
        let use_window = match family {
            Family::Mistral => self.sliding_window,
            Family::Qwen2 | Family::Qwen3 if self.use_sliding_window.unwrap_or(false) => {
                self.sliding_window
            }
            _ => None,
        };
        if let Some(types) = &self.layer_types {
            if types.len() as i64 != n {
                return Err(config_err(
                    path,
                    "layer_types",
                    format!("{} entries for {n} layers", types.len()),
                ));
            }
            return types
                .iter()
                .enumerate()
                .map(|(i, t)| match t.as_str() {
                    "full_attention" => Ok(None),
                    "sliding_attention" => Ok(use_window),
                    other => Err(config_err(
                        path,
                        &format!("layer_types[{i}]"),
                        format!("unknown layer type \"{other}\""),
                    )),
                })
                .collect();
        }
        let from = match family {
            Family::Qwen2 | Family::Qwen3 => self.max_window_layers.unwrap_or(28),
            _ => 0,
        };
        Ok((0..n)
            .map(|i| if i >= from { use_window } else { None })
            .collect())
    }

    /// The RoPE: `rope_parameters`, else `rope_scaling` with `rope_theta`.
    fn rope(&self, path: &Path) -> Result<Rope, ModelError> {
        let (fields, field) = match (&self.rope_parameters, &self.rope_scaling) {
            (Some(p), _) => (p.clone(), "rope_parameters"),
            (None, Some(s)) => (s.clone(), "rope_scaling"),
            (None, None) => (RopeFields::default(), "rope_theta"),
        };
        let theta = fields.rope_theta.or(self.rope_theta).unwrap_or(10_000.0);
        let partial = fields
            .partial_rotary_factor
            .or(self.partial_rotary_factor)
            .unwrap_or(1.0);
        if partial != 1.0 {
            return Err(config_err(
                path,
                "partial_rotary_factor",
                format!("only 1.0 is supported, found {partial}"),
            ));
        }
        let need = |v: Option<f64>, name: &str| {
            v.ok_or_else(|| config_err(path, &format!("{field}.{name}"), "required by llama3"))
        };
        match fields.rope_type.as_deref().unwrap_or("default") {
            "default" => Ok(Rope::Linear { theta, factor: 1.0 }),
            "linear" => Ok(Rope::Linear {
                theta,
                factor: need(fields.factor, "factor")?,
            }),
            "llama3" => Ok(Rope::Llama3 {
                theta,
                factor: need(fields.factor, "factor")?,
                low_freq_factor: need(fields.low_freq_factor, "low_freq_factor")?,
                high_freq_factor: need(fields.high_freq_factor, "high_freq_factor")?,
                original_max_position_embeddings: match fields.original_max_position_embeddings {
                    Some(v) => v,
                    None => need(
                        self.max_position_embeddings.map(|m| m as f64),
                        "original_max_position_embeddings",
                    )?,
                },
            }),
            other => Err(config_err(
                path,
                &format!("{field}.rope_type"),
                format!("unsupported rope_type \"{other}\" (supported: default, linear, llama3)"),
            )),
        }
    }
}
