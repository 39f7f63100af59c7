//! The runner of `train` (declared in `mosx_kinds::train`): one training of a method on a
//! backbone, a thin shell around `mosx_methods::train`.
//!
//! It renders and tokenizes the split's points, measures each target's item groups and each
//! history's share from the `measure` stage, and hands examples to the trainer. Its artifacts
//! are the trained parameters only (`adapter`, safetensors), the method's canonical `config`
//! and the training `log` (with the dataset's `groups`, which name the rows of its per-group
//! tables; the same values are metrics, see `TrainLog::internal_metrics`); the frozen backbone is never copied into the store (its content
//! hash is in the key). Per-epoch checkpoints go to the stage's work folder, so a killed
//! training resumes after its last finished epoch. The trainer's epochs and steps show on the
//! stage's progress (forwarded to the planner's bar).

use std::path::Path;

use mosx_data::{DataPoint, Dataset, Sequences, Split, Stereotypes};
use mosx_kinds::artifacts::{self, slot};
use mosx_kinds::train::Params;
use mosx_methods::methods::Entry;
use mosx_methods::{methods, Example, Outcome, TrainConfig, TrainData};
use mosx_models::tokenizer::TextTokenizer;
use mosx_models::Backbone;
use mosx_stage::predictions::spread;
use mosx_stage::prompt::{leaks, PromptTemplate};
use mosx_stage::trained::TrainedConfig;
use mosx_stage::{params, Output, Progress, StageCtx};

use super::{RunError, Runner};
use crate::pool;
use crate::prompting::Prompter;

pub struct Train;

impl Runner for Train {
    fn run(&self, ctx: &StageCtx<'_>, device: tch::Device) -> Result<Output, RunError> {
        let p: Params = params::typed(ctx.params)?;
        let ds = ctx.inputs.read(slot::DATASET, &artifacts::DATASET)?;
        let seq = ctx.inputs.read(slot::SEQUENCES, &artifacts::SEQUENCES)?;
        let split = ctx.inputs.read(slot::SPLIT, &artifacts::SPLIT)?;
        let st = ctx.inputs.read(slot::MEASURE, &artifacts::STEREOTYPES)?;
        let method_name = p.method["name"].as_str().unwrap_or_default().to_string();
        let entry = methods::entry(&method_name)?;
        let points = select_points(&p, &ds, &seq, &split);
        let tpl = PromptTemplate::load(ctx.templates, &p.template)?;
        let cfg = train_config(&p, entry);
        let obs = StageObserver(ctx.progress);
        let job = Training {
            p: &p,
            ds: &ds,
            seq: &seq,
            st: &st,
            tpl: &tpl,
            points: &points,
            cfg: &cfg,
            work_dir: &ctx.work_dir,
            obs: &obs,
            device,
        };
        let (outcome, n_train, n_valid) = pool::with_backbone(
            &p.model,
            device,
            p.dtype,
            entry.modifies_backbone,
            |bb, tok| train_on(&job, bb, tok),
        )??;
        let mut out = Output::default();
        let fraction = outcome.trainable_params as f64 / outcome.backbone_params.max(1) as f64;
        put_artifacts(&mut out, &p, &cfg, &ds, &points.leaking, &outcome, fraction)?;
        put_metrics(
            &mut out,
            &ds,
            &points.leaking,
            &outcome,
            fraction,
            n_train,
            n_valid,
        );
        Ok(out)
    }
}

/// The points a training reads, and the leaking points of each part of the split.
struct Points {
    /// Indices (into the sequences) of the training points.
    train: Vec<u32>,
    /// Indices of the validation points.
    valid: Vec<u32>,
    /// The leaking points of the train, valid and test parts, counted before any is dropped.
    leaking: [usize; 3],
}

/// Leakage: counted on every part, dropped everywhere when asked; then the train and valid
/// points spread down to the spec's caps.
fn select_points(p: &Params, ds: &Dataset, seq: &Sequences, split: &Split) -> Points {
    let leaking = |idx: &[u32]| {
        idx.iter()
            .filter(|&&i| leaks(ds, &seq.points[i as usize]))
            .count()
    };
    let leak_counts = [
        leaking(&split.train),
        leaking(&split.valid),
        leaking(&split.test),
    ];
    let keep = |idx: &[u32]| -> Vec<u32> {
        idx.iter()
            .copied()
            .filter(|&i| !p.drop_leaking || !leaks(ds, &seq.points[i as usize]))
            .collect()
    };
    let mut train_idx = keep(&split.train);
    let mut valid_idx = keep(&split.valid);
    if let Some(n) = p.max_train_points {
        train_idx = spread(&train_idx, n);
    }
    if let Some(n) = p.max_valid_points {
        valid_idx = spread(&valid_idx, n);
    }
    Points {
        train: train_idx,
        valid: valid_idx,
        leaking: leak_counts,
    }
}

