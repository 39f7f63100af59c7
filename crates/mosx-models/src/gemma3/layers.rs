//! Gemma-3 decoder layers: RMSNorm with the `(1 + w)` scale, the gated MLP, and the
//! forward through every layer (pre- and post-norms around attention and MLP).
//!
//! Invariants:
//! * RMSNorm computes in f32 and casts back to the input's kind ([`Gemma3::rms_norm_f32`]
//!   keeps f32, for the state the head reads).
//! * Each layer is `h + post_norm(attn(input_norm(h)))`, then
//!   `h1 + post_ff_norm(mlp(pre_ff_norm(h1)))`; sliding layers take the sliding mask and
//!   the local RoPE, full layers the full mask and the global one.
//! * The last layer computes only what is read ([`Keep`]): with [`Keep::Rows`] its
//!   queries, attention output and MLP run for one position per row (keys and values
//!   still cover every position); with [`Keep::Real`] every position attends but the MLP
//!   runs on real positions only, padded positions keeping their attention residual
//!   (no reader looks at them: pooling is masked, the answer row is a real token).
//!   Earlier layers compute every position (later layers' keys read them).

use tch::{Kind, Tensor};

use super::config::Activation;
use super::{Gemma3, Layer};
use crate::backbone::Target;
pub(super) use crate::decoder::Keep;
use crate::decoder::{map_real_positions, rms_normalized, take_rows};

/// The per-layer inputs shared by every position: masks and RoPE tables.
struct LayerInputs<'a> {
    mask: &'a Tensor,
    cos: &'a Tensor,
    sin: &'a Tensor,
}

impl Gemma3 {
    pub(super) fn rms_norm(&self, x: &Tensor, w: &Tensor) -> Tensor {
        self.rms_norm_f32(x, w).to_kind(x.kind())
    }

    /// RMSNorm with its `(1 + w)` scale, in f32 and left in f32.
    pub(super) fn rms_norm_f32(&self, x: &Tensor, w: &Tensor) -> Tensor {
        rms_normalized(x, self.cfg.rms_norm_eps) * (w.to_kind(Kind::Float) + 1.0)
    }

    pub(super) fn linear(x: &Tensor, w: &Tensor) -> Tensor {
        x.linear::<Tensor>(w, None)
    }

    /// `down(act(gate(x)) * up(x))`, each projection through its adapter if any.
    fn mlp(&self, layer: &Layer, x: &Tensor, train: bool) -> Tensor {
        let lora = &layer.lora;
        let g = lora.apply(Target::Gate, x, Self::linear(x, &layer.gate_proj), train);
        let g = match self.cfg.hidden_activation {
            Activation::GeluTanh => g.gelu("tanh"),
            Activation::Gelu => g.gelu("none"),
        };
        let h = g * lora.apply(Target::Up, x, Self::linear(x, &layer.up_proj), train);
        lora.apply(Target::Down, &h, Self::linear(&h, &layer.down_proj), train)
    }

    /// `h1 + post_ff_norm(mlp(pre_ff_norm(h1)))`.
    fn feed_forward(&self, layer: &Layer, h1: &Tensor, train: bool) -> Tensor {
        let x = self.rms_norm(h1, &layer.pre_feedforward_layernorm);
        let f = self.mlp(layer, &x, train);
        h1 + self.rms_norm(&f, &layer.post_feedforward_layernorm)
    }

    /// [`Self::feed_forward`] of the positions where `mask` is set; the others are
    /// returned unchanged. `h1` is `[B, T, d]`, `mask` `[B, T]`.
    fn feed_forward_real(&self, layer: &Layer, h1: &Tensor, mask: &Tensor, train: bool) -> Tensor {
        map_real_positions(h1, mask, |x| self.feed_forward(layer, x, train))
    }

    /// Last hidden state before the final norm: `[B, T, d]` for [`Keep::Real`], the
    /// kept rows' `[B, d]` for [`Keep::Rows`].
    pub(super) fn hidden(&self, embeds: &Tensor, mask: &Tensor, train: bool, keep: Keep) -> Tensor {
        let t = embeds.size()[1];
        let (full_mask, slide_mask) = self.masks(mask, t);
        let (cos_l, sin_l) = self.rope_tables(&self.inv_freq_local, t);
        let (cos_g, sin_g) = self.rope_tables(&self.inv_freq_global, t);
        let mut h = embeds.to_kind(self.kind);
        let n = self.layers.len();
        for (i, layer) in self.layers.iter().enumerate() {
            let inputs = if layer.sliding {
                LayerInputs {
                    mask: &slide_mask,
                    cos: &cos_l,
                    sin: &sin_l,
                }
            } else {
                LayerInputs {
                    mask: &full_mask,
                    cos: &cos_g,
                    sin: &sin_g,
                }
            };
            let last = i + 1 == n;
            h = match keep {
                Keep::Rows(rows) if last => self.last_layer_rows(layer, &h, &inputs, rows, train),
                _ => {
                    let x = self.rms_norm(&h, &layer.input_layernorm);
                    let a =
                        self.attention(layer, &x, None, inputs.mask, inputs.cos, inputs.sin, train);
                    let h1 = &h + self.rms_norm(&a, &layer.post_attention_layernorm);
                    if last {
                        self.feed_forward_real(layer, &h1, mask, train)
                    } else {
                        self.feed_forward(layer, &h1, train)
                    }
                }
            };
        }
        if n == 0 {
            if let Keep::Rows(rows) = keep {
                return take_rows(&h, rows);
            }
        }
        h
    }

    /// The last layer for one query position per row: `[B, d]`.
    fn last_layer_rows(
        &self,
        layer: &Layer,
        h: &Tensor,
        inputs: &LayerInputs,
        rows: &Tensor,
        train: bool,
    ) -> Tensor {
        let x = self.rms_norm(h, &layer.input_layernorm);
        let a = self.attention(
            layer,
            &x,
            Some(rows),
            inputs.mask,
            inputs.cos,
            inputs.sin,
            train,
        );
        let h1 =
            take_rows(h, rows) + self.rms_norm(&a.squeeze_dim(1), &layer.post_attention_layernorm);
        self.feed_forward(layer, &h1, train)
    }
}
