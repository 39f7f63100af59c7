//! What the training loop is configured with and reports to, without tch: the
//! learning-rate schedule, [`TrainParams`] (the hyperparameters as a spec writes them, with
//! their defaults, declared once), [`TrainConfig`] (what the loop runs with) and the
//! [`Observer`] of progress. The loop itself
//! (its invariants: seeding, resume, early stopping) is mosx-methods' `trainer`.

use serde::{Deserialize, Serialize};

use crate::log::EpochLog;
use crate::losses::RecLoss;
use crate::objective::Objective;
use crate::optim::{OptimConfig, OptimizerKind};

/// Learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// The same rate at every step.
    Constant,
    /// Linear warm-up over the first `warmup` fraction of steps, then linear decay to 0.
    Linear,
}

/// Learning rate at optimizer step `step` of `total`.
pub fn lr_at(schedule: Schedule, lr: f64, warmup: f64, step: usize, total: usize) -> f64 {
    match schedule {
        Schedule::Constant => lr,
        Schedule::Linear => {
            let total = total.max(1) as f64;
            let warm = (warmup * total).round().max(0.0);
            let s = step as f64;
            if s < warm {
                lr * (s + 1.0) / warm
            } else {
                lr * ((total - s) / (total - warm).max(1.0)).clamp(0.0, 1.0)
            }
        }
    }
}

/// A training's hyperparameters as a spec writes them, every default written here once: the
/// `train` stage's params embed it, and the worker resolves it into a [`TrainConfig`].
/// `objective` and `lr` left `null` are the method's own; `max_grad_norm` `null` is no
/// clipping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    /// `null`: the method's own objective.
    #[serde(default)]
    pub objective: Option<Objective>,
    #[serde(default = "one")]
    pub lambda_fair: f64,
    #[serde(default = "default_lambda_div")]
    pub lambda_div: f64,
    #[serde(default = "default_optimizer")]
    pub optimizer: OptimizerKind,
    /// `null`: the method's default learning rate.
    #[serde(default)]
    pub lr: Option<f64>,
    #[serde(default = "default_schedule")]
    pub schedule: Schedule,
    /// Fraction of the steps spent warming up (`linear` schedule).
    #[serde(default = "default_warmup")]
    pub warmup: f64,
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    #[serde(default = "default_accum")]
    pub grad_accum: usize,
    #[serde(default)]
    pub seed: u64,
    /// Epochs without a better validation AUC before stopping.
    #[serde(default = "default_patience")]
    pub patience: usize,
    #[serde(default)]
    pub rec_loss: RecLoss,
    /// Global gradient-norm clip, > 0 (`null`: no clipping).
    #[serde(default = "default_clip")]
    pub max_grad_norm: Option<f64>,
    /// Batch size of validation scoring.
    #[serde(default = "default_eval_batch")]
    pub eval_batch_size: usize,
    /// ASHA's floors for this training (set by the planning loop of a `sweep.prune`; absent
    /// otherwise, so keys of unpruned trainings are unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<Prune>,
}

/// Where a training stops early because a search prunes it (ASHA): after the epochs of
/// rung `k` (`min_epochs · reduction_factor^k`, below `epochs`), if the rung's validation
/// AUC is below `floors[k]` (no floor, `null` or past the list: it continues), the training
/// stops there and is recorded *pruned at epoch* `min_epochs · reduction_factor^k`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prune {
    /// The compared metric; only `valid_auc` (maximised).
    pub metric: String,
    pub min_epochs: usize,
    pub reduction_factor: usize,
    pub floors: Vec<Option<f64>>,
}

impl Prune {
    /// The floor after `epochs_done` epochs, if that is a rung with a floor (`epochs`: the
    /// training's epochs; the last epoch is never a rung).
    pub fn floor_after(&self, epochs_done: usize, epochs: usize) -> Option<f64> {
        if epochs_done >= epochs {
            return None;
        }
        let mut r = self.min_epochs.max(1);
        for f in &self.floors {
            if r == epochs_done {
                return *f;
            }
            if r > epochs_done {
                return None;
            }
            r = r.checked_mul(self.reduction_factor.max(2))?;
        }
        None
    }
}

