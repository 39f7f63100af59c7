//! Numerics shared by the backbones and the training methods, written once.

use tch::{Kind, Tensor};

use crate::error::{CheckpointError, ModelError};

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

/// Weights of `model` can be held in `kind`: a floating kind (f32, bf16, f16, f64), else
/// an error naming the model and the kind.
pub fn check_float_kind(model: &str, kind: Kind) -> Result<(), ModelError> {
    match kind {
        Kind::Float | Kind::BFloat16 | Kind::Half | Kind::Double => Ok(()),
        other => Err(CheckpointError::WeightKind {
            model: model.into(),
            kind: format!("{other:?}"),
        }
        .into()),
    }
}
