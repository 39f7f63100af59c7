//! Rotary position embeddings: inverse frequencies, cos/sin tables and the rotation.
//!
//! Invariants: inverse frequencies are `1 / theta^(arange(0, d, 2) / d)` in f32 (as
//! transformers' `_compute_default_rope_parameters`); tables are `[1, 1, T, d]` with the
//! angles duplicated over both halves; [`rotate`] is `x * cos + rotate_half(x) * sin`.

use tch::{Device, Kind, Tensor};

/// `1 / theta^(arange(0, d, 2) / d)` in f32: `[d/2]`.
pub fn default_inv_freq(theta: f64, head_dim: i64, device: Device) -> Tensor {
    let exps = Tensor::arange_start_step(0, head_dim, 2, (Kind::Float, device)) / head_dim as f64;
    Tensor::pow_scalar(theta, &exps).reciprocal()
}

/// `[1, 1, T, d]` cos and sin of positions `0..t` for `inv_freq` (`[d/2]`, f32), in `kind`.
pub fn rope_tables(inv_freq: &Tensor, t: i64, kind: Kind) -> (Tensor, Tensor) {
    let pos = Tensor::arange(t, (Kind::Float, inv_freq.device()));
    let freqs = pos.unsqueeze(1) * inv_freq.unsqueeze(0);
    let emb = Tensor::cat(&[&freqs, &freqs], -1);
    (
        emb.cos().to_kind(kind).view([1, 1, t, -1]),
        emb.sin().to_kind(kind).view([1, 1, t, -1]),
    )
}

/// `x * cos + rotate_half(x) * sin` of `[B, H, T, d]` heads.
pub fn rotate(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
    let half = x.size()[3] / 2;
    let x1 = x.narrow(3, 0, half);
    let x2 = x.narrow(3, half, half);
    let rotated = Tensor::cat(&[&(-x2), &x1], 3);
    x * cos + rotated * sin
}
