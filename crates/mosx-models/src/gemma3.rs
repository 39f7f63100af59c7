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

use serde_json::Value;
use tch::nn::{self, Init};
use tch::{Device, Kind, Tensor};

use crate::backbone::{AnswerState, Architecture, Backbone, LoraConfig};
use crate::checkpoint::{Checkpoint, LoadWeights};
use crate::config_fields::ConfigFields;
use crate::error::{CheckpointError, ModelError};
use crate::lora::Lora;
use crate::numerics::{masked_mean, min_value};

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
        let (v, prefix) = match config.get("model_type").and_then(Value::as_str) {
            Some("gemma3") => match config.get("text_config") {
                Some(tc) if tc.is_object() => (tc, "text_config."),
                _ => {
                    return Err(CheckpointError::Config {
                        path: path.to_path_buf(),
                        field: "text_config".into(),
                        message: "a gemma3 config needs a text_config object".into(),
                    }
                    .into())
                }
            },
            _ => (config, ""),
        };
        let r = ConfigFields { v, path, prefix };
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
                format!("{num_key_value_heads} does not divide num_attention_heads {num_attention_heads}"),
            ));
        }
        let head_dim = r.int("head_dim", 256)?;
        if head_dim <= 0 || head_dim % 2 != 0 {
            return Err(r.err(
                "head_dim",
                format!("must be positive and even, found {head_dim}"),
            ));
        }
        let hidden_activation = match r
            .present("hidden_activation")
            .or_else(|| r.present("hidden_act"))
        {
            None => Activation::GeluTanh,
            Some(Value::String(s)) if s == "gelu_pytorch_tanh" || s == "gelu_new" => {
                Activation::GeluTanh
            }
            Some(Value::String(s)) if s == "gelu" => Activation::Gelu,
            Some(other) => {
                return Err(r.err(
                    "hidden_activation",
                    format!("unsupported activation {other}"),
                ))
            }
        };
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
        let layer_sliding = match r.present("layer_types") {
            Some(Value::Array(a)) => {
                let mut out = Vec::with_capacity(a.len());
                for (i, t) in a.iter().enumerate() {
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
                out
            }
            Some(other) => {
                return Err(r.err("layer_types", format!("expected a list, found {other}")))
            }
            None => {
                let pattern = r.int("sliding_window_pattern", 6)?;
                if pattern <= 0 {
                    return Err(r.err("sliding_window_pattern", "must be positive"));
                }
                (0..num_hidden_layers)
                    .map(|i| (i + 1) % pattern != 0)
                    .collect()
            }
        };
        let rope_global = read_rope(&r, "full_attention", "rope_theta", 1_000_000.0, true)?;
        let rope_local = read_rope(
            &r,
            "sliding_attention",
            "rope_local_base_freq",
            10_000.0,
            false,
        )?;
        let eos_token_id = match r.v.get("eos_token_id") {
            None => vec![1],
            Some(Value::Null) => vec![],
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_i64().ok_or_else(|| {
                        r.err("eos_token_id", format!("expected integers, found {x}"))
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(x) => vec![x
                .as_i64()
                .ok_or_else(|| r.err("eos_token_id", format!("expected an integer, found {x}")))?],
        };
        let sliding_window = match r.opt_int("sliding_window", Some(4096))? {
            Some(w) if w > 0 => w,
            Some(w) => return Err(r.err("sliding_window", format!("must be positive, found {w}"))),
            None => i64::MAX,
        };
        // transformers' config writes tie_word_embeddings at the top level for gemma3.
        let tie = match r.present("tie_word_embeddings") {
            Some(_) => r.boolean("tie_word_embeddings", true)?,
            None => config
                .get("tie_word_embeddings")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        };
        Ok(Gemma3TextConfig {
            vocab_size: r.int("vocab_size", 262_208)?,
            hidden_size,
            intermediate_size: r.int("intermediate_size", 9216)?,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
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
    lora_q: Option<Lora>,
    lora_v: Option<Lora>,
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

/// `1 / theta^(arange(0, d, 2) / d)` in f32 (as transformers computes it), divided by
/// the linear factor: `[d/2]`.
fn inv_freq(rope: Rope, head_dim: i64, device: Device) -> Tensor {
    let exps = Tensor::arange_start_step(0, head_dim, 2, (Kind::Float, device)) / head_dim as f64;
    let inv = Tensor::pow_scalar(rope.theta, &exps).reciprocal();
    if rope.linear_factor != 1.0 {
        inv / rope.linear_factor
    } else {
        inv
    }
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
                lora_q: None,
                lora_v: None,
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
        if !matches!(
            kind,
            Kind::Float | Kind::BFloat16 | Kind::Half | Kind::Double
        ) {
            return Err(CheckpointError::Other(format!(
                "Gemma-3 weights must be a floating kind, not {kind:?}"
            ))
            .into());
        }
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

    fn rms_norm(&self, x: &Tensor, w: &Tensor) -> Tensor {
        let xf = x.to_kind(Kind::Float);
        let var = xf.pow_tensor_scalar(2).mean_dim(-1, true, Kind::Float);
        let normed = &xf * (var + self.cfg.rms_norm_eps).rsqrt();
        (normed * (w.to_kind(Kind::Float) + 1.0)).to_kind(x.kind())
    }

    fn linear(x: &Tensor, w: &Tensor) -> Tensor {
        x.linear::<Tensor>(w, None)
    }

    /// `[1, 1, T, hd]` cos and sin for one RoPE, in the compute kind.
    fn rope_tables(&self, inv_freq: &Tensor, t: i64) -> (Tensor, Tensor) {
        let pos = Tensor::arange(t, (Kind::Float, inv_freq.device()));
        let freqs = pos.unsqueeze(1) * inv_freq.unsqueeze(0);
        let emb = Tensor::cat(&[&freqs, &freqs], -1);
        (
            emb.cos().to_kind(self.kind).view([1, 1, t, -1]),
            emb.sin().to_kind(self.kind).view([1, 1, t, -1]),
        )
    }

    fn rotate(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
        let half = x.size()[3] / 2;
        let x1 = x.narrow(3, 0, half);
        let x2 = x.narrow(3, half, half);
        let rotated = Tensor::cat(&[&(-x2), &x1], 3);
        x * cos + rotated * sin
    }

    /// Additive `[B, 1, T, T]` masks (full, sliding) from the `[B, T]` padding mask.
    fn masks(&self, mask: &Tensor, t: i64) -> (Tensor, Tensor) {
        let device = mask.device();
        let q = Tensor::arange(t, (Kind::Int64, device)).view([t, 1]);
        let k = Tensor::arange(t, (Kind::Int64, device)).view([1, t]);
        let causal = k.le_tensor(&q);
        let window = (&q - &k).lt(self.cfg.sliding_window.min(t + 1));
        let keys = mask.ne(0).view([mask.size()[0], 1, 1, t]);
        let full_ok = causal.view([1, 1, t, t]).logical_and(&keys);
        let slide_ok = full_ok.logical_and(&window.view([1, 1, t, t]));
        let neg = min_value(self.kind);
        let zero = Tensor::zeros([1], (self.kind, device));
        let negt = Tensor::full([1], neg, (self.kind, device));
        (
            zero.where_self(&full_ok, &negt),
            zero.where_self(&slide_ok, &negt),
        )
    }

    fn attention(
        &self,
        layer: &Layer,
        x: &Tensor,
        mask: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        train: bool,
    ) -> Tensor {
        let (b, t) = (x.size()[0], x.size()[1]);
        let hd = self.cfg.head_dim;
        let nh = self.cfg.num_attention_heads;
        let nkv = self.cfg.num_key_value_heads;
        let mut q = Self::linear(x, &layer.q_proj);
        if let Some(l) = &layer.lora_q {
            q = l.apply(x, q, train);
        }
        let k = Self::linear(x, &layer.k_proj);
        let mut v = Self::linear(x, &layer.v_proj);
        if let Some(l) = &layer.lora_v {
            v = l.apply(x, v, train);
        }
        let q = q.view([b, t, nh, hd]).transpose(1, 2);
        let k = k.view([b, t, nkv, hd]).transpose(1, 2);
        let v = v.view([b, t, nkv, hd]).transpose(1, 2);
        let q = self.rms_norm(&q, &layer.q_norm);
        let k = self.rms_norm(&k, &layer.k_norm);
        let q = Self::rotate(&q, cos, sin);
        let k = Self::rotate(&k, cos, sin);
        let scale = self.cfg.query_pre_attn_scalar.powf(-0.5);
        // transformers' Gemma3Attention stores attn_logit_softcapping but never passes it to
        // the attention function; mirrored here (Gemma-3 checkpoints set it to null anyway).
        let out = Tensor::scaled_dot_product_attention(
            &q,
            &k,
            &v,
            Some(mask),
            0.0,
            false,
            scale,
            nkv != nh,
        );
        let out = out.transpose(1, 2).reshape([b, t, nh * hd]);
        Self::linear(&out, &layer.o_proj)
    }

    fn mlp(&self, layer: &Layer, x: &Tensor) -> Tensor {
        let g = Self::linear(x, &layer.gate_proj);
        let g = match self.cfg.hidden_activation {
            Activation::GeluTanh => g.gelu("tanh"),
            Activation::Gelu => g.gelu("none"),
        };
        Self::linear(&(g * Self::linear(x, &layer.up_proj)), &layer.down_proj)
    }

    /// Last hidden state before the final norm, `[B, T, d]`.
    fn hidden(&self, embeds: &Tensor, mask: &Tensor, train: bool) -> Tensor {
        let t = embeds.size()[1];
        let (full_mask, slide_mask) = self.masks(mask, t);
        let (cos_l, sin_l) = self.rope_tables(&self.inv_freq_local, t);
        let (cos_g, sin_g) = self.rope_tables(&self.inv_freq_global, t);
        let mut h = embeds.to_kind(self.kind);
        for layer in &self.layers {
            let (m, c, s) = if layer.sliding {
                (&slide_mask, &cos_l, &sin_l)
            } else {
                (&full_mask, &cos_g, &sin_g)
            };
            let residual = &h;
            let a = self.attention(
                layer,
                &self.rms_norm(&h, &layer.input_layernorm),
                m,
                c,
                s,
                train,
            );
            let h1 = residual + self.rms_norm(&a, &layer.post_attention_layernorm);
            let f = self.mlp(layer, &self.rms_norm(&h1, &layer.pre_feedforward_layernorm));
            h = &h1 + self.rms_norm(&f, &layer.post_feedforward_layernorm);
        }
        h
    }
}

impl Backbone for Gemma3 {
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
        let e = Tensor::embedding(&self.embed_tokens, &ids, pad, false, false);
        // transformers: embed_scale (an f32 scalar) cast to the weights' dtype.
        let scale = (self.cfg.hidden_size as f64).sqrt() as f32;
        let scale = Tensor::from_slice(&[scale])
            .to_kind(self.kind)
            .to_device(self.vs.device());
        e * scale
    }

    fn answer_state(
        &self,
        embeds: &Tensor,
        mask: &Tensor,
        train: bool,
        pooled: bool,
    ) -> AnswerState {
        let device = self.vs.device();
        let mask = mask.to_device(device);
        let h = self.hidden(embeds, &mask, train);
        let b = h.size()[0];
        let last = (mask.ne(0).sum_dim_intlist(1, false, Kind::Int64) - 1).clamp_min(0);
        let rows = Tensor::arange(b, (Kind::Int64, device));
        let h_last = h.index(&[Some(rows), Some(last)]);
        let pooled = pooled.then(|| {
            let normed = self.rms_norm(&h, &self.norm).to_kind(Kind::Float);
            masked_mean(&normed, &mask)
        });
        AnswerState {
            hidden: self.rms_norm(&h_last, &self.norm),
            pooled,
        }
    }

    fn head_logits(&self, hidden: &Tensor, ids: Option<&[i64]>) -> Tensor {
        let w = match ids {
            Some(ids) => {
                let ids = Tensor::from_slice(ids).to_device(self.vs.device());
                self.embed_tokens.index_select(0, &ids)
            }
            None => self.embed_tokens.shallow_clone(),
        };
        let logits = hidden.matmul(&w.tr()).to_kind(Kind::Float);
        match self.cfg.final_logit_softcapping {
            Some(cap) => (logits / cap).tanh() * cap,
            None => logits,
        }
    }

    fn vocab_size(&self) -> i64 {
        self.embed_tokens.size()[0]
    }

    fn pooled(&self, embeds: &Tensor, mask: &Tensor, train: bool) -> Tensor {
        let mask = mask.to_device(self.vs.device());
        let h = self.hidden(embeds, &mask, train);
        let h = self.rms_norm(&h, &self.norm).to_kind(Kind::Float);
        masked_mean(&h, &mask)
    }

    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
    }

    fn enable_lora(&mut self, path: &nn::Path, cfg: LoraConfig) -> Result<(), ModelError> {
        if cfg.rank <= 0 {
            return Err(CheckpointError::Other(format!(
                "LoRA rank must be positive, found {}",
                cfg.rank
            ))
            .into());
        }
        let d = self.cfg.hidden_size;
        let q_out = self.cfg.num_attention_heads * self.cfg.head_dim;
        let v_out = self.cfg.num_key_value_heads * self.cfg.head_dim;
        let pref: Vec<&str> = self.prefix.iter().map(String::as_str).collect();
        let base = sub(path, &pref);
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let a = base.sub("layers").sub(i).sub("self_attn");
            layer.lora_q = Some(Lora::new(&a.sub("q_proj"), d, q_out, cfg));
            layer.lora_v = Some(Lora::new(&a.sub("v_proj"), d, v_out, cfg));
        }
        Ok(())
    }
}