fn one() -> f64 {
    1.0
}
fn default_clip() -> Option<f64> {
    Some(1.0)
}
fn default_lambda_div() -> f64 {
    0.1
}
fn default_optimizer() -> OptimizerKind {
    OptimizerKind::Adafactor
}
fn default_schedule() -> Schedule {
    Schedule::Linear
}
fn default_warmup() -> f64 {
    0.1
}
fn default_epochs() -> usize {
    3
}
fn default_batch() -> usize {
    8
}
fn default_accum() -> usize {
    1
}
fn default_patience() -> usize {
    2
}
fn default_eval_batch() -> usize {
    16
}

impl TrainParams {
    /// What the loop runs with: the method's objective and learning rate where these are
    /// `null`, the optimizer kind's defaults, and no clipping (0) for `max_grad_norm: null`.
    pub fn resolve(&self, default_objective: Objective, default_lr: f64) -> TrainConfig {
        TrainConfig {
            objective: self.objective.unwrap_or(default_objective),
            lambda_fair: self.lambda_fair,
            lambda_div: self.lambda_div,
            optim: OptimConfig::for_kind(self.optimizer),
            lr: self.lr.unwrap_or(default_lr),
            schedule: self.schedule,
            warmup: self.warmup,
            epochs: self.epochs,
            batch_size: self.batch_size,
            grad_accum: self.grad_accum,
            seed: self.seed,
            patience: self.patience,
            // The trainer clips only when the norm is > 0.
            max_grad_norm: self.max_grad_norm.unwrap_or(0.0),
            rec_loss: self.rec_loss,
            eval_batch_size: self.eval_batch_size,
            prune: self.prune.clone(),
        }
    }
}

/// Everything the loop needs besides the method and the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub objective: Objective,
    pub lambda_fair: f64,
    pub lambda_div: f64,
    pub optim: OptimConfig,
    pub lr: f64,
    pub schedule: Schedule,
    pub warmup: f64,
    pub epochs: usize,
    pub batch_size: usize,
    pub grad_accum: usize,
    pub seed: u64,
    /// Epochs without a better validation AUC before stopping.
    pub patience: usize,
    /// Global gradient-norm clip (0: none).
    pub max_grad_norm: f64,
    pub rec_loss: RecLoss,
    pub eval_batch_size: usize,
    /// ASHA's floors (see [`Prune`]).
    pub prune: Option<Prune>,
}

/// Progress of a training, for a bar or plain lines.
pub trait Observer {
    fn epoch_start(&self, epoch: usize, epochs: usize, steps: usize);
    fn step(&self, epoch: usize, step_in_epoch: usize, loss: f64, samples_per_s: f64);
    fn epoch_end(&self, log: &EpochLog);
}

/// An observer that shows nothing.
pub struct Quiet;
impl Observer for Quiet {
    fn epoch_start(&self, _: usize, _: usize, _: usize) {}
    fn step(&self, _: usize, _: usize, _: f64, _: f64) {}
    fn epoch_end(&self, _: &EpochLog) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_schedule_warms_up_then_decays_to_zero() {
        let lr = |s| lr_at(Schedule::Linear, 1.0, 0.1, s, 100);
        assert!((lr(0) - 0.1).abs() < 1e-12);
        assert!((lr(9) - 1.0).abs() < 1e-12);
        assert!((lr(10) - 1.0).abs() < 1e-12);
        assert!((lr(55) - 0.5).abs() < 1e-12);
        assert!(lr(99) > 0.0 && lr(99) < 0.02);
        assert_eq!(lr_at(Schedule::Constant, 0.3, 0.1, 5, 100), 0.3);
    }

    #[test]
    fn a_prune_floor_applies_only_after_the_epochs_of_its_rung() {
        let p = Prune {
            metric: "valid_auc".into(),
            min_epochs: 1,
            reduction_factor: 3,
            floors: vec![Some(0.6), None, Some(0.7)],
        };
        assert_eq!(p.floor_after(1, 10), Some(0.6));
        assert_eq!(p.floor_after(2, 10), None);
        assert_eq!(p.floor_after(3, 10), None);
        assert_eq!(p.floor_after(9, 10), Some(0.7));
        // The last epoch is not a rung.
        assert_eq!(p.floor_after(9, 9), None);
        assert_eq!(p.floor_after(27, 30), None);
    }
}
