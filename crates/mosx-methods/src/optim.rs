//! The trainer's own optimizers: AdamW and Adafactor, with their whole state exposed as
//! named tensors so that a run can be checkpointed and resumed exactly. Their configuration
//! ([`OptimizerKind`], [`OptimConfig`]) is tch-free and lives in `mosx_config::optim`,
//! re-exported here.
//!
//! tch's `nn::Optimizer` hides its state, so a resumed run could not continue bit for bit;
//! these optimizers keep every buffer in plain tensors owned here.
//!
//! Semantics:
//! * AdamW is `torch.optim.AdamW`: decoupled weight decay (`p *= 1 - lr*wd`), bias-corrected
//!   moments, `eps` added to `sqrt(v_hat)`.
//! * Adafactor is Hugging Face transformers' `Adafactor` with an explicit `lr`
//!   (`relative_step=False, warmup_init=False`), after Shazeer & Stern (2018): factored
//!   second moments (row and column means of `grad² + eps1`, over the last two dims) for
//!   parameters of two dims or more, a full one otherwise; `beta2_t = 1 - t^decay_rate`;
//!   the update `grad / sqrt(v_hat)` is divided by `max(1, RMS(update) / clip_threshold)`,
//!   scaled by the learning rate (times `max(eps2, RMS(p))` with `scale_parameter`), then
//!   averaged into a first moment when `beta1 > 0`; weight decay is `p -= wd*lr*p`.
//!
//! Invariants:
//! * Every parameter has its state from construction on (zeros and step 0, which is what
//!   both reference implementations start from), so [`Optimizer::state`] always names the
//!   same tensors for a given configuration and parameter list, and
//!   [`Optimizer::load_state`] demands all of them.
//! * A parameter whose `.grad()` is undefined at [`Optimizer::step`] is skipped entirely:
//!   neither it, nor its buffers, nor its step count change. [`Optimizer::zero_grad`]
//!   undefines the grads (PyTorch's `set_to_none=True`), so "got no gradient this step"
//!   and "undefined grad" coincide.
//! * State tensors live on their parameter's device in f32, or in f64 for f64 parameters
//!   (never below f32: f16/bf16 parameters are updated through an f32 copy that is written
//!   back). The step count is per parameter.
//! * `state()` followed by `load_state()` into an optimizer built with the same
//!   configuration over parameters of the same values restores it exactly: the following
//!   steps give bitwise-equal parameters on CPU.

use std::collections::{HashMap, HashSet};

use tch::{COptimizer, Kind, TchError, Tensor};

pub use mosx_config::optim::{OptimConfig, OptimConfigError, OptimizerKind};

/// The prefix of `kind`'s state tensor names.
fn state_prefix(kind: OptimizerKind) -> &'static str {
    match kind {
        OptimizerKind::Adafactor => "adafactor",
        OptimizerKind::Adamw => "adamw",
    }
}

/// What can go wrong building an optimizer or restoring its state.
#[derive(Debug, thiserror::Error)]
pub enum OptimError {
    #[error(transparent)]
    InvalidConfig(#[from] OptimConfigError),
    #[error("parameter `{name}` is given twice")]
    DuplicateParam { name: String },
    #[error("parameter `{name}` has kind {kind:?}: only floating-point tensors can be optimised")]
    NotFloat { name: String, kind: Kind },
    #[error("parameter `{name}` does not require grad, so it would never be trained")]
    NotTrainable { name: String },
    #[error("optimizer state tensor `{name}` is missing")]
    MissingState { name: String },
    #[error("optimizer state tensor `{name}` has shape {found:?}, expected {expected:?}")]
    StateShape {
        name: String,
        expected: Vec<i64>,
        found: Vec<i64>,
    },
    #[error("optimizer state tensor `{name}` has kind {found:?}, expected {expected:?}")]
    StateKind {
        name: String,
        expected: Kind,
        found: Kind,
    },
    #[error("optimizer state tensor `{name}` holds step count {step}, expected >= 0")]
    NegativeStep { name: String, step: i64 },
    #[error(
        "optimizer state tensor `{name}` belongs to no parameter or buffer of this optimizer \
         (written with another configuration or parameter list?)"
    )]
    UnexpectedState { name: String },
    #[error(transparent)]
    Torch(#[from] TchError),
}

/// A parameter's optimizer buffers (besides its step count).
enum Buffers {
    Adamw {
        m: Tensor,
        v: Tensor,
    },
    Adafactor {
        second: SecondMoment,
        /// The first moment, present when `beta1 > 0`.
        m: Option<Tensor>,
    },
}

