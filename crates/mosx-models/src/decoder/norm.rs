//! The RMS normalisation every decoder norm starts from: `x / sqrt(mean(x^2) + eps)` over
//! the last dimension, computed in f32 whatever `x`'s kind (as transformers' RMSNorms do);
//! each family applies its own scale (Gemma `(1 + w)` in f32, Llama `w` after the cast back).

use tch::{Kind, Tensor};

/// `x / sqrt(mean(x^2, -1) + eps)` in f32.
pub fn rms_normalized(x: &Tensor, eps: f64) -> Tensor {
    let xf = x.to_kind(Kind::Float);
    let var = xf.pow_tensor_scalar(2).mean_dim(-1, true, Kind::Float);
    &xf * (var + eps).rsqrt()
}