/// The trainer's configuration: the stage's parameters, with the method's defaults for the
/// objective and the learning rate.
fn train_config(p: &Params, entry: &Entry) -> TrainConfig {
    p.train.resolve(entry.default_objective, entry.default_lr)
}

/// Everything one training reads besides the backbone and its tokenizer.
struct Training<'a> {
    p: &'a Params,
    ds: &'a Dataset,
    seq: &'a Sequences,
    st: &'a Stereotypes,
    tpl: &'a PromptTemplate,
    points: &'a Points,
    cfg: &'a TrainConfig,
    /// Where the per-epoch checkpoints go (the stage's work folder).
    work_dir: &'a Path,
    obs: &'a StageObserver<'a>,
    device: tch::Device,
}

/// Builds the method on `backbone`, tokenizes the train and valid points and trains; gives
/// the outcome and the numbers of train and valid examples.
fn train_on(
    job: &Training<'_>,
    backbone: &mut dyn Backbone,
    tok: &TextTokenizer,
) -> Result<(Outcome, usize, usize), RunError> {
    let prompter = Prompter::new(tok, &job.p.model, job.p.prompt_format)?;
    let answer = prompter.answer()?;
    let adapter = tch::nn::VarStore::new(job.device);
    let setup = pool::method_setup(job.ds, backbone, tok, job.p.train.seed, job.device)?;
    let (method, _) = methods::build(&job.p.method, &setup, backbone, &adapter)?;
    let variants = method.needs_variants();
    let train = examples(job, &prompter, variants, &job.points.train)?;
    let valid = examples(job, &prompter, variants, &job.points.valid)?;
    let data = TrainData {
        train: &train,
        valid: &valid,
        answer,
        pad_id: tok.pad_id(),
    };
    let outcome = mosx_methods::train(
        method.as_ref(),
        backbone,
        &adapter,
        &data,
        job.cfg,
        Some(job.work_dir),
        &mosx_fairness::auc,
        job.obs,
    )?;
    Ok((outcome, train.len(), valid.len()))
}

/// The training examples of the points `idx`, in order (with the per-group variants of
/// each prompt when `variants`).
fn examples(
    job: &Training<'_>,
    tok: &Prompter<'_>,
    variants: bool,
    idx: &[u32],
) -> Result<Vec<Example>, RunError> {
    idx.iter()
        .map(|&i| example(job, tok, variants, &job.seq.points[i as usize]))
        .collect()
}

/// One point as a training example: its prompt tokenized, label, user group, the target's
/// item groups and the history's share of each.
fn example(
    job: &Training<'_>,
    tok: &Prompter<'_>,
    variants: bool,
    d: &DataPoint,
) -> Result<Example, RunError> {
    let (ds, threshold) = (job.ds, job.ds.label_threshold);
    let text = job.tpl.render_point(ds, d, job.p.setting, threshold)?;
    let variants = if variants {
        (0..ds.groups.len())
            .map(|g| {
                let t = job.tpl.render_point_as(ds, d, Some(g), threshold)?;
                tok.ids(&t)
            })
            .collect::<Result<Vec<_>, RunError>>()?
    } else {
        Vec::new()
    };
    Ok(Example {
        ids: tok.ids(&text)?,
        label: d.label,
        user_group: ds.users[d.user as usize].group as usize,
        target_groups: job.st.item_groups(d.target),
        history_share: job.st.history_share(&d.history),
        variants,
    })
}

/// The stage's artifacts: the trained parameters (`adapter`), the method's canonical
/// `config` and the training `log`.
fn put_artifacts(
    out: &mut Output,
    p: &Params,
    cfg: &TrainConfig,
    ds: &Dataset,
    leak_counts: &[usize; 3],
    outcome: &Outcome,
    fraction: f64,
) -> Result<(), RunError> {
    let bytes = mosx_methods::io::to_bytes(&outcome.params)?;
    out.write_bytes(&artifacts::ADAPTER, bytes);
    out.write(
        &artifacts::TRAINED_CONFIG,
        &TrainedConfig {
            method: p.method.clone(),
            drop_leaking: p.drop_leaking,
            trainable_params: outcome.trainable_params,
            backbone_params: outcome.backbone_params,
        },
    )?;
    let log = &outcome.log;
    out.write(
        &artifacts::TRAIN_LOG,
        &serde_json::json!({
            "method": p.method,
            "objective": cfg.objective,
            "lr": cfg.lr,
            "leaking_points": { "train": leak_counts[0], "valid": leak_counts[1], "test": leak_counts[2] },
            "trainable_params": outcome.trainable_params,
            "backbone_params": outcome.backbone_params,
            "trainable_fraction": fraction,
            "groups": ds.groups,
            "train": log,
        }),
    )?;
    Ok(())
}

