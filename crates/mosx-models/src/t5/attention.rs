//! T5 attention: relative position buckets and [`T5Attention`] (self- or cross-attention,
//! optional relative position bias, LoRA on q and v).
//!
//! Invariants:
//! * Only a stack's first self-attention has a `relative_attention_bias` table; its
//!   [`T5Attention::compute_bias`] is shared by every block of the stack.
//! * Scores are not scaled by `d_kv^-0.5`; softmax is in f32, then cast back to the
//!   weights' kind; dropout on the probabilities acts only when `train` is true.

use tch::nn;
use tch::{Kind, Tensor};

use super::config::T5Config;
use super::{dropout, weight};
use crate::backbone::LoraConfig;
use crate::backbone::Target;
use crate::error::ModelError;
use crate::lora::Adapters;

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

/// Multi-head attention with optional relative position bias and LoRA on q, k, v, o.
#[derive(Debug)]
pub struct T5Attention {
    q: Tensor,
    k: Tensor,
    v: Tensor,
    o: Tensor,
    relative_attention_bias: Option<Tensor>,
    /// Adapters on q, k, v, o (none at load).
    lora: Adapters,
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
            lora: Adapters::default(),
            n_heads: cfg.num_heads,
            d_kv: cfg.d_kv,
            d_model: cfg.d_model,
            num_buckets: cfg.relative_attention_num_buckets,
            max_distance: cfg.relative_attention_max_distance,
            bidirectional,
            dropout: cfg.dropout_rate,
        }
    }

    /// Adds adapters on the attention projections `cfg.targets` names (its feed-forward
    /// targets are the block's [`super::layers::T5LayerFF`]'s) under `path`
    /// (`<path>.q.lora_A`, …).
    pub fn enable_lora(&mut self, path: &nn::Path, cfg: LoraConfig) -> Result<(), ModelError> {
        let (d, inner) = (self.d_model, self.n_heads * self.d_kv);
        let cfg = LoraConfig {
            targets: cfg.targets.only(Target::is_attention),
            ..cfg
        };
        let dims = |t| match t {
            Target::Q | Target::K | Target::V => Some((d, inner)),
            Target::O => Some((inner, d)),
            _ => None,
        };
        self.lora.create(cfg, "T5", dims, |t| path / t.name())
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
        let lora = &self.lora;
        let q = lora.apply(Target::Q, x, x.linear::<Tensor>(&self.q, None), train);
        let k = lora.apply(Target::K, kv, kv.linear::<Tensor>(&self.k, None), train);
        let v = lora.apply(Target::V, kv, kv.linear::<Tensor>(&self.v, None), train);
        let (q, k, v) = (self.heads(&q), self.heads(&k), self.heads(&v));
        let mut scores = q.matmul(&k.transpose(2, 3));
        if let Some(bias) = bias {
            scores = scores + bias;
        }
        let probs = scores.softmax(-1, Kind::Float).to_kind(v.kind());
        let probs = dropout(probs, self.dropout, train);
        let out = probs.matmul(&v).transpose(1, 2).contiguous();
        let (b, t) = (out.size()[0], out.size()[1]);
        let out = out.view([b, t, self.n_heads * self.d_kv]);
        lora.apply(Target::O, &out, out.linear::<Tensor>(&self.o, None), train)
    }
}