/// Adafactor's second-moment estimate.
enum SecondMoment {
    /// Running means of `grad² + eps1` over the last dim (`row`, shape `[..., R]`) and the
    /// second-to-last dim (`col`, shape `[..., C]`).
    Factored { row: Tensor, col: Tensor },
    /// Running mean of `grad² + eps1` (parameters of fewer than two dims).
    Full { v: Tensor },
}

impl Buffers {
    fn new(cfg: &OptimConfig, param: &Tensor, kind: Kind) -> Buffers {
        let zeros = |shape: &[i64]| Tensor::zeros(shape, (kind, param.device()));
        let shape = param.size();
        match cfg.kind {
            OptimizerKind::Adamw => Buffers::Adamw {
                m: zeros(&shape),
                v: zeros(&shape),
            },
            OptimizerKind::Adafactor => {
                let second = match shape.len() {
                    0 | 1 => SecondMoment::Full { v: zeros(&shape) },
                    n => {
                        let row = &shape[..n - 1];
                        let col: Vec<i64> = shape[..n - 2]
                            .iter()
                            .chain(&shape[n - 1..])
                            .copied()
                            .collect();
                        SecondMoment::Factored {
                            row: zeros(row),
                            col: zeros(&col),
                        }
                    }
                };
                let m = (cfg.beta1 > 0.0).then(|| zeros(&shape));
                Buffers::Adafactor { second, m }
            }
        }
    }

    /// The buffers with their name suffixes, sharing storage with the live state.
    fn named(&self) -> Vec<(&'static str, Tensor)> {
        match self {
            Buffers::Adamw { m, v } => vec![("m", m.shallow_clone()), ("v", v.shallow_clone())],
            Buffers::Adafactor { second, m } => {
                let mut out = match second {
                    SecondMoment::Factored { row, col } => {
                        vec![("row", row.shallow_clone()), ("col", col.shallow_clone())]
                    }
                    SecondMoment::Full { v } => vec![("v", v.shallow_clone())],
                };
                out.extend(m.iter().map(|m| ("m", m.shallow_clone())));
                out
            }
        }
    }
}

/// One parameter with its state.
struct Slot {
    name: String,
    param: Tensor,
    /// The kind the update is computed and the buffers are kept in.
    state_kind: Kind,
    /// Updates applied so far.
    step: i64,
    buffers: Buffers,
}

/// AdamW or Adafactor over a fixed, named list of parameters. See the module doc.
pub struct Optimizer {
    cfg: OptimConfig,
    slots: Vec<Slot>,
    /// A libtorch optimizer holding the same parameters, used only for its `zero_grad`,
    /// which resets grads to undefined: tch has no other way to undefine a grad.
    grad_reset: COptimizer,
}

/// `s = beta * s + (1 - beta) * x`, in place: every running mean of both optimizers.
fn ema(s: &mut Tensor, x: &Tensor, beta: f64) {
    *s *= beta;
    *s += x * (1.0 - beta);
}

/// Root mean square of all elements, as a 0-d tensor.
fn rms(t: &Tensor) -> Tensor {
    t.norm() / (t.numel() as f64).sqrt()
}

/// Adafactor's effective learning rate: a plain number, or a 0-d tensor when it carries
/// the parameter scale (kept on the device, in the state kind, as the reference does).
enum Lr {
    Plain(f64),
    Scaled(Tensor),
}

impl Lr {
    /// `t * (k * lr)`.
    fn times(&self, t: &Tensor, k: f64) -> Tensor {
        match self {
            Lr::Plain(lr) => t * (k * lr),
            Lr::Scaled(lr) => t * (lr * k),
        }
    }
}

/// One AdamW update of `p` (in the state kind) from `g`; `t` is the 1-based step.
fn adamw_update(
    cfg: &OptimConfig,
    lr: f64,
    t: i64,
    p: &mut Tensor,
    g: &Tensor,
    m: &mut Tensor,
    v: &mut Tensor,
) {
    if cfg.weight_decay != 0.0 {
        *p *= 1.0 - lr * cfg.weight_decay;
    }
    ema(m, g, cfg.beta1);
    ema(v, &g.square(), cfg.beta2);
    let bias1 = 1.0 - cfg.beta1.powf(t as f64);
    let bias2 = 1.0 - cfg.beta2.powf(t as f64);
    let denom = v.sqrt() / bias2.powf(0.5) + cfg.eps;
    *p += (&*m * (-lr / bias1)) / denom;
}

