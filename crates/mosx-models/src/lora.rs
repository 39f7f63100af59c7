//! LoRA (low-rank adaptation) of one linear projection: `y = W x + (alpha / r) * B A drop(x)`,
//! and [`Adapters`], a layer's adapters on the projections a [`LoraConfig`]'s `targets` name.
//!
//! Invariants:
//! * `A` is `[r, in]` (uniform in ±1/sqrt(in), as peft initialises it) and `B` is `[out, r]`,
//!   initialised to zero, so an untrained adapter leaves the base output unchanged.
//! * The adapter's variables are named `<path>.lora_A` and `<path>.lora_B`, created in
//!   whatever `VarStore` the given path belongs to (never the base model's store), so
//!   they stay trainable when the base is frozen.
//! * The low-rank update is computed in the input's dtype; dropout acts only when `train`.
//! * Trainable parameters per adapted projection `in → out`: `r · (in + out)`.

use tch::nn::{self, Init};
use tch::Tensor;

use crate::backbone::{LoraConfig, Target};
use crate::error::{CheckpointError, ModelError};

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

/// One layer's adapters, at most one per [`Target`].
#[derive(Debug, Default)]
pub struct Adapters([Option<Lora>; 7]);

impl Adapters {
    /// The adapter on `t`, if there is one.
    pub fn get(&self, t: Target) -> Option<&Lora> {
        self.0[t.index()].as_ref()
    }

    /// `base_out` of projection `t` on `x`, through its adapter when there is one.
    pub fn apply(&self, t: Target, x: &Tensor, base_out: Tensor, train: bool) -> Tensor {
        adapt(self.get(t), x, base_out, train)
    }

    /// Creates the adapters `cfg.targets` names for one layer: `dims(t)` is projection `t`'s
    /// `(in, out)` (`None`: the architecture has none) and `path(t)` the path its variables
    /// go under. A named target the layer lacks is an error; `all-linear` skips it.
    pub fn create<'p>(
        &mut self,
        cfg: LoraConfig,
        model: &str,
        dims: impl Fn(Target) -> Option<(i64, i64)>,
        path: impl Fn(Target) -> nn::Path<'p>,
    ) -> Result<(), ModelError> {
        for t in cfg.targets.iter() {
            match dims(t) {
                Some((i, o)) => self.0[t.index()] = Some(Lora::new(&path(t), i, o, cfg)),
                None if cfg.targets.is_all_linear() => {}
                None => {
                    let has: Vec<&str> = Target::ALL
                        .into_iter()
                        .filter(|x| dims(*x).is_some())
                        .map(Target::name)
                        .collect();
                    return Err(CheckpointError::LoraTarget {
                        target: t.name().into(),
                        model: model.into(),
                        has: has.join(", "),
                    }
                    .into());
                }
            }
        }
        Ok(())
    }
}

/// The shapes of a decoder layer's projections (Llama family, Gemma-3): q `d → H·hd`, k and
/// v `d → KV·hd`, o `H·hd → d`, gate and up `d → ff`, down `ff → d`.
#[derive(Debug, Clone, Copy)]
pub struct DecoderDims {
    pub d: i64,
    pub q_out: i64,
    pub kv_out: i64,
    pub ff: i64,
}

impl DecoderDims {
    /// `(in, out)` of projection `t`.
    pub fn of(self, t: Target) -> Option<(i64, i64)> {
        let DecoderDims {
            d,
            q_out,
            kv_out,
            ff,
        } = self;
        Some(match t {
            Target::Q => (d, q_out),
            Target::K | Target::V => (d, kv_out),
            Target::O => (q_out, d),
            Target::Gate | Target::Up => (d, ff),
            Target::Down => (ff, d),
        })
    }

    /// Layer `layer`'s path of projection `t` under `base` (`layers.<i>.self_attn.q_proj`,
    /// `layers.<i>.mlp.gate_proj`), the names of the checkpoint and of peft.
    pub fn path<'a>(base: &nn::Path<'a>, layer: usize, t: Target) -> nn::Path<'a> {
        let l = base.sub("layers").sub(layer);
        let module = if t.is_attention() { "self_attn" } else { "mlp" };
        l.sub(module).sub(format!("{}_proj", t.name()))
    }
}
