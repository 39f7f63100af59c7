//! Gemma-3 attention: rotary embeddings (inverse frequencies, cos/sin tables), the
//! additive full and sliding-window masks, and grouped-query self-attention.
//!
//! Invariants:
//! * RoPE tables cover positions `0..T` in f32 and are cast to the compute kind; q and k
//!   are RMS-normed per head before rotation.
//! * Masks are causal and hide padded keys with the kind's most negative finite value
//!   (never `-inf`); sliding layers additionally see only `q - k < sliding_window`.
//! * Scores are scaled by `query_pre_attn_scalar^-1/2`; `attn_logit_softcapping` is not
//!   applied (as in transformers 5.24); LoRA acts on q and v when enabled.
//! * With kept rows, only those queries are formed (RoPE at their positions, their mask
//!   rows); keys and values cover every position, so the kept outputs equal the full
//!   pass's rows.

use tch::{Device, Kind, Tensor};

use super::config::Rope;
use super::{Gemma3, Layer};
use crate::numerics::min_value;

/// `1 / theta^(arange(0, d, 2) / d)` in f32 (as transformers computes it), divided by
/// the linear factor: `[d/2]`.
pub(super) fn inv_freq(rope: Rope, head_dim: i64, device: Device) -> Tensor {
    let exps = Tensor::arange_start_step(0, head_dim, 2, (Kind::Float, device)) / head_dim as f64;
    let inv = Tensor::pow_scalar(rope.theta, &exps).reciprocal();
    if rope.linear_factor != 1.0 {
        inv / rope.linear_factor
    } else {
        inv
    }
}

impl Gemma3 {
    /// `[1, 1, T, hd]` cos and sin for one RoPE, in the compute kind.
    pub(super) fn rope_tables(&self, inv_freq: &Tensor, t: i64) -> (Tensor, Tensor) {
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
    pub(super) fn masks(&self, mask: &Tensor, t: i64) -> (Tensor, Tensor) {
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

    /// Grouped-query self-attention of the normed input `x` (`[B, T, d]`) over every
    /// position; with `rows` (`[B]` int64) only those queries are formed: `[B, 1, d]` out,
    /// else `[B, T, d]`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn attention(
        &self,
        layer: &Layer,
        x: &Tensor,
        rows: Option<&Tensor>,
        mask: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        train: bool,
    ) -> Tensor {
        let (b, t) = (x.size()[0], x.size()[1]);
        let hd = self.cfg.head_dim;
        let nh = self.cfg.num_attention_heads;
        let nkv = self.cfg.num_key_value_heads;
        // Queries: every position, or the kept row of each sequence with its RoPE angle
        // and its mask row.
        let (xq, cos_q, sin_q, mask) = match rows {
            None => (
                x.shallow_clone(),
                cos.shallow_clone(),
                sin.shallow_clone(),
                mask.shallow_clone(),
            ),
            Some(r) => {
                let table = |c: &Tensor| c.view([t, hd]).index_select(0, r).view([b, 1, 1, hd]);
                let m = Self::take_rows(&mask.expand([b, 1, t, t], false).transpose(1, 2), r);
                (
                    Self::take_rows(x, r).unsqueeze(1),
                    table(cos),
                    table(sin),
                    m.unsqueeze(1),
                )
            }
        };
        let tq = xq.size()[1];
        let mut q = Self::linear(&xq, &layer.q_proj);
        if let Some(l) = &layer.lora_q {
            q = l.apply(&xq, q, train);
        }
        let k = Self::linear(x, &layer.k_proj);
        let mut v = Self::linear(x, &layer.v_proj);
        if let Some(l) = &layer.lora_v {
            v = l.apply(x, v, train);
        }
        let q = q.view([b, tq, nh, hd]).transpose(1, 2);
        let k = k.view([b, t, nkv, hd]).transpose(1, 2);
        let v = v.view([b, t, nkv, hd]).transpose(1, 2);
        let q = self.rms_norm(&q, &layer.q_norm);
        let k = self.rms_norm(&k, &layer.k_norm);
        let q = Self::rotate(&q, &cos_q, &sin_q);
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
        let out = out.transpose(1, 2).reshape([b, tq, nh * hd]);
        Self::linear(&out, &layer.o_proj)
    }
}
