//! The one training loop (like tch's min-gpt): every method trains through it.
//!
//! Invariants:
//! * Epoch `e` draws everything random from `(seed, e)`: the batch order
//!   ([`crate::batch::epoch_batches`]) and torch's generator (dropout, stochastic routing),
//!   reseeded at the start of every epoch. So the state after an epoch is a function of
//!   the state before it, and a run resumed from the checkpoint of epoch `e` ends with
//!   bit-identical parameters on CPU. Torch's generator is global: nothing else may draw
//!   from it during a training (the executor runs device stages one at a time).
//! * After every epoch the trainable parameters, the optimizer state, the best parameters
//!   so far and the log are written to the resume folder (`resume.rs`: fsynced, then
//!   renamed); a rerun continues after the last finished epoch.
//! * Early stopping keeps the parameters of the epoch with the best validation AUC; with
//!   `patience` epochs without improvement the loop stops. The returned parameters are the
//!   best epoch's.
//! * ASHA (`TrainConfig::prune`): after the epochs of a rung with a floor, a validation AUC
//!   below the floor (or NaN) stops the training there, recorded as `pruned_at_epoch`; a
//!   pruned training is a result (the best parameters so far), and is exempt from the no-op
//!   check below (a planted tiny learning rate is exactly what pruning is for).
//! * A non-finite loss fails the training with its epoch and step.
//! * After training, if the chosen parameters' validation predictions equal those of the
//!   untrained backbone (a silent no-op adapter), the training fails.
//! * `L_fair`'s `P_H(a|a)` is computed once from the train points before the first epoch
//!   ([`losses::train_p_h`]) and recorded in the log; batches never estimate it.
//! * The log records what a method exposes of its internals ([`crate::diagnostics`]): per
//!   optimizer step the gradient norm of each watched tensor set before clipping, per epoch
//!   its mean and the routing shares on the train and validation points, and the untrained
//!   router's validation shares before the first epoch; the method's item-group weights
//!   (IFairLRS) once; per epoch the accuracy of its group discriminator (UP5) on the
//!   validation points, read in the validation pass, and its chance rate. Logging draws
//!   nothing from torch's generator and computes no gradient.
//!
//! Layout: `train` here is the loop over epochs; `state.rs` holds what stays fixed through a
//! training (`Training`) and what one epoch hands to the next (`TrainerState`, resumed from
//! the resume folder); `epoch.rs` runs one epoch (batches, loss, optimizer steps, progress,
//! validation); `checkpoint.rs` ends it (best parameters, early stopping, the resumable
//! checkpoint); the resume folder's format is `crate::resume`.

mod checkpoint;
mod epoch;
mod state;

use std::path::Path;

use tch::{nn, Kind, Tensor};

use mosx_models::Backbone;

use crate::batch::{Batch, Example};
use crate::error::MethodError;
use crate::io::restore;
use crate::losses;
use crate::method::{forward, LossCtx, Method};
use crate::optim::Optimizer;
pub use mosx_config::log::{EpochLog, GroupWeights, RoutingShares, StepLog, TrainLog};
pub(crate) use state::TrainerState;
use state::Training;

pub use mosx_config::train::{lr_at, Observer, Prune, Quiet, Schedule, TrainConfig};

/// What the loop reads.
pub struct TrainData<'a> {
    pub train: &'a [Example],
    pub valid: &'a [Example],
    /// `[Yes, No]` vocabulary ids.
    pub answer: [i64; 2],
    pub pad_id: i64,
}

/// The result of a training.
pub struct Outcome {
    /// The best epoch's trainable parameters, by name.
    pub params: Vec<(String, Tensor)>,
    pub log: TrainLog,
    pub trainable_params: i64,
    pub backbone_params: i64,
}

/// Numel of a list of tensors.
fn numel(ts: &[(String, Tensor)]) -> i64 {
    ts.iter().map(|(_, t)| t.numel() as i64).sum()
}

/// Detached copies of `ts`.
fn copies(ts: &[(String, Tensor)]) -> Vec<(String, Tensor)> {
    ts.iter()
        .map(|(n, t)| (n.clone(), t.detach().copy()))
        .collect()
}

/// Shallow clones of `ts` (the same storage).
fn shallow_clones(ts: &[(String, Tensor)]) -> Vec<(String, Tensor)> {
    ts.iter()
        .map(|(n, t)| (n.clone(), t.shallow_clone()))
        .collect()
}

