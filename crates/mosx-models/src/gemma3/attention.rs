//! Gemma-3 attention: rotary embeddings (inverse frequencies, cos/sin tables), the
//! additive full and sliding-window masks, and grouped-query self-attention.
//!
//! Invariants:
//! * RoPE tables cover positions `0..T` in f32 and are cast to the compute kind; q and k
//!   are RMS-normed per head before rotation.
//! * Masks are causal and hide padded keys with the kind's most negative finite value
//!   (never `-inf`); sliding layers additionally see only `q - k < sliding_window`.
//! * Scores are scaled by `query_pre_attn_scalar^-1/2`; `attn_logit_softcapping` is not
//!   applied (as in transformers 5.24); LoRA acts on the targeted
//!   projections (q, k, v, o here; gate, up, down in the MLP) when enabled.
//! * With kept rows, only those queries are formed (RoPE at their positions, their mask
//!   rows); keys and values cover every position, so the kept outputs equal the full
//!   pass's rows.

use tch::{Device, Tensor};

use super::config::Rope;
use super::{Gemma3, Layer};
use crate::backbone::Target;
use crate::decoder::{additive_mask, attend, default_inv_freq, rope_tables, rotate, QueryRows};

/// The shared default inverse frequencies divided by the linear factor: `[d/2]`.
pub(super) fn inv_freq(rope: Rope, head_dim: i64, device: Device) -> Tensor {
    let inv = default_inv_freq(rope.theta, head_dim, device);
    if rope.linear_factor != 1.0 {
        inv / rope.linear_factor
    } else {
        inv
    }
}

impl Gemma3 {
    /// `[1, 1, T, hd]` cos and sin for one RoPE, in the compute kind.
    pub(super) fn rope_tables(&self, inv_freq: &Tensor, t: i64) -> (Tensor, Tensor) {
        rope_tables(inv_freq, t, self.kind)
    }

    /// Additive `[B, 1, T, T]` masks (full, sliding) from the `[B, T]` padding mask.
    pub(super) fn masks(&self, mask: &Tensor, t: i64) -> (Tensor, Tensor) {
        (
            additive_mask(mask, t, None, self.kind),
            additive_mask(mask, t, Some(self.cfg.sliding_window), self.kind),
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
        let QueryRows {
            x: xq,
            cos: cos_q,
            sin: sin_q,
            mask,
        } = QueryRows::select(x, rows, mask, cos, sin);
        let tq = xq.size()[1];
        let lora = &layer.lora;
        let q = lora.apply(Target::Q, &xq, Self::linear(&xq, &layer.q_proj), train);
        let k = lora.apply(Target::K, x, Self::linear(x, &layer.k_proj), train);
        let v = lora.apply(Target::V, x, Self::linear(x, &layer.v_proj), train);
        let q = q.view([b, tq, nh, hd]).transpose(1, 2);
        let k = k.view([b, t, nkv, hd]).transpose(1, 2);
        let v = v.view([b, t, nkv, hd]).transpose(1, 2);
        let q = self.rms_norm(&q, &layer.q_norm);
        let k = self.rms_norm(&k, &layer.k_norm);
        let q = rotate(&q, &cos_q, &sin_q);
        let k = rotate(&k, cos, sin);
        let scale = self.cfg.query_pre_attn_scalar.powf(-0.5);
        // transformers' Gemma3Attention stores attn_logit_softcapping but never passes it to
        // the attention function; mirrored here (Gemma-3 checkpoints set it to null anyway).
        let out = attend(&q, &k, &v, &mask, scale);
        lora.apply(Target::O, &out, Self::linear(&out, &layer.o_proj), train)
    }
}
