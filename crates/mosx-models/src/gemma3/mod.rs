//! Gemma-3 text decoder (transformers' `Gemma3ForCausalLM`), on tch.
//!
//! Invariants (each mirrors `modeling_gemma3.py`):
//! * RMSNorm computes in f32 and scales by `(1 + w)`, then casts back; q and k are
//!   RMS-normed per head before RoPE.
//! * Embeddings are multiplied by `sqrt(hidden_size)` rounded to the weights' dtype.
//! * Attention: grouped-query (`num_key_value_heads` shared by groups of query heads),
//!   scale `query_pre_attn_scalar^-1/2`, softmax in f32. `attn_logit_softcapping` is read
//!   but, as in transformers 5.24's Gemma-3, not applied; `final_logit_softcapping` is.
//!   Layers whose type is `sliding_attention` see only the last `sliding_window` keys
//!   (`q - k < window`) and use the local RoPE base; `full_attention` layers the global one.
//! * Positions are `0..T` along the (right-padded) sequence, soft prompt included; padded
//!   keys are masked with the dtype's most negative finite value, never `-inf`, so padded
//!   query rows stay finite.
//! * The head is tied to the embeddings and only the requested answer rows are computed;
//!   logits and pooled states are returned as f32.
//! * Variables are named exactly as in the checkpoint (`model.layers.N.self_attn.q_proj.weight`,
//!   with the multimodal `gemma3` prefix when the checkpoint uses one).
//!
//! Layout: `config` (`config.json` → [`Gemma3TextConfig`], RoPE settings), `attention`
//! (rotary tables, masks, grouped-query attention), `layers` (RMSNorm, the gated MLP and
//! the decoder layers' forward), this module (the [`Gemma3`] model and its per-layer
//! weights: building and loading) and `backbone` (its
//! [`Backbone`](crate::backbone::Backbone) impl). Every public item is re-exported here,
//! so paths are `mosx_models::gemma3::…`.

mod attention;
mod backbone;
mod config;
mod layers;

pub use config::{Activation, Gemma3TextConfig, Rope};

use tch::nn::{self, Init};
use tch::{Device, Kind, Tensor};

use crate::checkpoint::{Checkpoint, LoadWeights};
use crate::error::{CheckpointError, ModelError};
use crate::lora::Adapters;
use attention::inv_freq;

/// Weights of one decoder layer (views of `VarStore` variables).
struct Layer {
    q_proj: Tensor,
    k_proj: Tensor,
    v_proj: Tensor,
    o_proj: Tensor,
    q_norm: Tensor,
    k_norm: Tensor,
    input_layernorm: Tensor,
    post_attention_layernorm: Tensor,
    pre_feedforward_layernorm: Tensor,
    post_feedforward_layernorm: Tensor,
    gate_proj: Tensor,
    up_proj: Tensor,
    down_proj: Tensor,
    sliding: bool,
    /// LoRA adapters on the projections `enable_lora` chose (none at load).
    lora: Adapters,
}

/// The Gemma-3 text decoder.
pub struct Gemma3 {
    vs: nn::VarStore,
    cfg: Gemma3TextConfig,
    /// Path components in front of `layers` / `embed_tokens` (`["model"]` for gemma3_text).
    prefix: Vec<String>,
    embed_tokens: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    inv_freq_local: Tensor,
    inv_freq_global: Tensor,
    kind: Kind,
}

impl std::fmt::Debug for Gemma3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gemma3")
            .field("cfg", &self.cfg)
            .field("kind", &self.kind)
            .finish()
    }
}

fn sub<'a>(p: &nn::Path<'a>, parts: &[&str]) -> nn::Path<'a> {
    parts.iter().fold(p.clone(), |acc, s| acc.sub(*s))
}

