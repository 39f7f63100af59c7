//! The Llama family of decoders (transformers' `LlamaForCausalLM`, `Qwen2ForCausalLM`,
//! `Qwen3ForCausalLM`, `MistralForCausalLM`), one module with the differences as flags
//! ([`Flavour`]), on tch.
//!
//! Invariants (each mirrors the families' `modeling_*.py` in transformers 5.24):
//! * RMSNorm normalises in f32, casts back to the input's kind and then scales by `w`
//!   (not Gemma's `1 + w`); Qwen3 also RMS-norms q and k per head before RoPE.
//! * The MLP is SwiGLU, `down(silu(gate(x)) * up(x))`; attention is grouped-query with
//!   scale `head_dim^-1/2`, RoPE `default` / `linear` / `llama3`, biases as the flavour
//!   says, a sliding window on the layers the flavour names.
//! * Embeddings are not scaled; positions are `0..T` along the right-padded sequence,
//!   soft prompt included; padded keys are masked with the kind's most negative finite
//!   value (shared with Gemma-3 in [`crate::decoder`]).
//! * The head is `lm_head.weight`, or the embeddings when tied; only requested rows are
//!   formed; logits and pooled states are f32.
//! * Variables are named exactly as in the checkpoint (`model.layers.N.self_attn.q_proj.weight`,
//!   `…q_proj.bias`, `model.norm.weight`, `lm_head.weight`).
//!
//! Layout: `config` (`config.json` → [`LlamaConfig`] → [`Flavour`]), `attention`
//! (inverse frequencies incl. Llama-3 scaling, grouped-query attention), `layers`
//! (RMSNorm, SwiGLU, the forward), this module (the [`Llama`] model, building and loading)
//! and `backbone` (its [`Backbone`](crate::backbone::Backbone) impl).

mod attention;
mod backbone;
mod config;
mod layers;

pub use config::{Family, Flavour, LlamaConfig, Rope, RopeFields, SUPPORTED};

use tch::nn::{self, Init};
use tch::{Device, Kind, Tensor};

use crate::checkpoint::{Checkpoint, LoadWeights};
use crate::error::ModelError;
use crate::lora::Adapters;

/// A linear projection's weight `[out, in]` and optional bias `[out]`.
struct Linear {
    w: Tensor,
    b: Option<Tensor>,
}

impl Linear {
    fn new(p: &nn::Path, in_dim: i64, out_dim: i64, bias: bool) -> Linear {
        let z = Init::Const(0.0);
        Linear {
            w: p.var("weight", &[out_dim, in_dim], z),
            b: bias.then(|| p.var("bias", &[out_dim], z)),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.w, self.b.as_ref())
    }
}

/// Weights of one decoder layer (views of `VarStore` variables).
struct Layer {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    /// Per-head norms of q and k (Qwen3).
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
    input_layernorm: Tensor,
    post_attention_layernorm: Tensor,
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
    window: Option<i64>,
    /// LoRA adapters on the projections `enable_lora` chose (none at load).
    lora: Adapters,
}

/// A Llama-family decoder.
pub struct Llama {
    vs: nn::VarStore,
    cfg: Flavour,
    embed_tokens: Tensor,
    /// `lm_head.weight`, `None` when tied to the embeddings.
    lm_head: Option<Tensor>,
    layers: Vec<Layer>,
    norm: Tensor,
    inv_freq: Tensor,
    kind: Kind,
}

impl std::fmt::Debug for Llama {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llama")
            .field("cfg", &self.cfg)
            .field("kind", &self.kind)
            .finish()
    }
}

impl Llama {
    /// Creates the variables (named as in the checkpoint) in `vs`, zero-initialised.
    pub fn new(vs: nn::VarStore, cfg: Flavour) -> Llama {
        let kind = vs.kind();
        let z = Init::Const(0.0);
        let root = vs.root();
        let model = root.sub("model");
        let (d, hd) = (cfg.hidden_size, cfg.head_dim);
        let (q_out, kv_out) = (cfg.num_attention_heads * hd, cfg.num_key_value_heads * hd);
        let embed_tokens = model
            .sub("embed_tokens")
            .var("weight", &[cfg.vocab_size, d], z);
        let layers: Vec<Layer> = (0..cfg.num_hidden_layers)
            .map(|i| {
                let l = model.sub("layers").sub(i);
                let a = l.sub("self_attn");
                let m = l.sub("mlp");
                let ff = cfg.intermediate_size;
                Layer {
                    q_proj: Linear::new(&a.sub("q_proj"), d, q_out, cfg.qkv_bias),
                    k_proj: Linear::new(&a.sub("k_proj"), d, kv_out, cfg.qkv_bias),
                    v_proj: Linear::new(&a.sub("v_proj"), d, kv_out, cfg.qkv_bias),
                    o_proj: Linear::new(&a.sub("o_proj"), q_out, d, cfg.o_bias),
                    q_norm: cfg.qk_norm.then(|| a.sub("q_norm").var("weight", &[hd], z)),
                    k_norm: cfg.qk_norm.then(|| a.sub("k_norm").var("weight", &[hd], z)),
                    input_layernorm: l.sub("input_layernorm").var("weight", &[d], z),
                    post_attention_layernorm: l.sub("post_attention_layernorm").var(
                        "weight",
                        &[d],
                        z,
                    ),
                    gate_proj: Linear::new(&m.sub("gate_proj"), d, ff, cfg.mlp_bias),
                    up_proj: Linear::new(&m.sub("up_proj"), d, ff, cfg.mlp_bias),
                    down_proj: Linear::new(&m.sub("down_proj"), ff, d, cfg.mlp_bias),
                    window: cfg.layer_window[i as usize],
                    lora: Adapters::default(),
                }
            })
            .collect();
        let norm = model.sub("norm").var("weight", &[d], z);
        let lm_head = (!cfg.tie_word_embeddings)
            .then(|| root.sub("lm_head").var("weight", &[cfg.vocab_size, d], z));
        let inv_freq = attention::inv_freq(cfg.rope, hd, vs.device());
        Llama {
            vs,
            cfg,
            embed_tokens,
            lm_head,
            layers,
            norm,
            inv_freq,
            kind,
        }
    }

    /// Loads a Llama-family checkpoint onto `device` in `kind`.
    pub fn load(ck: &Checkpoint, device: Device, kind: Kind) -> Result<Llama, ModelError> {
        crate::numerics::check_float_kind("Llama", kind)?;
        let path = ck.config_path();
        let mut cfg = LlamaConfig::from_json(&ck.config, &path)?;
        // The factory's type (`model_type`, or the one `architectures` implies).
        cfg.model_type = ck.model_type()?;
        let cfg = cfg.resolve(&path)?;
        let mut vs = nn::VarStore::new(device);
        vs.set_kind(kind);
        let mut model = Llama::new(vs, cfg);
        ck.load_weights(&mut model.vs)?;
        Ok(model)
    }

    /// The resolved configuration.
    pub fn flavour(&self) -> &Flavour {
        &self.cfg
    }
}
