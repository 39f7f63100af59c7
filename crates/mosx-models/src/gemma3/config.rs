//! Gemma-3 configuration: the fields of `config.json` the decoder uses
//! ([`Gemma3TextConfig`]), its MLP [`Activation`] and the [`Rope`] of each layer type.
//!
//! Invariants:
//! * A `gemma3` (multimodal) config is read from its `text_config`; absent fields take
//!   transformers' `Gemma3TextConfig` defaults, and `tie_word_embeddings` falls back to
//!   the top level, where transformers writes it for `gemma3`.
//! * Per-layer sliding comes from `layer_types` (one entry per layer), else from
//!   `sliding_window_pattern` (every `pattern`-th layer is full attention).
//! * RoPE is read from `rope_parameters` (per layer type, or one dict for all), else the
//!   legacy keys; only the `default` and `linear` rope types are accepted.
//! * What the model cannot run (bidirectional attention, attention biases, an odd
//!   `head_dim`, key/value heads not dividing the query heads) is an error naming the field.

use serde_json::Value;

use crate::config_fields::ConfigFields;
use crate::error::{CheckpointError, ModelError};

/// Activation of the gated MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `gelu_pytorch_tanh` (the tanh approximation).
    GeluTanh,
    /// `gelu` (exact erf form).
    Gelu,
}

/// RoPE of one layer type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rope {
    pub theta: f64,
    /// Linear position scaling factor (`rope_type: linear`), 1 for `default`.
    pub linear_factor: f64,
}

/// The fields of `config.json` the decoder uses (transformers' `Gemma3TextConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct Gemma3TextConfig {
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub intermediate_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    pub num_key_value_heads: i64,
    pub head_dim: i64,
    pub rms_norm_eps: f64,
    /// Global (full-attention) RoPE.
    pub rope_global: Rope,
    /// Local (sliding-window) RoPE.
    pub rope_local: Rope,
    pub sliding_window: i64,
    /// `true` for a sliding-window layer, per layer.
    pub layer_sliding: Vec<bool>,
    pub query_pre_attn_scalar: f64,
    pub hidden_activation: Activation,
    pub max_position_embeddings: i64,
    pub final_logit_softcapping: Option<f64>,
    pub attn_logit_softcapping: Option<f64>,
    pub tie_word_embeddings: bool,
    pub pad_token_id: Option<i64>,
    pub bos_token_id: Option<i64>,
    pub eos_token_id: Vec<i64>,
}

impl Gemma3TextConfig {
    /// Reads a `gemma3_text` config object, or the `text_config` of a `gemma3` one. Absent
    /// fields take transformers' `Gemma3TextConfig` defaults, as transformers would.
    pub fn from_json(
        config: &Value,
        path: &std::path::Path,
    ) -> Result<Gemma3TextConfig, ModelError> {
        let (v, prefix) = text_config(config, path)?;
        let r = ConfigFields { v, path, prefix };
        let sizes = read_sizes(&r)?;
        let hidden_activation = read_activation(&r)?;
        reject_unsupported(&r)?;
        let layer_sliding = read_layer_sliding(&r, sizes.num_hidden_layers)?;
        let rope_global = read_rope(&r, "full_attention", "rope_theta", 1_000_000.0, true)?;
        let rope_local = read_rope(
            &r,
            "sliding_attention",
            "rope_local_base_freq",
            10_000.0,
            false,
        )?;
        let eos_token_id = read_eos(&r)?;
        let sliding_window = read_sliding_window(&r)?;
        let tie = read_tie(&r, config)?;
        Ok(Gemma3TextConfig {
            vocab_size: r.int("vocab_size", 262_208)?,
            hidden_size: sizes.hidden_size,
            intermediate_size: r.int("intermediate_size", 9216)?,
            num_hidden_layers: sizes.num_hidden_layers,
            num_attention_heads: sizes.num_attention_heads,
            num_key_value_heads: sizes.num_key_value_heads,
            head_dim: sizes.head_dim,
            rms_norm_eps: r.float("rms_norm_eps", 1e-6)?,
            rope_global,
            rope_local,
            sliding_window,
            layer_sliding,
            query_pre_attn_scalar: r.float("query_pre_attn_scalar", 256.0)?,
            hidden_activation,
            max_position_embeddings: r.int("max_position_embeddings", 131_072)?,
            final_logit_softcapping: r.opt_float("final_logit_softcapping")?,
            attn_logit_softcapping: r.opt_float("attn_logit_softcapping")?,
            tie_word_embeddings: tie,
            pad_token_id: r.opt_int("pad_token_id", Some(0))?,
            bos_token_id: r.opt_int("bos_token_id", Some(2))?,
            eos_token_id,
        })
    }
}

