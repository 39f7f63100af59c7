//! The end of an epoch: its log entry recorded, the best parameters so far kept (early
//! stopping on the validation AUC) and the resumable checkpoint written to the resume
//! folder (`crate::resume`).

use std::path::Path;

use super::state::TrainerState;
use super::{copies, EpochLog, TrainConfig};
use crate::error::MethodError;
use crate::resume;

impl TrainerState {
    /// Records epoch `e`, keeps the parameters if it is the best so far and saves the state
    /// to `resume_dir`, if any; returns whether the training stops early (`patience` epochs
    /// without improvement, before the last epoch; or ASHA: after a rung whose validation
    /// AUC is below its floor, or NaN, recorded as `pruned_at_epoch` before the state is
    /// saved, so a resumed training stays pruned).
    pub(super) fn end_epoch(
        &mut self,
        e: EpochLog,
        cfg: &TrainConfig,
        resume_dir: Option<&Path>,
    ) -> Result<bool, MethodError> {
        let (epoch, valid_auc) = (e.epoch, e.valid_auc);
        self.log.epochs.push(e);
        self.keep_if_best(epoch, valid_auc);
        let mut stop = self.bad_epochs >= cfg.patience.max(1) && epoch + 1 < cfg.epochs;
        self.log.stopped_early = stop;
        let floor = cfg
            .prune
            .as_ref()
            .and_then(|p| p.floor_after(epoch + 1, cfg.epochs));
        if floor.is_some_and(|f| valid_auc.is_nan() || valid_auc < f) {
            self.log.pruned_at_epoch = Some(epoch + 1);
            stop = true;
        }
        if let Some(dir) = resume_dir {
            resume::save(dir, epoch, self)?;
        }
        Ok(stop)
    }

    /// Makes `epoch` the best one if it is the first or beats the best validation AUC (its
    /// parameters copied, the patience counter reset); otherwise counts a bad epoch.
    fn keep_if_best(&mut self, epoch: usize, valid_auc: f64) {
        if self.log.best_epoch.is_none() || valid_auc > self.log.best_valid_auc {
            self.log.best_epoch = Some(epoch);
            self.log.best_valid_auc = valid_auc;
            self.best = copies(&self.params);
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
        }
    }
}
