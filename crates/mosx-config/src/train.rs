//! What the training loop is configured with and reports to, without tch: the
//! learning-rate schedule, [`TrainConfig`] and the [`Observer`] of progress. The loop itself
//! (its invariants: seeding, resume, early stopping) is mosx-methods' `trainer`.

use serde::{Deserialize, Serialize};

use crate::log::EpochLog;
use crate::losses::RecLoss;
use crate::objective::Objective;
use crate::optim::OptimConfig;

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
}
