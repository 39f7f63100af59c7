//! Gemma-3 decoder layers: RMSNorm with the `(1 + w)` scale, the gated MLP, and the
//! forward through every layer (pre- and post-norms around attention and MLP).
//!
//! Invariants:
//! * RMSNorm computes in f32 and casts back to the input's kind.
//! * Each layer is `h + post_norm(attn(input_norm(h)))`, then
//!   `h1 + post_ff_norm(mlp(pre_ff_norm(h1)))`; sliding layers take the sliding mask and
//!   the local RoPE, full layers the full mask and the global one.

use tch::{Kind, Tensor};

use super::config::Activation;
use super::{Gemma3, Layer};

impl Gemma3 {
    pub(super) fn rms_norm(&self, x: &Tensor, w: &Tensor) -> Tensor {
        let xf = x.to_kind(Kind::Float);
        let var = xf.pow_tensor_scalar(2).mean_dim(-1, true, Kind::Float);
        let normed = &xf * (var + self.cfg.rms_norm_eps).rsqrt();
        (normed * (w.to_kind(Kind::Float) + 1.0)).to_kind(x.kind())
    }

    pub(super) fn linear(x: &Tensor, w: &Tensor) -> Tensor {
        x.linear::<Tensor>(w, None)
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
    pub(super) fn hidden(&self, embeds: &Tensor, mask: &Tensor, train: bool) -> Tensor {
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
