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

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use tch::{nn, Kind, Tensor};

use mosx_models::Backbone;

use crate::batch::{epoch_batches, epoch_seed, Batch, Example};
use crate::diagnostics;
use crate::error::MethodError;
use crate::io::restore;
use crate::losses;
use crate::method::{forward, LossCtx, Method};
use crate::optim::Optimizer;
use crate::scoring::score;
use crate::{resume, scoring};
pub use mosx_config::log::{EpochLog, GroupWeights, RoutingShares, StepLog, TrainLog};

pub use mosx_config::train::{lr_at, Observer, Quiet, Schedule, TrainConfig};

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

fn copies(ts: &[(String, Tensor)]) -> Vec<(String, Tensor)> {
    ts.iter()
        .map(|(n, t)| (n.clone(), t.detach().copy()))
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
    let params = method.trainable(backbone, adapter);
    let trainable_params = numel(&params);
    let backbone_params = numel(&crate::method::named_variables(backbone.var_store(), ""));
    let weights = method.sample_weights(data.train);
    let with_variants = method.needs_variants();
    let n_groups = data.train[0].target_groups.len();
    let p_h = losses::train_p_h(data.train, n_groups);
    let watched = method.watched_grads();
    let device = backbone.device();
    let mut opt = Optimizer::new(
        cfg.optim.clone(),
        params
            .iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect(),
    )?;
    let lengths: Vec<usize> = data.train.iter().map(|e| e.ids.len()).collect();
    let batches_per_epoch = lengths.len().div_ceil(cfg.batch_size.max(1));
    let accum = cfg.grad_accum.max(1);
    let steps_per_epoch = batches_per_epoch.div_ceil(accum);
    let total_steps = steps_per_epoch * cfg.epochs;

    let valid_ids: Vec<&[i64]> = data.valid.iter().map(|e| e.ids.as_slice()).collect();
    let valid_labels: Vec<bool> = data.valid.iter().map(|e| e.label).collect();
    let base_p = score(
        None,
        backbone,
        &valid_ids,
        data.answer,
        data.pad_id,
        cfg.eval_batch_size,
    )?;

    let shares = |ex: &[Example]| {
        diagnostics::routing_shares(method, backbone, ex, data.pad_id, cfg.eval_batch_size)
    };
    let mut log = TrainLog {
        base_valid_auc: auc(&base_p, &valid_labels),
        best_valid_auc: f64::NEG_INFINITY,
        train_points: data.train.len(),
        valid_points: data.valid.len(),
        train_p_h: p_h.clone(),
        base_routing_valid: shares(data.valid)?,
        group_weights: method.item_group_weights(data.train),
        ..TrainLog::default()
    };
    let mut step = 0usize;
    let mut bad_epochs = 0usize;
    let mut best = copies(&params);
    let mut start_epoch = 0usize;
    if let Some(dir) = resume_dir {
        if let Some(state) = resume::resume(dir, &params, &best, &mut opt, device)? {
            step = state.step;
            bad_epochs = state.bad_epochs;
            log = state.log;
            log.resumed_after_epoch = Some(state.epoch);
            start_epoch = state.epoch + 1;
        }
    }

    let stopped = log.stopped_early;
    for epoch in start_epoch..cfg.epochs {
        if stopped {
            break;
        }
        tch::manual_seed((epoch_seed(cfg.seed, epoch, 2) >> 1) as i64);
        let batches = epoch_batches(&lengths, cfg.batch_size, cfg.seed, epoch);
        obs.epoch_start(epoch, cfg.epochs, steps_per_epoch);
        let t0 = Instant::now();
        let mut loss_sum = 0.0;
        let mut loss_n = 0usize;
        for (k, group) in batches.chunks(accum).enumerate() {
            let ts = Instant::now();
            opt.zero_grad()?;
            let mut step_loss = 0.0;
            let mut parts: BTreeMap<String, f64> = BTreeMap::new();
            let mut samples = 0usize;
            for idx in group {
                let batch = Batch::new(
                    data.train,
                    idx,
                    data.pad_id,
                    weights.as_deref(),
                    with_variants,
                    device,
                );
                let (loss, p) =
                    batch_loss(method, backbone, &batch, data.answer, &p_h, cfg, step, true);
                let value = loss.double_value(&[]);
                if !value.is_finite() {
                    return Err(MethodError::NonFinite {
                        epoch,
                        step,
                        loss: value,
                    });
                }
                (loss / group.len() as f64).backward();
                step_loss += value / group.len() as f64;
                for (n, v) in p {
                    *parts.entry(n.to_string()).or_default() += v / group.len() as f64;
                }
                samples += idx.len();
            }
            let grad_norms = diagnostics::grad_norms(&watched);
            if cfg.max_grad_norm > 0.0 {
                opt.clip_grad_norm(cfg.max_grad_norm);
            }
            let lr = lr_at(cfg.schedule, cfg.lr, cfg.warmup, step, total_steps);
            opt.step(lr);
            log.steps.push(StepLog {
                epoch,
                step,
                lr,
                loss: step_loss,
                parts,
                grad_norms,
            });
            step += 1;
            loss_sum += step_loss;
            loss_n += 1;
            obs.step(
                epoch,
                k + 1,
                step_loss,
                samples as f64 / ts.elapsed().as_secs_f64().max(1e-9),
            );
        }
        let seconds = t0.elapsed().as_secs_f64();
        let (valid_loss, valid_p, disc_acc) = scoring::validate(method, backbone, data, cfg)?;
        if disc_acc.is_some() {
            log.disc_chance = Some(diagnostics::majority_share(data.valid));
        }
        let valid_auc = auc(&valid_p, &valid_labels);
        let routing = match (shares(data.train)?, shares(data.valid)?) {
            (Some(train), Some(valid)) => Some(RoutingShares { train, valid }),
            _ => None,
        };
        let epoch_steps: Vec<_> = log
            .steps
            .iter()
            .filter(|s| s.epoch == epoch)
            .map(|s| &s.grad_norms)
            .collect();
        let e = EpochLog {
            epoch,
            train_loss: loss_sum / loss_n.max(1) as f64,
            valid_loss,
            valid_auc,
            seconds,
            samples_per_s: data.train.len() as f64 / seconds.max(1e-9),
            routing,
            grad_norms: diagnostics::mean_norms(&epoch_steps),
            disc_acc,
        };
        obs.epoch_end(&e);
        log.epochs.push(e);
        if log.best_epoch.is_none() || valid_auc > log.best_valid_auc {
            log.best_epoch = Some(epoch);
            log.best_valid_auc = valid_auc;
            best = copies(&params);
            bad_epochs = 0;
        } else {
            bad_epochs += 1;
        }
        let stop = bad_epochs >= cfg.patience.max(1) && epoch + 1 < cfg.epochs;
        log.stopped_early = stop;
        if let Some(dir) = resume_dir {
            resume::save(dir, epoch, step, bad_epochs, &log, &params, &best, &opt)?;
        }
        if stop {
            break;
        }
    }
    restore(&params, &best)?;
    // The no-op check: the chosen parameters must change some validation prediction.
    let final_p = score(
        Some(method),
        backbone,
        &valid_ids,
        data.answer,
        data.pad_id,
        cfg.eval_batch_size,
    )?;
    let max_diff = final_p
        .iter()
        .zip(&base_p)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    if max_diff == 0.0 {
        return Err(MethodError::NoOp {
            method: method.name().into(),
            points: final_p.len(),
            max_diff,
        });
    }
    Ok(Outcome {
        params: copies(&params),
        log,
        trainable_params,
        backbone_params,
    })
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
