//! The runner of `train` (declared in `mosx::stages::train`): one training of a method on a
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

use mosx::predictions::spread;
use mosx::prompt::{leaks, PromptTemplate};
use mosx::stages::train::Params;
use mosx::stages::{params, Output, Progress, StageCtx};
use mosx::trained::TrainedConfig;
use mosx_data::{Dataset, Sequences, Split, Stereotypes};
use mosx_methods::optim::OptimConfig;
use mosx_methods::{methods, Example, TrainConfig, TrainData};
use mosx_models::tokenizer::TextTokenizer;
use mosx_models::Backbone;

use super::{RunError, Runner};
use crate::pool;

pub struct Train;

impl Runner for Train {
    fn run(&self, ctx: &StageCtx<'_>, device: tch::Device) -> Result<Output, RunError> {
        let p: Params = params::typed(ctx.params)?;
        let ds = ctx.inputs.get::<Dataset>("dataset", "dataset")?;
        let seq = ctx.inputs.get::<Sequences>("sequences", "sequences")?;
        let split = ctx.inputs.get::<Split>("split", "split")?;
        let st = ctx.inputs.get::<Stereotypes>("measure", "stereotypes")?;
        let method_name = p.method["name"].as_str().unwrap_or_default().to_string();
        let entry = methods::entry(&method_name)?;

        // Leakage: counted on every part, dropped everywhere when asked.
        let leaking = |idx: &[u32]| {
            idx.iter()
                .filter(|&&i| leaks(&ds, &seq.points[i as usize]))
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
                .filter(|&i| !p.drop_leaking || !leaks(&ds, &seq.points[i as usize]))
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

        let tpl = PromptTemplate::load(Path::new("templates"), &p.template)?;
        let threshold = ds.label_threshold;
        let ng = ds.groups.len();
        let cfg = TrainConfig {
            objective: p.objective.unwrap_or(entry.default_objective),
            lambda_fair: p.lambda_fair,
            lambda_div: p.lambda_div,
            optim: OptimConfig::for_kind(p.optimizer),
            lr: p.lr.unwrap_or(entry.default_lr),
            schedule: p.schedule,
            warmup: p.warmup,
            epochs: p.epochs,
            batch_size: p.batch_size,
            grad_accum: p.grad_accum,
            seed: p.seed,
            patience: p.patience,
            // The trainer clips only when the norm is > 0; `null` in the spec is no clipping.
            max_grad_norm: p.max_grad_norm.unwrap_or(0.0),
            rec_loss: p.rec_loss,
            eval_batch_size: p.eval_batch_size,
        };
        let obs = StageObserver(ctx.progress);
        let train_on = |backbone: &mut dyn Backbone, tok: &TextTokenizer| -> Result<_, RunError> {
            let answer = tok.answer_ids("Yes", "No")?;
            let adapter = tch::nn::VarStore::new(device);
            let setup = pool::method_setup(&ds, backbone, tok, p.seed, device)?;
            let (method, _) = methods::build(&p.method, &setup, backbone, &adapter)?;
            let variants = method.needs_variants();
            let examples = |idx: &[u32]| -> Result<Vec<Example>, RunError> {
                idx.iter()
                    .map(|&i| {
                        let d = &seq.points[i as usize];
                        let text = tpl.render_point(&ds, d, p.setting, threshold)?;
                        let variants = if variants {
                            (0..ng)
                                .map(|g| {
                                    let t = tpl.render_point_as(&ds, d, Some(g), threshold)?;
                                    Ok(tok.encode(&t, true)?)
                                })
                                .collect::<Result<Vec<_>, RunError>>()?
                        } else {
                            Vec::new()
                        };
                        Ok(Example {
                            ids: tok.encode(&text, true)?,
                            label: d.label,
                            user_group: ds.users[d.user as usize].group as usize,
                            target_groups: st.item_groups(d.target),
                            history_share: st.history_share(&d.history),
                            variants,
                        })
                    })
                    .collect()
            };
            let train = examples(&train_idx)?;
            let valid = examples(&valid_idx)?;
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
                &cfg,
                Some(&ctx.work_dir),
                &mosx_fairness::auc,
                &obs,
            )?;
            Ok((outcome, train.len(), valid.len()))
        };
        let (outcome, n_train, n_valid) =
            pool::with_backbone(&p.model, device, p.dtype, entry.modifies_backbone, train_on)??;

        let mut out = Output::default();
        let bytes = mosx_methods::io::to_bytes(&outcome.params)?;
        out.artifacts.push(mosx_store::Artifact {
            name: "adapter".into(),
            format: "safetensors".into(),
            bytes,
        });
        let fraction = outcome.trainable_params as f64 / outcome.backbone_params.max(1) as f64;
        out.put_json(
            "config",
            &TrainedConfig {
                method: p.method.clone(),
                drop_leaking: p.drop_leaking,
                trainable_params: outcome.trainable_params,
                backbone_params: outcome.backbone_params,
            },
        )?;
        let log = &outcome.log;
        out.put_json(
            "log",
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
        out.metric("trainable_params", outcome.trainable_params as f64);
        out.metric("trainable_fraction", fraction);
        out.metric("trainable_percent", 100.0 * fraction);
        out.metric("best_epoch", log.best_epoch.map_or(f64::NAN, |e| e as f64));
        out.metric("best_valid_auc", log.best_valid_auc);
        out.metric("base_valid_auc", log.base_valid_auc);
        out.metric("epochs_run", log.epochs.len() as f64);
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
        // weights, UP5 discriminator accuracy), declared in `mosx::stages::train`, named
        // with the dataset's groups (see `mosx_methods::log::TrainLog::internal_metrics`).
        for (name, v) in log.internal_metrics(&ds.groups) {
            out.metric(name, v);
        }
        Ok(out)
    }
}

/// The trainer's progress on the stage's bar: one bar per epoch, loss and samples/s.
struct StageObserver<'a>(&'a dyn Progress);

impl mosx_methods::Observer for StageObserver<'_> {
    fn epoch_start(&self, epoch: usize, epochs: usize, steps: usize) {
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