/// Trains `method` (already built on `backbone`, its variables in `adapter`).
#[allow(clippy::too_many_arguments)]
pub fn train(
    method: &dyn Method,
    backbone: &dyn Backbone,
    adapter: &nn::VarStore,
    data: &TrainData<'_>,
    cfg: &TrainConfig,
    resume_dir: Option<&Path>,
    auc: &dyn Fn(&[f64], &[bool]) -> f64,
    obs: &dyn Observer,
) -> Result<Outcome, MethodError> {
    check_inputs(method, data, cfg)?;
    let params = method.trainable(backbone, adapter);
    let trainable_params = numel(&params);
    let backbone_params = numel(&crate::method::named_variables(backbone.var_store(), ""));
    let run = Training::new(method, backbone, data, cfg, auc, obs);
    let opt = Optimizer::new(cfg.optim.clone(), shallow_clones(&params))?;
    let base_p = run.score_valid(None)?;
    let log = run.initial_log(&base_p)?;
    let mut state = TrainerState::new(params, opt, log);
    let start_epoch = state.resume(resume_dir, run.device)?;

    let stopped = state.log.stopped_early || state.log.pruned_at_epoch.is_some();
    for epoch in start_epoch..cfg.epochs {
        if stopped {
            break;
        }
        let e = epoch::run_epoch(&run, &mut state, epoch)?;
        if state.end_epoch(e, cfg, resume_dir)? {
            break;
        }
    }
    restore(&state.params, &state.best)?;
    if state.log.pruned_at_epoch.is_none() {
        check_not_noop(&run, &base_p)?;
    }
    Ok(Outcome {
        params: copies(&state.params),
        log: state.log,
        trainable_params,
        backbone_params,
    })
}

/// Fails on no train or validation points, or on a diversity objective for a method
/// without several prompt experts.
fn check_inputs(
    method: &dyn Method,
    data: &TrainData<'_>,
    cfg: &TrainConfig,
) -> Result<(), MethodError> {
    if data.train.is_empty() {
        return Err(MethodError::Data("no training points".into()));
    }
    if data.valid.is_empty() {
        return Err(MethodError::Data("no validation points".into()));
    }
    if cfg.objective.div() && method.diversity().is_none() {
        return Err(MethodError::config(
            method.name(),
            "objective",
            "rec+fair+div needs a method with several prompt experts (mos)",
        ));
    }
    Ok(())
}

/// The no-op check: the chosen parameters (restored) must change some validation
/// prediction of the untrained backbone (`base_p`).
fn check_not_noop(run: &Training<'_>, base_p: &[f64]) -> Result<(), MethodError> {
    let final_p = run.score_valid(Some(run.method))?;
    let max_diff = final_p
        .iter()
        .zip(base_p)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    if max_diff == 0.0 {
        return Err(MethodError::NoOp {
            method: run.method.name().into(),
            points: final_p.len(),
            max_diff,
        });
    }
    Ok(())
}

/// The loss of one batch and its named parts (see METHOD.md Eq. 15 and the methods);
/// `p_h` is the train split's `P_H(a|a)` per group ([`losses::train_p_h`]).
#[allow(clippy::too_many_arguments)]
pub fn batch_loss(
    method: &dyn Method,
    backbone: &dyn Backbone,
    batch: &Batch,
    answer: [i64; 2],
    p_h: &[f64],
    cfg: &TrainConfig,
    step: usize,
    train: bool,
) -> (Tensor, Vec<(&'static str, f64)>) {
    let fwd = forward(
        Some(method),
        backbone,
        &batch.tokens,
        answer,
        train,
        method.needs_pooled(),
    );
    let mut total = Tensor::zeros([], (Kind::Float, backbone.device()));
    let mut parts = Vec::new();
    if method.trains_task(step) || !train {
        let per = losses::rec_per_sample(
            cfg.rec_loss,
            &fwd.pair_logits,
            || backbone.head_logits(&fwd.hidden, None),
            &batch.labels,
            answer,
        );
        let rec = losses::weighted_mean(&per, &batch.weights);
        parts.push(("rec", rec.double_value(&[])));
        total = total + rec;
        if cfg.objective.fair() {
            let fair = losses::fair(&fwd.p_yes(), &batch.user_groups, &batch.target_groups, p_h);
            parts.push(("fair", fair.double_value(&[])));
            total = total + fair * cfg.lambda_fair;
        }
    }
    if !train {
        return (total, parts);
    }
    if cfg.objective.div() {
        if let Some(div) = method.diversity() {
            parts.push(("div", div.double_value(&[])));
            total = total + div * cfg.lambda_div;
        }
    }
    let cx = LossCtx {
        backbone,
        batch,
        forward: &fwd,
        answer,
        step,
        train,
    };
    for (name, l) in method.extra_losses(&cx) {
        parts.push((name, l.double_value(&[])));
        total = total + l.to_device(backbone.device());
    }
    (total, parts)
}