/// The object holding the text model's fields and the prefix naming them in errors: the
/// `text_config` of a `gemma3` config, else the config itself.
fn text_config<'a>(
    config: &'a Value,
    path: &std::path::Path,
) -> Result<(&'a Value, &'static str), ModelError> {
    match config.get("model_type").and_then(Value::as_str) {
        Some("gemma3") => match config.get("text_config") {
            Some(tc) if tc.is_object() => Ok((tc, "text_config.")),
            _ => Err(CheckpointError::Config {
                path: path.to_path_buf(),
                field: "text_config".into(),
                message: "a gemma3 config needs a text_config object".into(),
            }
            .into()),
        },
        _ => Ok((config, "")),
    }
}

/// The decoder's sizes.
struct Sizes {
    hidden_size: i64,
    num_attention_heads: i64,
    num_key_value_heads: i64,
    num_hidden_layers: i64,
    head_dim: i64,
}

/// The sizes, checked: positive, the key/value heads dividing the query heads, an even
/// `head_dim`.
fn read_sizes(r: &ConfigFields) -> Result<Sizes, ModelError> {
    let hidden_size = r.int("hidden_size", 2304)?;
    let num_attention_heads = r.int("num_attention_heads", 8)?;
    let num_key_value_heads = r.int("num_key_value_heads", 4)?;
    let num_hidden_layers = r.int("num_hidden_layers", 26)?;
    if hidden_size <= 0
        || num_attention_heads <= 0
        || num_key_value_heads <= 0
        || num_hidden_layers < 0
    {
        return Err(r.err("hidden_size", "sizes must be positive"));
    }
    if num_attention_heads % num_key_value_heads != 0 {
        return Err(r.err(
            "num_key_value_heads",
            format!(
                "{num_key_value_heads} does not divide num_attention_heads {num_attention_heads}"
            ),
        ));
    }
    let head_dim = r.int("head_dim", 256)?;
    if head_dim <= 0 || head_dim % 2 != 0 {
        return Err(r.err(
            "head_dim",
            format!("must be positive and even, found {head_dim}"),
        ));
    }
    Ok(Sizes {
        hidden_size,
        num_attention_heads,
        num_key_value_heads,
        num_hidden_layers,
        head_dim,
    })
}

/// `hidden_activation` (else the older `hidden_act`), `gelu_pytorch_tanh` when absent.
fn read_activation(r: &ConfigFields) -> Result<Activation, ModelError> {
    match r
        .present("hidden_activation")
        .or_else(|| r.present("hidden_act"))
    {
        None => Ok(Activation::GeluTanh),
        Some(Value::String(s)) if s == "gelu_pytorch_tanh" || s == "gelu_new" => {
            Ok(Activation::GeluTanh)
        }
        Some(Value::String(s)) if s == "gelu" => Ok(Activation::Gelu),
        Some(other) => Err(r.err(
            "hidden_activation",
            format!("unsupported activation {other}"),
        )),
    }
}

/// Fails on what the decoder cannot run: bidirectional attention, attention biases.
fn reject_unsupported(r: &ConfigFields) -> Result<(), ModelError> {
    if r.boolean("use_bidirectional_attention", false)? {
        return Err(r.err(
            "use_bidirectional_attention",
            "bidirectional attention is not supported",
        ));
    }
    if r.boolean("attention_bias", false)? {
        return Err(r.err(
            "attention_bias",
            "attention biases are not supported (Gemma-3 has none)",
        ));
    }
    Ok(())
}

/// Per layer, whether it is a sliding-window one: from `layer_types`, else from
/// `sliding_window_pattern`.
fn read_layer_sliding(r: &ConfigFields, num_hidden_layers: i64) -> Result<Vec<bool>, ModelError> {
    match r.present("layer_types") {
        Some(Value::Array(a)) => layer_types(r, a, num_hidden_layers),
        Some(other) => Err(r.err("layer_types", format!("expected a list, found {other}"))),
        None => {
            let pattern = r.int("sliding_window_pattern", 6)?;
            if pattern <= 0 {
                return Err(r.err("sliding_window_pattern", "must be positive"));
            }
            Ok((0..num_hidden_layers)
                .map(|i| (i + 1) % pattern != 0)
                .collect())
        }
    }
}

