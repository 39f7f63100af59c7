//! One epoch: torch's generator reseeded from `(seed, epoch)`, the epoch's batches in
//! groups of `grad_accum`, per group one optimizer step (the batches' losses, their
//! gradients accumulated, clipped, the step at the scheduled learning rate, the step's log
//! and progress), then the validation pass and the epoch's log entry.

use std::collections::BTreeMap;
use std::time::Instant;

use super::state::{TrainerState, Training};
use super::{batch_loss, lr_at, EpochLog, RoutingShares, StepLog};
use crate::batch::{epoch_batches, epoch_seed, Batch};
use crate::diagnostics;
use crate::error::MethodError;
use crate::scoring;

/// Runs epoch `epoch` on `state` and reports its end to the observer; returns its log entry
/// (not yet recorded in `state.log.epochs`).
pub(super) fn run_epoch(
    run: &Training<'_>,
    state: &mut TrainerState,
    epoch: usize,
) -> Result<EpochLog, MethodError> {
    let cfg = run.cfg;
    tch::manual_seed((epoch_seed(cfg.seed, epoch, 2) >> 1) as i64);
    let batches = epoch_batches(&run.lengths, cfg.batch_size, cfg.seed, epoch);
    run.obs.epoch_start(epoch, cfg.epochs, run.steps_per_epoch);
    let t0 = Instant::now();
    let mut loss_sum = 0.0;
    let mut loss_n = 0usize;
    for (k, group) in batches.chunks(run.accum).enumerate() {
        let ts = Instant::now();
        let (step_loss, samples) = optimizer_step(run, state, epoch, group)?;
        loss_sum += step_loss;
        loss_n += 1;
        run.obs.step(
            epoch,
            k + 1,
            step_loss,
            samples as f64 / ts.elapsed().as_secs_f64().max(1e-9),
        );
    }
    let seconds = t0.elapsed().as_secs_f64();
    let e = validate_epoch(run, state, epoch, loss_sum / loss_n.max(1) as f64, seconds)?;
    run.obs.epoch_end(&e);
    Ok(e)
}

/// The loss of one group of batches, averaged over the group, its named parts and the
/// number of points it holds.
struct Accumulated {
    loss: f64,
    parts: BTreeMap<String, f64>,
    samples: usize,
}

/// One optimizer step over the batches of `group`; records it in the log and returns its
/// loss and the number of points it saw.
fn optimizer_step(
    run: &Training<'_>,
    state: &mut TrainerState,
    epoch: usize,
    group: &[Vec<usize>],
) -> Result<(f64, usize), MethodError> {
    let cfg = run.cfg;
    state.opt.zero_grad()?;
    let acc = accumulate_gradients(run, state.step, epoch, group)?;
    let grad_norms = diagnostics::grad_norms(&run.watched);
    if cfg.max_grad_norm > 0.0 {
        state.opt.clip_grad_norm(cfg.max_grad_norm);
    }
    let lr = lr_at(
        cfg.schedule,
        cfg.lr,
        cfg.warmup,
        state.step,
        run.total_steps,
    );
    state.opt.step(lr);
    state.log.steps.push(StepLog {
        epoch,
        step: state.step,
        lr,
        loss: acc.loss,
        parts: acc.parts,
        grad_norms,
    });
    state.step += 1;
    Ok((acc.loss, acc.samples))
}

/// Runs backward on each batch of `group`'s loss divided by the group's size; fails on a
/// non-finite loss with its epoch and step.
fn accumulate_gradients(
    run: &Training<'_>,
    step: usize,
    epoch: usize,
    group: &[Vec<usize>],
) -> Result<Accumulated, MethodError> {
    let data = run.data;
    let mut acc = Accumulated {
        loss: 0.0,
        parts: BTreeMap::new(),
        samples: 0,
    };
    for idx in group {
        let batch = Batch::new(
            data.train,
            idx,
            data.pad_id,
            run.weights.as_deref(),
            run.with_variants,
            run.device,
        );
        let (loss, p) = batch_loss(
            run.method,
            run.backbone,
            &batch,
            data.answer,
            &run.p_h,
            run.cfg,
            step,
            true,
        );
        let value = loss.double_value(&[]);
        if !value.is_finite() {
            return Err(MethodError::NonFinite {
                epoch,
                step,
                loss: value,
            });
        }
        (loss / group.len() as f64).backward();
        acc.loss += value / group.len() as f64;
        for (n, v) in p {
            *acc.parts.entry(n.to_string()).or_default() += v / group.len() as f64;
        }
        acc.samples += idx.len();
    }
    Ok(acc)
}

/// The validation pass after epoch `epoch` and the epoch's log entry; records the
/// discriminator's chance rate in the log when the method has one.
fn validate_epoch(
    run: &Training<'_>,
    state: &mut TrainerState,
    epoch: usize,
    train_loss: f64,
    seconds: f64,
) -> Result<EpochLog, MethodError> {
    let data = run.data;
    let (valid_loss, valid_p, disc_acc) =
        scoring::validate(run.method, run.backbone, data, run.cfg)?;
    if disc_acc.is_some() {
        state.log.disc_chance = Some(diagnostics::majority_share(data.valid));
    }
    let valid_auc = (run.auc)(&valid_p, &run.valid_labels);
    let routing = match (run.shares(data.train)?, run.shares(data.valid)?) {
        (Some(train), Some(valid)) => Some(RoutingShares { train, valid }),
        _ => None,
    };
    let epoch_steps: Vec<_> = state
        .log
        .steps
        .iter()
        .filter(|s| s.epoch == epoch)
        .map(|s| &s.grad_norms)
        .collect();
    Ok(EpochLog {
        epoch,
        train_loss,
        valid_loss,
        valid_auc,
        seconds,
        samples_per_s: data.train.len() as f64 / seconds.max(1e-9),
        routing,
        grad_norms: diagnostics::mean_norms(&epoch_steps),
        disc_acc,
    })
}