/// The stage's metrics (declared in `mosx_kinds::train`): sizes, the training's summary,
/// per-epoch losses and AUC, leakage, and the method's internals.
fn put_metrics(
    out: &mut Output,
    ds: &Dataset,
    leak_counts: &[usize; 3],
    outcome: &Outcome,
    fraction: f64,
    n_train: usize,
    n_valid: usize,
) {
    let log = &outcome.log;
    out.metric("trainable_params", outcome.trainable_params as f64);
    out.metric("trainable_fraction", fraction);
    out.metric("trainable_percent", 100.0 * fraction);
    out.metric("best_epoch", log.best_epoch.map_or(f64::NAN, |e| e as f64));
    out.metric("best_valid_auc", log.best_valid_auc);
    out.metric("base_valid_auc", log.base_valid_auc);
    out.metric("epochs_run", log.epochs.len() as f64);
    if let Some(e) = log.pruned_at_epoch {
        // `mosx_kinds::train::PRUNED_METRIC`, written as a literal for the declared-metrics
        // check of `mosx_kinds::registry`.
        out.metric("pruned_at_epoch", e as f64);
    }
    out.metric("train_points", n_train as f64);
    out.metric("valid_points", n_valid as f64);
    out.metric("leaking_train", leak_counts[0] as f64);
    out.metric("leaking_valid", leak_counts[1] as f64);
    out.metric("leaking_test", leak_counts[2] as f64);
    for e in &log.epochs {
        out.metric(format!("epoch.{}.train_loss", e.epoch), e.train_loss);
        out.metric(format!("epoch.{}.valid_loss", e.epoch), e.valid_loss);
        out.metric(format!("epoch.{}.valid_auc", e.epoch), e.valid_auc);
    }
    if let Some(last) = log.epochs.last() {
        out.metric("final_train_loss", last.train_loss);
        out.metric("final_valid_loss", last.valid_loss);
    }
    // The method's internals (train P_H, MoS routing and router gradients, IFairLRS
    // weights, UP5 discriminator accuracy), declared in `mosx_kinds::train`, named
    // with the dataset's groups (see `mosx_methods::log::TrainLog::internal_metrics`).
    for (name, v) in log.internal_metrics(&ds.groups) {
        out.metric(name, v);
    }
}

/// `MOSX_TEST_HOLD_AT_EPOCH=E:MARKER`: as epoch `E` (0-based) starts, that is once `E`
/// epochs are finished and checkpointed, write the file `MARKER` and sleep for good. Tests
/// lose the training's node there, knowing exactly what a resumed attempt starts from.
fn hold_for_tests(epoch: usize) {
    let Ok(v) = std::env::var("MOSX_TEST_HOLD_AT_EPOCH") else {
        return;
    };
    let Some((e, marker)) = v.split_once(':') else {
        return;
    };
    if e.parse::<usize>() == Ok(epoch) && std::fs::write(marker, b"").is_ok() {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

/// The trainer's progress on the stage's bar: one bar per epoch, loss and samples/s.
struct StageObserver<'a>(&'a dyn Progress);

impl mosx_methods::Observer for StageObserver<'_> {
    fn epoch_start(&self, epoch: usize, epochs: usize, steps: usize) {
        hold_for_tests(epoch);
        self.0
            .start(&format!("epoch {}/{}", epoch + 1, epochs), steps as u64);
    }
    fn step(&self, _epoch: usize, _k: usize, loss: f64, samples_per_s: f64) {
        // Tests slow training down to kill it mid-epoch (as MOSX_TEST_STAGE_DELAY_MS does
        // for whole stages).
        if let Some(ms) = std::env::var("MOSX_TEST_STEP_DELAY_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        self.0
            .message(&format!("loss {loss:.4}, {samples_per_s:.1} samples/s"));
        self.0.inc(1);
    }
    fn epoch_end(&self, log: &mosx_methods::trainer::EpochLog) {
        let disc = log.disc_acc.map_or(String::new(), |a| {
            format!(", discriminator accuracy {a:.3}")
        });
        self.0.message(&format!(
            "valid AUC {:.4}, valid loss {:.4}{disc}",
            log.valid_auc, log.valid_loss
        ));
        self.0.finish();
    }
}