/// One Adafactor update of `p` (in the state kind) from `g`; `t` is the 1-based step.
fn adafactor_update(
    cfg: &OptimConfig,
    lr: f64,
    t: i64,
    p: &mut Tensor,
    g: &Tensor,
    second: &mut SecondMoment,
    m: Option<&mut Tensor>,
) {
    let lr = if cfg.scale_parameter {
        Lr::Scaled(rms(p).clamp_min(cfg.eps2) * lr)
    } else {
        Lr::Plain(lr)
    };
    let beta2t = 1.0 - (t as f64).powf(cfg.decay_rate);
    let sq = g.square() + cfg.eps1;
    let update = match second {
        SecondMoment::Factored { row, col } => {
            ema(row, &sq.mean_dim(-1, false, None), beta2t);
            ema(col, &sq.mean_dim(-2, false, None), beta2t);
            // v_hat[i, j] = row[i] * col[j] / mean(row): the rank-1 approximation.
            let r = (&*row / row.mean_dim(-1, true, None)).rsqrt().unsqueeze(-1);
            let c = col.unsqueeze(-2).rsqrt();
            r * c * g
        }
        SecondMoment::Full { v } => {
            ema(v, &sq, beta2t);
            v.rsqrt() * g
        }
    };
    let clip = (rms(&update) / cfg.clip_threshold).clamp_min(1.0);
    let update = update / clip;
    let mut update = lr.times(&update, 1.0);
    if let Some(m) = m {
        ema(m, &update, cfg.beta1);
        update = m.shallow_clone();
    }
    if cfg.weight_decay != 0.0 {
        let decay = lr.times(p, -cfg.weight_decay);
        *p += decay;
    }
    *p -= update;
}

impl Optimizer {
    /// An optimizer over `params`: named trainable (floating-point, requires-grad) tensors,
    /// in a fixed order, with fresh state. Errors on an invalid config, a repeated name, or a
    /// parameter that cannot be trained.
    pub fn new(cfg: OptimConfig, params: Vec<(String, Tensor)>) -> Result<Optimizer, OptimError> {
        cfg.validate()?;
        let mut seen = HashSet::new();
        let mut grad_reset = COptimizer::sgd(0.0, 0.0, 0.0, 0.0, false)?;
        let mut slots = Vec::with_capacity(params.len());
        for (name, param) in params {
            if !seen.insert(name.clone()) {
                return Err(OptimError::DuplicateParam { name });
            }
            if !param.is_floating_point() {
                let kind = param.kind();
                return Err(OptimError::NotFloat { name, kind });
            }
            if !param.requires_grad() {
                return Err(OptimError::NotTrainable { name });
            }
            let state_kind = if param.kind() == Kind::Double {
                Kind::Double
            } else {
                Kind::Float
            };
            grad_reset.add_parameters(&param, 0)?;
            let buffers = Buffers::new(&cfg, &param, state_kind);
            slots.push(Slot {
                name,
                param,
                state_kind,
                step: 0,
                buffers,
            });
        }
        Ok(Optimizer {
            cfg,
            slots,
            grad_reset,
        })
    }

    pub fn config(&self) -> &OptimConfig {
        &self.cfg
    }