impl Gemma3 {
    /// Creates the variables (named as in the checkpoint) in `vs`, zero-initialised.
    /// `prefix` is the path in front of `embed_tokens` / `layers` / `norm`.
    pub fn new(vs: nn::VarStore, cfg: Gemma3TextConfig, prefix: Vec<String>) -> Gemma3 {
        let kind = vs.kind();
        let device = vs.device();
        let z = Init::Const(0.0);
        let root = vs.root();
        let pref: Vec<&str> = prefix.iter().map(String::as_str).collect();
        let model = sub(&root, &pref);
        let d = cfg.hidden_size;
        let hd = cfg.head_dim;
        let embed_tokens = model
            .sub("embed_tokens")
            .var("weight", &[cfg.vocab_size, d], z);
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers as usize);
        for i in 0..cfg.num_hidden_layers {
            let l = model.sub("layers").sub(i);
            let a = l.sub("self_attn");
            let m = l.sub("mlp");
            layers.push(Layer {
                q_proj: a
                    .sub("q_proj")
                    .var("weight", &[cfg.num_attention_heads * hd, d], z),
                k_proj: a
                    .sub("k_proj")
                    .var("weight", &[cfg.num_key_value_heads * hd, d], z),
                v_proj: a
                    .sub("v_proj")
                    .var("weight", &[cfg.num_key_value_heads * hd, d], z),
                o_proj: a
                    .sub("o_proj")
                    .var("weight", &[d, cfg.num_attention_heads * hd], z),
                q_norm: a.sub("q_norm").var("weight", &[hd], z),
                k_norm: a.sub("k_norm").var("weight", &[hd], z),
                input_layernorm: l.sub("input_layernorm").var("weight", &[d], z),
                post_attention_layernorm: l.sub("post_attention_layernorm").var("weight", &[d], z),
                pre_feedforward_layernorm: l.sub("pre_feedforward_layernorm").var(
                    "weight",
                    &[d],
                    z,
                ),
                post_feedforward_layernorm: l.sub("post_feedforward_layernorm").var(
                    "weight",
                    &[d],
                    z,
                ),
                gate_proj: m
                    .sub("gate_proj")
                    .var("weight", &[cfg.intermediate_size, d], z),
                up_proj: m
                    .sub("up_proj")
                    .var("weight", &[cfg.intermediate_size, d], z),
                down_proj: m
                    .sub("down_proj")
                    .var("weight", &[d, cfg.intermediate_size], z),
                sliding: cfg.layer_sliding[i as usize],
                lora: Adapters::default(),
            });
        }
        let norm = model.sub("norm").var("weight", &[d], z);
        let inv_freq_local = inv_freq(cfg.rope_local, hd, device);
        let inv_freq_global = inv_freq(cfg.rope_global, hd, device);
        Gemma3 {
            vs,
            cfg,
            prefix,
            embed_tokens,
            layers,
            norm,
            inv_freq_local,
            inv_freq_global,
            kind,
        }
    }

    /// Loads a `gemma3_text` (or `gemma3`) checkpoint onto `device` in `kind`.
    pub fn load(ck: &Checkpoint, device: Device, kind: Kind) -> Result<Gemma3, ModelError> {
        crate::numerics::check_float_kind("Gemma-3", kind)?;
        let cfg = Gemma3TextConfig::from_json(&ck.config, &ck.config_path())?;
        if !cfg.tie_word_embeddings {
            return Err(CheckpointError::Config {
                path: ck.config_path(),
                field: "tie_word_embeddings".into(),
                message: "only the tied head is supported (Gemma-3 ties it)".into(),
            }
            .into());
        }
        let prefix = if ck.model_type()? == "gemma3" {
            let names = ck.tensor_names()?;
            let candidates: [&[&str]; 3] = [
                &["model", "language_model"],
                &["language_model", "model"],
                &["model"],
            ];
            let found = candidates
                .iter()
                .find(|c| names.contains(&format!("{}.embed_tokens.weight", c.join("."))))
                .copied()
                .unwrap_or(&["model", "language_model"]);
            found.iter().map(|s| s.to_string()).collect()
        } else {
            vec!["model".to_string()]
        };
        let mut vs = nn::VarStore::new(device);
        vs.set_kind(kind);
        let mut model = Gemma3::new(vs, cfg, prefix);
        ck.load_weights(&mut model.vs)?;
        Ok(model)
    }

    /// The parsed configuration.
    pub fn config(&self) -> &Gemma3TextConfig {
        &self.cfg
    }
}
