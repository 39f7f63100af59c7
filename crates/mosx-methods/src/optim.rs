//! The trainer's own optimizers: AdamW and Adafactor, with their whole state exposed as
//! named tensors so that a run can be checkpointed and resumed exactly.
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

#[cfg(feature = "torch")]
use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
#[cfg(feature = "torch")]
use tch::{COptimizer, Kind, TchError, Tensor};

/// Which update rule an [`Optimizer`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Shazeer & Stern's Adafactor, as Hugging Face transformers implements it (the paper's choice).
    Adafactor,
    /// Loshchilov & Hutter's AdamW, as `torch.optim.AdamW` implements it.
    Adamw,
}

impl OptimizerKind {
    /// The prefix of this kind's state tensor names.
    #[cfg(feature = "torch")]
    fn prefix(self) -> &'static str {
        match self {
            OptimizerKind::Adafactor => "adafactor",
            OptimizerKind::Adamw => "adamw",
        }
    }

    /// `beta1` when the configuration leaves it out: AdamW's 0.9; none (0.0) for Adafactor.
    fn default_beta1(self) -> f64 {
        match self {
            OptimizerKind::Adafactor => 0.0,
            OptimizerKind::Adamw => 0.9,
        }
    }
}

/// The optimizer's hyper-parameters (the learning rate is given to each [`Optimizer::step`]).
///
/// Every field may be left out of a serialized configuration. `beta1`'s default depends on
/// `kind` (AdamW 0.9, Adafactor 0.0 = no first moment); every other field is read by one
/// kind only, so its default is that kind's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawOptimConfig")]
pub struct OptimConfig {
    pub kind: OptimizerKind,
    /// Weight decay (both kinds; decoupled in both).
    pub weight_decay: f64,
    /// AdamW's first-moment decay; for Adafactor, 0.0 means no first moment.
    pub beta1: f64,
    /// AdamW's second-moment decay.
    pub beta2: f64,
    /// AdamW's denominator term.
    pub eps: f64,
    /// Adafactor's regulariser of the squared gradient.
    pub eps1: f64,
    /// Adafactor's floor of the parameter scale (with `scale_parameter`).
    pub eps2: f64,
    /// Adafactor's update clipping threshold `d`.
    pub clip_threshold: f64,
    /// Adafactor's second-moment schedule: `beta2_t = 1 - t^decay_rate`.
    pub decay_rate: f64,
    /// Adafactor: multiply the learning rate by `max(eps2, RMS(p))`.
    pub scale_parameter: bool,
}

impl OptimConfig {
    /// The defaults for `kind`.
    pub fn for_kind(kind: OptimizerKind) -> OptimConfig {
        OptimConfig {
            kind,
            weight_decay: 0.0,
            beta1: kind.default_beta1(),
            beta2: 0.999,
            eps: 1e-8,
            eps1: 1e-30,
            eps2: 1e-3,
            clip_threshold: 1.0,
            decay_rate: -0.8,
            scale_parameter: false,
        }
    }

    /// Checks that every value read by `kind` is in its domain.
    pub fn validate(&self) -> Result<(), OptimError> {
        let bad = |field: &'static str, value: f64, expected: &'static str| {
            Err(OptimError::InvalidConfig {
                field,
                value,
                expected,
            })
        };
        let unit = |v: f64| (0.0..1.0).contains(&v);
        let nonneg = |v: f64| v.is_finite() && v >= 0.0;
        if !nonneg(self.weight_decay) {
            return bad("weight_decay", self.weight_decay, "finite and >= 0");
        }
        if !unit(self.beta1) {
            return bad("beta1", self.beta1, "in [0, 1)");
        }
        match self.kind {
            OptimizerKind::Adamw => {
                if !unit(self.beta2) {
                    return bad("beta2", self.beta2, "in [0, 1)");
                }
                if !nonneg(self.eps) {
                    return bad("eps", self.eps, "finite and >= 0");
                }
            }
            OptimizerKind::Adafactor => {
                if !nonneg(self.eps1) {
                    return bad("eps1", self.eps1, "finite and >= 0");
                }
                if !nonneg(self.eps2) {
                    return bad("eps2", self.eps2, "finite and >= 0");
                }
                if !(self.clip_threshold.is_finite() && self.clip_threshold > 0.0) {
                    return bad("clip_threshold", self.clip_threshold, "finite and > 0");
                }
                if !(self.decay_rate.is_finite() && self.decay_rate <= 0.0) {
                    return bad("decay_rate", self.decay_rate, "finite and <= 0");
                }
            }
        }
        Ok(())
    }
}

