//! LoRA (low-rank adaptation) of one linear projection: `y = W x + (alpha / r) * B A drop(x)`.
//!
//! Invariants:
//! * `A` is `[r, in]` (uniform in ±1/sqrt(in), as peft initialises it) and `B` is `[out, r]`,
//!   initialised to zero, so an untrained adapter leaves the base output unchanged.
//! * The adapter's variables are named `<path>.lora_A` and `<path>.lora_B`, created in
//!   whatever `VarStore` the given path belongs to (never the base model's store), so
//!   they stay trainable when the base is frozen.
//! * The low-rank update is computed in the input's dtype; dropout acts only when `train`.

use tch::nn::{self, Init};
use tch::Tensor;

use crate::backbone::LoraConfig;

/// One adapter on a linear projection `in_dim -> out_dim`.
#[derive(Debug)]
pub struct Lora {
    /// `[rank, in_dim]`.
    pub a: Tensor,
    /// `[out_dim, rank]`, zero at creation.
    pub b: Tensor,
    /// `alpha / rank`.
    pub scale: f64,
    /// Dropout probability applied to the adapter's input during training.
    pub dropout: f64,
}

impl Lora {
    /// Creates `lora_A` / `lora_B` under `path`.
    pub fn new(path: &nn::Path, in_dim: i64, out_dim: i64, cfg: LoraConfig) -> Lora {
        let rank = cfg.rank.max(1);
        // peft: kaiming_uniform_(a = sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)).
        let bound = 1.0 / (in_dim.max(1) as f64).sqrt();
        let a = path.var(
            "lora_A",
            &[rank, in_dim],
            Init::Uniform {
                lo: -bound,
                up: bound,
            },
        );
        let b = path.var("lora_B", &[out_dim, rank], Init::Const(0.0));
        Lora {
            a,
            b,
            scale: cfg.alpha / rank as f64,
            dropout: cfg.dropout,
        }
    }

    /// `base_out + scale * B(A(dropout(x)))`; `x` is `[.., in_dim]`, `base_out` `[.., out_dim]`.
    pub fn apply(&self, x: &Tensor, base_out: Tensor, train: bool) -> Tensor {
        let kind = x.kind();
        let x = if train && self.dropout > 0.0 {
            x.dropout(self.dropout, true)
        } else {
            x.shallow_clone()
        };
        let a = self.a.to_kind(kind);
        let b = self.b.to_kind(kind);
        let delta = x.linear::<Tensor>(&a, None).linear::<Tensor>(&b, None);
        base_out + delta * self.scale
    }
}

/// `base_out` through `lora` when there is one (see [`Lora::apply`]), else unchanged.
pub fn adapt(lora: Option<&Lora>, x: &Tensor, base_out: Tensor, train: bool) -> Tensor {
    match lora {
        Some(l) => l.apply(x, base_out, train),
        None => base_out,
    }
}
