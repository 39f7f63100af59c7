//! Llama-family decoder layers: RMSNorm scaled by `w`, the SwiGLU MLP, and the forward
//! through every layer (`h + attn(norm(h))`, then `h1 + mlp(norm(h1))`).
//!
//! Invariants:
//! * RMSNorm normalises in f32 ([`rms_normalized`]), casts back to the input's kind,
//!   then multiplies by `w` (transformers' `LlamaRMSNorm`: `weight * hidden.to(dtype)`).
//! * Each layer takes the mask of its window (full or sliding) and the one RoPE table.
//! * The last layer computes only what is read ([`Keep`]), as for Gemma-3: one query row
//!   per sequence for the answer state, the MLP on real positions only for pooling.

use tch::Tensor;

use super::{Layer, Llama};
use crate::backbone::Target;
use crate::decoder::{
    additive_mask, map_real_positions, rms_normalized, rope_tables, take_rows, Keep,
};

impl Llama {
    /// `w * normalise(x).to(x.kind)`.
    pub(super) fn rms_norm(&self, x: &Tensor, w: &Tensor) -> Tensor {
        rms_normalized(x, self.cfg.rms_norm_eps).to_kind(x.kind()) * w
    }

    /// `down(silu(gate(x)) * up(x))`, each projection through its adapter if any.
    fn mlp(layer: &Layer, x: &Tensor, train: bool) -> Tensor {
        let lora = &layer.lora;
        let g = lora
            .apply(Target::Gate, x, layer.gate_proj.forward(x), train)
            .silu();
        let h = g * lora.apply(Target::Up, x, layer.up_proj.forward(x), train);
        lora.apply(Target::Down, &h, layer.down_proj.forward(&h), train)
    }

    /// `h1 + mlp(norm(h1))`.
    fn feed_forward(&self, layer: &Layer, h1: &Tensor, train: bool) -> Tensor {
        let x = self.rms_norm(h1, &layer.post_attention_layernorm);
        h1 + Self::mlp(layer, &x, train)
    }

    /// Last hidden state before the final norm: `[B, T, d]` for [`Keep::Real`], the
    /// kept rows' `[B, d]` for [`Keep::Rows`].
    pub(super) fn hidden(&self, embeds: &Tensor, mask: &Tensor, train: bool, keep: Keep) -> Tensor {
        let t = embeds.size()[1];
        let (cos, sin) = rope_tables(&self.inv_freq, t, self.kind);
        let full = additive_mask(mask, t, None, self.kind);
        let mut windowed: Vec<(i64, Tensor)> = Vec::new();
        for w in self.layers.iter().filter_map(|l| l.window) {
            if !windowed.iter().any(|(x, _)| *x == w) {
                windowed.push((w, additive_mask(mask, t, Some(w), self.kind)));
            }
        }
        let mut h = embeds.to_kind(self.kind);
        let n = self.layers.len();
        for (i, layer) in self.layers.iter().enumerate() {
            let m = match layer.window {
                None => &full,
                Some(w) => &windowed.iter().find(|(x, _)| *x == w).unwrap().1,
            };
            let x = self.rms_norm(&h, &layer.input_layernorm);
            let last = i + 1 == n;
            h = match keep {
                Keep::Rows(rows) if last => {
                    let a = self.attention(layer, &x, Some(rows), m, &cos, &sin, train);
                    self.feed_forward(layer, &(take_rows(&h, rows) + a.squeeze_dim(1)), train)
                }
                _ => {
                    let a = self.attention(layer, &x, None, m, &cos, &sin, train);
                    let h1 = &h + a;
                    if last {
                        map_real_positions(&h1, mask, |r| self.feed_forward(layer, r, train))
                    } else {
                        self.feed_forward(layer, &h1, train)
                    }
                }
            };
        }
        match keep {
            Keep::Rows(rows) if n == 0 => take_rows(&h, rows),
            _ => h,
        }
    }
}