/// The sliding flags of a `layer_types` list: one known type per layer.
fn layer_types(
    r: &ConfigFields,
    types: &[Value],
    num_hidden_layers: i64,
) -> Result<Vec<bool>, ModelError> {
    let mut out = Vec::with_capacity(types.len());
    for (i, t) in types.iter().enumerate() {
        match t.as_str() {
            Some("sliding_attention") => out.push(true),
            Some("full_attention") => out.push(false),
            _ => {
                return Err(r.err(
                    &format!("layer_types[{i}]"),
                    format!("unknown layer type {t}"),
                ))
            }
        }
    }
    if out.len() as i64 != num_hidden_layers {
        return Err(r.err(
            "layer_types",
            format!("{} entries for {num_hidden_layers} layers", out.len()),
        ));
    }
    Ok(out)
}

/// `eos_token_id`: one id or a list, `[1]` when absent, none when `null`.
fn read_eos(r: &ConfigFields) -> Result<Vec<i64>, ModelError> {
    match r.v.get("eos_token_id") {
        None => Ok(vec![1]),
        Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_i64()
                    .ok_or_else(|| r.err("eos_token_id", format!("expected integers, found {x}")))
            })
            .collect(),
        Some(x) => Ok(vec![x.as_i64().ok_or_else(|| {
            r.err("eos_token_id", format!("expected an integer, found {x}"))
        })?]),
    }
}

/// `sliding_window`: positive, 4096 when absent, unbounded when `null`.
fn read_sliding_window(r: &ConfigFields) -> Result<i64, ModelError> {
    match r.opt_int("sliding_window", Some(4096))? {
        Some(w) if w > 0 => Ok(w),
        Some(w) => Err(r.err("sliding_window", format!("must be positive, found {w}"))),
        None => Ok(i64::MAX),
    }
}

/// `tie_word_embeddings`, else the top level's (transformers' config writes it there for
/// gemma3), else true.
fn read_tie(r: &ConfigFields, config: &Value) -> Result<bool, ModelError> {
    match r.present("tie_word_embeddings") {
        Some(_) => r.boolean("tie_word_embeddings", true),
        None => Ok(config
            .get("tie_word_embeddings")
            .and_then(Value::as_bool)
            .unwrap_or(true)),
    }
}

/// RoPE of one layer type: `rope_parameters.<layer_type>` (transformers 5), else the
/// legacy top-level keys (`rope_theta` / `rope_local_base_freq`, and `rope_scaling`
/// for the global one).
fn read_rope(
    r: &ConfigFields,
    layer_type: &str,
    legacy: &str,
    default: f64,
    global: bool,
) -> Result<Rope, ModelError> {
    let params = r.present("rope_parameters");
    let field = format!("rope_parameters.{layer_type}");
    let entry = match params {
        Some(Value::Object(m)) => {
            // Either per layer type, or (older 5.x form) one dict for all layers.
            if m.contains_key("full_attention") || m.contains_key("sliding_attention") {
                m.get(layer_type).filter(|x| !x.is_null())
            } else {
                Some(params.unwrap_or(&Value::Null))
            }
        }
        Some(other) => {
            return Err(r.err(
                "rope_parameters",
                format!("expected an object, found {other}"),
            ))
        }
        None => None,
    };
    let mut theta = r.float(legacy, default)?;
    let mut kind = "default".to_string();
    let mut factor = 1.0;
    if global {
        if let Some(Value::Object(s)) = r.present("rope_scaling") {
            kind = s
                .get("rope_type")
                .or_else(|| s.get("type"))
                .and_then(Value::as_str)
                .unwrap_or("default")
                .into();
            factor = s.get("factor").and_then(Value::as_f64).unwrap_or(1.0);
        }
    }
    if let Some(e) = entry {
        if let Some(t) = e.get("rope_theta").and_then(Value::as_f64) {
            theta = t;
        }
        if let Some(t) = e.get("rope_type").and_then(Value::as_str) {
            kind = t.to_string();
        }
        if let Some(f) = e.get("factor").and_then(Value::as_f64) {
            factor = f;
        }
    }
    match kind.as_str() {
        "default" => Ok(Rope {
            theta,
            linear_factor: 1.0,
        }),
        "linear" => Ok(Rope {
            theta,
            linear_factor: factor,
        }),
        other => Err(r.err(
            &field,
            format!("unsupported rope_type \"{other}\" (supported: default, linear)"),
        )),
    }
}