impl Default for OptimConfig {
    /// Adafactor with its defaults (the paper's optimizer).
    fn default() -> Self {
        OptimConfig::for_kind(OptimizerKind::Adafactor)
    }
}

/// The serialized form: `beta1` stays optional until `kind` is known.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOptimConfig {
    #[serde(default = "default_kind")]
    kind: OptimizerKind,
    weight_decay: Option<f64>,
    beta1: Option<f64>,
    beta2: Option<f64>,
    eps: Option<f64>,
    eps1: Option<f64>,
    eps2: Option<f64>,
    clip_threshold: Option<f64>,
    decay_rate: Option<f64>,
    scale_parameter: Option<bool>,
}

fn default_kind() -> OptimizerKind {
    OptimizerKind::Adafactor
}

impl TryFrom<RawOptimConfig> for OptimConfig {
    type Error = OptimError;

    fn try_from(raw: RawOptimConfig) -> Result<Self, Self::Error> {
        let d = OptimConfig::for_kind(raw.kind);
        let cfg = OptimConfig {
            kind: raw.kind,
            weight_decay: raw.weight_decay.unwrap_or(d.weight_decay),
            beta1: raw.beta1.unwrap_or(d.beta1),
            beta2: raw.beta2.unwrap_or(d.beta2),
            eps: raw.eps.unwrap_or(d.eps),
            eps1: raw.eps1.unwrap_or(d.eps1),
            eps2: raw.eps2.unwrap_or(d.eps2),
            clip_threshold: raw.clip_threshold.unwrap_or(d.clip_threshold),
            decay_rate: raw.decay_rate.unwrap_or(d.decay_rate),
            scale_parameter: raw.scale_parameter.unwrap_or(d.scale_parameter),
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// What can go wrong building an optimizer or restoring its state.
#[derive(Debug, thiserror::Error)]
pub enum OptimError {
    #[error("optimizer config: `{field}` is {value}, expected {expected}")]
    InvalidConfig {
        field: &'static str,
        value: f64,
        expected: &'static str,
    },
    #[error("parameter `{name}` is given twice")]
    DuplicateParam { name: String },
    #[cfg(feature = "torch")]
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
    #[cfg(feature = "torch")]
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
    #[cfg(feature = "torch")]
    #[error(transparent)]
    Torch(#[from] TchError),
}

#[cfg(feature = "torch")]
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

#[cfg(feature = "torch")]
/// Adafactor's second-moment estimate.
enum SecondMoment {
    /// Running means of `grad² + eps1` over the last dim (`row`, shape `[..., R]`) and the
    /// second-to-last dim (`col`, shape `[..., C]`).
    Factored { row: Tensor, col: Tensor },
    /// Running mean of `grad² + eps1` (parameters of fewer than two dims).
    Full { v: Tensor },
}

#[cfg(feature = "torch")]
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

#[cfg(feature = "torch")]
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

#[cfg(feature = "torch")]
/// AdamW or Adafactor over a fixed, named list of parameters. See the module doc.
pub struct Optimizer {
    cfg: OptimConfig,
    slots: Vec<Slot>,
    /// A libtorch optimizer holding the same parameters, used only for its `zero_grad`,
    /// which resets grads to undefined: tch has no other way to undefine a grad.
    grad_reset: COptimizer,
}

#[cfg(feature = "torch")]
/// `s = beta * s + (1 - beta) * x`, in place: every running mean of both optimizers.
fn ema(s: &mut Tensor, x: &Tensor, beta: f64) {
    *s *= beta;
    *s += x * (1.0 - beta);
}

#[cfg(feature = "torch")]
/// Root mean square of all elements, as a 0-d tensor.
fn rms(t: &Tensor) -> Tensor {
    t.norm() / (t.numel() as f64).sqrt()
}

#[cfg(feature = "torch")]
/// Adafactor's effective learning rate: a plain number, or a 0-d tensor when it carries
/// the parameter scale (kept on the device, in the state kind, as the reference does).
enum Lr {
    Plain(f64),
    Scaled(Tensor),
}

#[cfg(feature = "torch")]
impl Lr {
    /// `t * (k * lr)`.
    fn times(&self, t: &Tensor, k: f64) -> Tensor {
        match self {
            Lr::Plain(lr) => t * (k * lr),
            Lr::Scaled(lr) => t * (lr * k),
        }
    }
}

#[cfg(feature = "torch")]
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

#[cfg(feature = "torch")]
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

#[cfg(feature = "torch")]
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
        let prefix = self.cfg.kind.prefix();
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
        let prefix = self.cfg.kind.prefix();
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
        let ours =
            [OptimizerKind::Adafactor, OptimizerKind::Adamw].map(|k| format!("{}.", k.prefix()));
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
