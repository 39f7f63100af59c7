//! Numerics shared by the backbones and the training methods, written once.

use tch::{Kind, Tensor};

/// The most negative finite value of a floating kind (Hugging Face's additive mask value).
pub fn min_value(kind: Kind) -> f64 {
    match kind {
        Kind::Half => -65504.0,
        Kind::BFloat16 => -3.389_531_389_251_535_5e38,
        Kind::Double => f64::MIN,
        _ => f32::MIN as f64,
    }
}

/// Masked mean over time of `[B, T, d]` with a `[B, T]` 0/1 mask (empty rows give 0),
/// computed in `hidden`'s kind.
pub fn masked_mean(hidden: &Tensor, mask: &Tensor) -> Tensor {
    let m = mask
        .to_device(hidden.device())
        .to_kind(hidden.kind())
        .unsqueeze(-1);
    let sum = (hidden * &m).sum_dim_intlist(1, false, hidden.kind());
    sum / m.sum_dim_intlist(1, false, hidden.kind()).clamp_min(1.0)
}
