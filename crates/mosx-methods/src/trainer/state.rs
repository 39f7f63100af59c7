//! What a training holds: [`Training`], what stays fixed through it (its inputs and what is
//! derived from them once, before the first epoch), and [`TrainerState`], what one epoch
//! hands to the next (exactly what the resume folder holds, `crate::resume`).

use std::path::Path;

use tch::{Device, Tensor};

use mosx_models::Backbone;

use super::{copies, TrainData};
use crate::batch::Example;
use crate::diagnostics;
use crate::error::MethodError;
use crate::log::TrainLog;
use crate::losses;
use crate::method::Method;
use crate::optim::Optimizer;
use crate::resume;
use crate::scoring::score;
use crate::trainer::{Observer, TrainConfig};

/// The fixed part of one training.
pub(super) struct Training<'a> {
    pub method: &'a dyn Method,
    pub backbone: &'a dyn Backbone,
    pub data: &'a TrainData<'a>,
    pub cfg: &'a TrainConfig,
    pub auc: &'a dyn Fn(&[f64], &[bool]) -> f64,
    pub obs: &'a dyn Observer,
    /// The method's per-point loss weights (IFairLRS), if any.
    pub weights: Option<Vec<f64>>,
    pub with_variants: bool,
    /// The train split's `P_H(a|a)` per group ([`losses::train_p_h`]).
    pub p_h: Vec<f64>,
    /// The tensor sets whose gradient norms the log records per step.
    pub watched: Vec<(&'static str, Vec<Tensor>)>,
    pub device: Device,
    /// Token count of each train point (the batching's input).
    pub lengths: Vec<usize>,
    /// Batches per optimizer step.
    pub accum: usize,
    pub steps_per_epoch: usize,
    pub total_steps: usize,
    pub valid_ids: Vec<&'a [i64]>,
    pub valid_labels: Vec<bool>,
}

impl<'a> Training<'a> {
    pub fn new(
        method: &'a dyn Method,
        backbone: &'a dyn Backbone,
        data: &'a TrainData<'a>,
        cfg: &'a TrainConfig,
        auc: &'a dyn Fn(&[f64], &[bool]) -> f64,
        obs: &'a dyn Observer,
    ) -> Training<'a> {
        let weights = method.sample_weights(data.train);
        let with_variants = method.needs_variants();
        let n_groups = data.train[0].target_groups.len();
        let p_h = losses::train_p_h(data.train, n_groups);
        let watched = method.watched_grads();
        let lengths: Vec<usize> = data.train.iter().map(|e| e.ids.len()).collect();
        let batches_per_epoch = lengths.len().div_ceil(cfg.batch_size.max(1));
        let accum = cfg.grad_accum.max(1);
        let steps_per_epoch = batches_per_epoch.div_ceil(accum);
        Training {
            method,
            backbone,
            data,
            cfg,
            auc,
            obs,
            weights,
            with_variants,
            p_h,
            watched,
            device: backbone.device(),
            lengths,
            accum,
            steps_per_epoch,
            total_steps: steps_per_epoch * cfg.epochs,
            valid_ids: data.valid.iter().map(|e| e.ids.as_slice()).collect(),
            valid_labels: data.valid.iter().map(|e| e.label).collect(),
        }
    }

    /// `p_yes` of every validation point, through `method` or the untrained backbone.
    pub fn score_valid(&self, method: Option<&dyn Method>) -> Result<Vec<f64>, MethodError> {
        score(
            method,
            self.backbone,
            &self.valid_ids,
            self.data.answer,
            self.data.pad_id,
            self.cfg.eval_batch_size,
        )
    }

    /// The method's routing shares of `examples` ([`diagnostics::routing_shares`]).
    pub fn shares(&self, examples: &[Example]) -> Result<Option<Vec<Vec<f64>>>, MethodError> {
        diagnostics::routing_shares(
            self.method,
            self.backbone,
            examples,
            self.data.pad_id,
            self.cfg.eval_batch_size,
        )
    }

    /// The log before the first epoch, from the untrained backbone's validation `p_yes`.
    pub fn initial_log(&self, base_p: &[f64]) -> Result<TrainLog, MethodError> {
        Ok(TrainLog {
            base_valid_auc: (self.auc)(base_p, &self.valid_labels),
            best_valid_auc: f64::NEG_INFINITY,
            train_points: self.data.train.len(),
            valid_points: self.data.valid.len(),
            train_p_h: self.p_h.clone(),
            base_routing_valid: self.shares(self.data.valid)?,
            group_weights: self.method.item_group_weights(self.data.train),
            ..TrainLog::default()
        })
    }
}

/// What one epoch hands to the next.
pub(crate) struct TrainerState {
    /// The trainable parameters, by name (the method's variables, shallow clones).
    pub params: Vec<(String, Tensor)>,
    /// Copies of the best epoch's parameters so far.
    pub best: Vec<(String, Tensor)>,
    pub opt: Optimizer,
    /// Optimizer steps taken.
    pub step: usize,
    /// Epochs since the best one.
    pub bad_epochs: usize,
    pub log: TrainLog,
}

impl TrainerState {
    /// A fresh state: no step taken, the best parameters the initial ones.
    pub fn new(params: Vec<(String, Tensor)>, opt: Optimizer, log: TrainLog) -> TrainerState {
        let best = copies(&params);
        TrainerState {
            params,
            best,
            opt,
            step: 0,
            bad_epochs: 0,
            log,
        }
    }

    /// Continues from the state in the resume folder `dir`, if there is one (parameters,
    /// best parameters, optimizer state, step, patience counter and log); returns the first
    /// epoch to run.
    pub fn resume(&mut self, dir: Option<&Path>, device: Device) -> Result<usize, MethodError> {
        let Some(dir) = dir else {
            return Ok(0);
        };
        let Some(saved) = resume::resume(dir, &self.params, &self.best, &mut self.opt, device)?
        else {
            return Ok(0);
        };
        self.step = saved.step;
        self.bad_epochs = saved.bad_epochs;
        self.log = saved.log;
        self.log.resumed_after_epoch = Some(saved.epoch);
        Ok(saved.epoch + 1)
    }
}
