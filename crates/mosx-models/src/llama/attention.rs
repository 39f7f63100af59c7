//! Llama-family attention: inverse frequencies (default, linear, Llama-3 scaling) and
//! grouped-query self-attention with the flavour's biases and q/k norms.
//!
//! Invariants:
//! * Llama-3 scaling is transformers' `_compute_llama3_parameters`, in f32: wavelengths
//!   above `original / low_freq_factor` are divided by `factor`, those below
//!   `original / high_freq_factor` kept, those between interpolated smoothly.
//! * q, k and v come from biased or unbiased projections (through the layer's LoRA
//!   adapters on whichever of q, k, v, o the config targets);
//!   Qwen3's per-head q/k RMSNorm runs before RoPE; scores are scaled by `head_dim^-1/2`.
//! * With kept rows only those queries are formed (see [`crate::decoder::QueryRows`]).

use std::f64::consts::PI;

use tch::{Device, Tensor};

use super::config::Rope;
use super::{Layer, Llama};
use crate::backbone::Target;
use crate::decoder::{attend, default_inv_freq, rotate, QueryRows};

/// The inverse frequencies of `rope` for heads of `head_dim`: `[head_dim / 2]` f32.
pub(super) fn inv_freq(rope: Rope, head_dim: i64, device: Device) -> Tensor {
    match rope {
        Rope::Linear { theta, factor } => {
            let inv = default_inv_freq(theta, head_dim, device);
            if factor != 1.0 {
                inv / factor
            } else {
                inv
            }
        }
        Rope::Llama3 {
            theta,
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings: old,
        } => {
            let inv = default_inv_freq(theta, head_dim, device);
            let low_wavelen = old / low_freq_factor;
            let high_wavelen = old / high_freq_factor;
            let wavelen = (inv.reciprocal() * (2.0 * PI)).detach();
            let scaled = &inv / factor;
            let llama = scaled.where_self(&wavelen.gt(low_wavelen), &inv);
            let smooth = ((wavelen.reciprocal() * old) - low_freq_factor)
                / (high_freq_factor - low_freq_factor);
            let smoothed = (-&smooth + 1.0) * &llama / factor + &smooth * &llama;
            let medium = wavelen
                .lt(high_wavelen)
                .logical_not()
                .logical_and(&wavelen.gt(low_wavelen).logical_not());
            smoothed.where_self(&medium, &llama)
        }
    }
}

impl Llama {
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
        let q = lora.apply(Target::Q, &xq, layer.q_proj.forward(&xq), train);
        let k = lora.apply(Target::K, x, layer.k_proj.forward(x), train);
        let v = lora.apply(Target::V, x, layer.v_proj.forward(x), train);
        let mut q = q.view([b, tq, nh, hd]);
        let mut k = k.view([b, t, nkv, hd]);
        if let (Some(qn), Some(kn)) = (&layer.q_norm, &layer.k_norm) {
            q = self.rms_norm(&q, qn);
            k = self.rms_norm(&k, kn);
        }
        let q = rotate(&q.transpose(1, 2), &cos_q, &sin_q);
        let k = rotate(&k.transpose(1, 2), cos, sin);
        let v = v.view([b, t, nkv, hd]).transpose(1, 2);
        let scale = (hd as f64).powf(-0.5);
        let out = attend(&q, &k, &v, &mask, scale);
        lora.apply(Target::O, &out, layer.o_proj.forward(&out), train)
    }
}