    /// The parameters with their names, in order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.slots.iter().map(|s| (s.name.as_str(), &s.param))
    }

    /// The number of updates applied to parameter `name`, if it is one of ours.
    pub fn step_count(&self, name: &str) -> Option<i64> {
        self.slots.iter().find(|s| s.name == name).map(|s| s.step)
    }

    /// One update with learning rate `lr` from each parameter's `.grad()`, in place and
    /// without recording gradients. A parameter whose grad is undefined is skipped
    /// entirely (its state and step count unchanged).
    pub fn step(&mut self, lr: f64) {
        let cfg = &self.cfg;
        tch::no_grad(|| {
            for slot in &mut self.slots {
                let grad = slot.param.grad();
                if !grad.defined() {
                    continue;
                }
                // `to_kind` may alias the grad itself: it is only read.
                let grad = grad.to_kind(slot.state_kind);
                let in_place = slot.param.kind() == slot.state_kind;
                let mut p = if in_place {
                    slot.param.shallow_clone()
                } else {
                    slot.param.to_kind(slot.state_kind)
                };
                slot.step += 1;
                match &mut slot.buffers {
                    Buffers::Adamw { m, v } => {
                        adamw_update(cfg, lr, slot.step, &mut p, &grad, m, v)
                    }
                    Buffers::Adafactor { second, m } => {
                        adafactor_update(cfg, lr, slot.step, &mut p, &grad, second, m.as_mut())
                    }
                }
                if !in_place {
                    slot.param.copy_(&p);
                }
            }
        })
    }

    /// Resets every parameter's grad to undefined (PyTorch's `zero_grad(set_to_none=True)`).
    pub fn zero_grad(&mut self) -> Result<(), OptimError> {
        Ok(self.grad_reset.zero_grad()?)
    }

    /// The global L2 norm of the defined grads (0 when none is defined), computed in f64.
    pub fn grad_norm(&self) -> f64 {
        tch::no_grad(|| {
            let norms: Vec<Tensor> = self
                .slots
                .iter()
                .map(|s| s.param.grad())
                .filter(Tensor::defined)
                .map(|g| {
                    g.norm_scalaropt_dtype(2, Kind::Double)
                        .to_device(tch::Device::Cpu)
                })
                .collect();
            if norms.is_empty() {
                0.0
            } else {
                Tensor::stack(&norms, 0).norm().double_value(&[])
            }
        })
    }

    /// Rescales the defined grads in place so that their global L2 norm is at most
    /// `max_norm` (by `max_norm / (norm + 1e-6)`, as `torch.nn.utils.clip_grad_norm_`), and
    /// returns the norm before clipping. A non-finite norm is returned and nothing is
    /// rescaled.
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> f64 {
        let norm = self.grad_norm();
        if norm.is_finite() && norm > max_norm {
            let coef = max_norm / (norm + 1e-6);
            tch::no_grad(|| {
                for slot in &self.slots {
                    let mut grad = slot.param.grad();
                    if grad.defined() {
                        grad *= coef;
                    }
                }
            });
        }
        norm
    }

    /// The whole state as named tensors, for a safetensors file: for each parameter `P`,
    /// `adamw.P.m`, `adamw.P.v`, or `adafactor.P.row` + `adafactor.P.col` (factored) or
    /// `adafactor.P.v`, plus `adafactor.P.m` when `beta1 > 0`; and `<kind>.P.step`, a 0-d
    /// i64 tensor. The buffers share storage with the live state: write them out before
    /// the next `step`.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let prefix = state_prefix(self.cfg.kind);
        let mut out = Vec::new();
        for slot in &self.slots {
            for (suffix, t) in slot.buffers.named() {
                out.push((format!("{prefix}.{}.{suffix}", slot.name), t));
            }
            out.push((
                format!("{prefix}.{}.step", slot.name),
                Tensor::from(slot.step),
            ));
        }
        out
    }

    /// Restores what [`Optimizer::state`] returned, by name. Everything is checked (present,
    /// same shape, same kind, no name under `adamw.` / `adafactor.` that this optimizer does
    /// not own) before anything is written, so on error the state is unchanged. Other names
    /// are ignored. Tensors may come from another device.
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<(), OptimError> {
        let prefix = state_prefix(self.cfg.kind);
        let lookup = |name: String, expected: &Tensor| -> Result<(Tensor, Tensor), OptimError> {
            let Some(src) = state.get(&name) else {
                return Err(OptimError::MissingState { name });
            };
            if src.size() != expected.size() {
                let (expected, found) = (expected.size(), src.size());
                return Err(OptimError::StateShape {
                    name,
                    expected,
                    found,
                });
            }
            if src.kind() != expected.kind() {
                let (expected, found) = (expected.kind(), src.kind());
                return Err(OptimError::StateKind {
                    name,
                    expected,
                    found,
                });
            }
            Ok((expected.shallow_clone(), src.shallow_clone()))
        };
        let mut copies = Vec::new();
        let mut steps = Vec::with_capacity(self.slots.len());
        let mut known = HashSet::new();
        for slot in &self.slots {
            for (suffix, dst) in slot.buffers.named() {
                let name = format!("{prefix}.{}.{suffix}", slot.name);
                known.insert(name.clone());
                copies.push(lookup(name, &dst)?);
            }
            let name = format!("{prefix}.{}.step", slot.name);
            known.insert(name.clone());
            let (_, src) = lookup(name.clone(), &Tensor::from(0i64))?;
            let step = src.f_int64_value(&[])?;
            if step < 0 {
                return Err(OptimError::NegativeStep { name, step });
            }
            steps.push(step);
        }
        let ours = [OptimizerKind::Adafactor, OptimizerKind::Adamw]
            .map(|k| format!("{}.", state_prefix(k)));
        let mut unexpected: Vec<&String> = state
            .keys()
            .filter(|n| ours.iter().any(|p| n.starts_with(p.as_str())) && !known.contains(*n))
            .collect();
        unexpected.sort();
        if let Some(name) = unexpected.first() {
            return Err(OptimError::UnexpectedState {
                name: (*name).clone(),
            });
        }
        tch::no_grad(|| -> Result<(), OptimError> {
            for (mut dst, src) in copies {
                dst.f_copy_(&src)?;
            }
            Ok(())
        })?;
        for (slot, step) in self.slots.iter_mut().zip(steps) {
            slot.step = step;
        }
        Ok(())
    }
}
