//! The optimizers' configuration: which update rule and its hyper-parameters, as a training
//! config names them. The optimizers themselves (AdamW and Adafactor on tensors, their
//! semantics and state invariants) are mosx-methods' `optim`.
//!
//! Invariants:
//! * A deserialized [`OptimConfig`] is valid ([`OptimConfig::validate`] runs on every parse):
//!   a value out of its domain is an error naming the field, never a later NaN.
//! * Fields left out take the defaults of the configuration's `kind` (see [`OptimConfig`]).

use serde::{Deserialize, Serialize};

/// Which update rule an optimizer (mosx-methods' `optim::Optimizer`) applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Shazeer & Stern's Adafactor, as Hugging Face transformers implements it (the paper's choice).
    Adafactor,
    /// Loshchilov & Hutter's AdamW, as `torch.optim.AdamW` implements it.
    Adamw,
}

impl OptimizerKind {
    /// `beta1` when the configuration leaves it out: AdamW's 0.9; none (0.0) for Adafactor.
    fn default_beta1(self) -> f64 {
        match self {
            OptimizerKind::Adafactor => 0.0,
            OptimizerKind::Adamw => 0.9,
        }
    }
}

/// The optimizer's hyper-parameters (the learning rate is given to each `Optimizer::step`).
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
    pub fn validate(&self) -> Result<(), OptimConfigError> {
        let bad = |field: &'static str, value: f64, expected: &'static str| {
            Err(OptimConfigError {
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
    type Error = OptimConfigError;

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

/// A hyper-parameter of an [`OptimConfig`] out of its domain.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("optimizer config: `{field}` is {value}, expected {expected}")]
pub struct OptimConfigError {
    pub field: &'static str,
    pub value: f64,
    pub expected: &'static str,
}
