//! T5 layers: the RMS [`T5LayerNorm`], the feed-forward ([`T5DenseFeedForward`] in its
//! pre-norm sub-layer [`T5LayerFF`]), the pre-norm attention sub-layer
//! [`T5LayerAttention`] and the [`T5Block`] made of them.
//!
//! Invariants:
//! * Layer norm has no mean and no bias and accumulates the variance in f32.
//! * Every sub-layer is pre-norm and residual: `x + drop(f(norm(x)))`.
//! * A block's sub-layers are `layer.0` (self-attention), `layer.1` (cross-attention,
//!   decoder only) and the feed-forward last (`layer.1` in the encoder, `layer.2` in the
//!   decoder).

use tch::nn;
use tch::{Kind, Tensor};

use super::attention::T5Attention;
use super::config::{Activation, T5Config};
use super::{dropout, weight};
use crate::backbone::{LoraConfig, Target};
use crate::error::ModelError;
use crate::lora::Adapters;

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
    /// Adapters on gate (`wi_0`), up (`wi_1`, or `wi` ungated) and down (`wo`).
    lora: Adapters,
    d_model: i64,
    d_ff: i64,
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
            lora: Adapters::default(),
            d_model: d,
            d_ff: ff,
            act,
            layer_norm: T5LayerNorm::new(&(path / "layer_norm"), cfg),
            dropout: cfg.dropout_rate,
        }
    }

    /// Adds adapters on the feed-forward projections `cfg.targets` names under `path` (the
    /// `DenseReluDense` path: `<path>.wi_0.lora_A`, …); `gate` on an ungated block is an error.
    pub fn enable_lora(&mut self, path: &nn::Path, cfg: LoraConfig) -> Result<(), ModelError> {
        let cfg = LoraConfig {
            targets: cfg.targets.only(|t| !t.is_attention()),
            ..cfg
        };
        let gated = matches!(self.dense, T5DenseFeedForward::GatedActDense { .. });
        let (d, ff) = (self.d_model, self.d_ff);
        let dims = |t| match t {
            Target::Gate if gated => Some((d, ff)),
            Target::Up => Some((d, ff)),
            Target::Down => Some((ff, d)),
            _ => None,
        };
        let name = |t| match t {
            Target::Gate => "wi_0",
            Target::Up if gated => "wi_1",
            Target::Up => "wi",
            _ => "wo",
        };
        self.lora.create(cfg, "T5", dims, |t| path / name(t))
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.layer_norm.forward(x);
        let lora = &self.lora;
        let lin = |t: Target, x: &Tensor, w: &Tensor| {
            lora.apply(t, x, x.linear::<Tensor>(w, None), train)
        };
        let h = match &self.dense {
            T5DenseFeedForward::ActDense { wi, wo } => {
                let a = self.act.apply(&lin(Target::Up, &h, wi));
                lin(Target::Down, &dropout(a, self.dropout, train), wo)
            }
            T5DenseFeedForward::GatedActDense { wi_0, wi_1, wo } => {
                let g = self.act.apply(&lin(Target::Gate, &h, wi_0)) * lin(Target::Up, &h, wi_1);
                lin(Target::Down, &dropout(g, self.dropout, train), wo)
            }
        };
        x + dropout(h, self.dropout, train)
    }
}

/// An attention sub-layer with its pre-norm (`SelfAttention` or `EncDecAttention`).
#[derive(Debug)]
pub struct T5LayerAttention {
    pub(super) attention: T5Attention,
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
    pub(super) self_attention: T5LayerAttention,
    pub(super) cross_attention: Option<T5LayerAttention>,
    pub(super) ff: T5LayerFF,
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
