//! The T5 encoder and decoder stacks ([`T5Stack`]): blocks, final layer norm, and the
//! additive attention bias they share.
//!
//! Invariants:
//! * The position bias is computed once per forward by the first block and added, with
//!   the key padding mask (and, in the decoder, the causal mask), to every block's
//!   self-attention; masked positions get the kind's most negative finite value.
//! * Cross-attention sees the encoder output with its own key padding mask, no position
//!   bias.

use tch::nn;
use tch::{Kind, Tensor};

use super::attention::T5Attention;
use super::config::{Activation, T5Config};
use super::dropout;
use super::layers::{T5Block, T5LayerFF, T5LayerNorm};
use crate::numerics::min_value;

/// The encoder or the decoder stack.
#[derive(Debug)]
pub struct T5Stack {
    blocks: Vec<T5Block>,
    final_layer_norm: T5LayerNorm,
    decoder: bool,
    dropout: f64,
}

impl T5Stack {
    /// `path` is `encoder` or `decoder`.
    pub fn new(path: &nn::Path, cfg: &T5Config, ff: (Activation, bool), decoder: bool) -> T5Stack {
        let n = if decoder {
            cfg.num_decoder_layers
        } else {
            cfg.num_layers
        };
        let block = path / "block";
        let blocks = (0..n)
            .map(|i| T5Block::new(&(&block / i), cfg, ff, i == 0, decoder))
            .collect();
        T5Stack {
            blocks,
            final_layer_norm: T5LayerNorm::new(&(path / "final_layer_norm"), cfg),
            decoder,
            dropout: cfg.dropout_rate,
        }
    }

    /// Final hidden states `[B, T, d]` of `embeds` `[B, T, d]`. `mask` `[B, T]` (1 = real)
    /// applies to keys; the decoder is causal on top. `encoder` is the encoder's output
    /// and its mask, for the decoder's cross-attention.
    pub fn forward(
        &self,
        embeds: &Tensor,
        mask: Option<&Tensor>,
        encoder: Option<(&Tensor, &Tensor)>,
        train: bool,
    ) -> Tensor {
        let kind = embeds.kind();
        let device = embeds.device();
        let t = embeds.size()[1];
        let mut bias = match self
            .blocks
            .first()
            .and_then(|b| b.self_attention.attention.compute_bias(t, t))
        {
            Some(b) => b.to_kind(kind),
            None => Tensor::zeros([1, 1, t, t], (kind, device)),
        };
        if self.decoder {
            let future = Tensor::ones([t, t], (kind, device)).triu(1);
            bias = bias + (future * min_value(kind)).view([1, 1, t, t]);
        }
        if let Some(mask) = mask {
            bias = bias + key_mask_bias(mask, kind);
        }
        let enc = encoder.map(|(h, m)| (h, key_mask_bias(m, kind)));
        let mut h = dropout(embeds.shallow_clone(), self.dropout, train);
        for block in &self.blocks {
            h = block.forward(&h, &bias, enc.as_ref().map(|(e, b)| (*e, b)), train);
        }
        dropout(self.final_layer_norm.forward(&h), self.dropout, train)
    }

    /// Every block's feed-forward with its `DenseReluDense` path below `block`.
    pub(super) fn feed_forwards_mut(&mut self) -> Vec<(String, &mut T5LayerFF)> {
        let sub = if self.decoder { 2 } else { 1 };
        self.blocks
            .iter_mut()
            .enumerate()
            .map(|(i, b)| (format!("{i}.layer.{sub}.DenseReluDense"), &mut b.ff))
            .collect()
    }

    pub(super) fn attentions_mut(&mut self) -> Vec<(String, &mut T5Attention)> {
        let mut out = Vec::new();
        for (i, block) in self.blocks.iter_mut().enumerate() {
            out.push((
                format!("{i}.layer.0.SelfAttention"),
                &mut block.self_attention.attention,
            ));
            if let Some(cross) = block.cross_attention.as_mut() {
                out.push((format!("{i}.layer.1.EncDecAttention"), &mut cross.attention));
            }
        }
        out
    }
}

/// `[B, T]` 0/1 mask → additive `[B, 1, 1, T]` bias (0 for real keys, kind min for padding).
fn key_mask_bias(mask: &Tensor, kind: Kind) -> Tensor {
    let size = mask.size();
    mask.eq(0).to_kind(kind).view([size[0], 1, 1, size[1]]) * min_value(kind)
}
