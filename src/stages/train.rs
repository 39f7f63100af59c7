//! Stage `train`: one training of a method on a backbone (METHOD.md §4-§6), a thin shell
//! around `mosx_methods::train`.
//!
//! It renders and tokenizes the split's points, measures each target's item groups and
//! each history's share from the `measure` stage, and hands examples to the trainer. Its
//! artifacts are the trained parameters only (`adapter`, safetensors), the method's
//! canonical `config` and the training `log`; the frozen backbone is never copied into the
//! store (its content hash is in the key). Per-epoch checkpoints go to the stage's work
//! folder, so a killed training resumes after its last finished epoch.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use mosx_data::{Dataset, Sequences, Split, Stereotypes};
use mosx_methods::losses::RecLoss;
use mosx_methods::optim::{OptimConfig, OptimizerKind};
use mosx_methods::{methods, Example, Objective, Schedule, TrainConfig, TrainData};
use mosx_models::tokenizer::TextTokenizer;
use mosx_models::{Backbone, Dtype};

use super::{
    backbone_files, params, ExternalFile, Output, ParamError, Progress, Resource, Slot, StageCtx,
    StageError, StageKind,
};
use crate::backbones;
use crate::predictions::spread;
use crate::prompt::{leaks, PromptTemplate, Setting};
use crate::trained::TrainedConfig;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Params {
    /// Hugging Face folder or ORG/NAME in the HF cache.
    pub model: String,
    /// A method name or a map `{name: ..., <its params>}`; canonical after `normalize`.
    pub method: Value,
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
    #[serde(default = "default_dtype")]
    pub dtype: Dtype,
    /// Train on N evenly spaced points of the train part (`null`: all).
    #[serde(default)]
    pub max_train_points: Option<usize>,
    /// Validate (early stopping, AUC) on N evenly spaced valid points (`null`: all).
    #[serde(default = "default_valid")]
    pub max_valid_points: Option<usize>,
    /// Epochs without a better validation AUC before stopping.
    #[serde(default = "default_patience")]
    pub patience: usize,
    /// The prompt setting the backbone reads while training.
    #[serde(default = "default_setting")]
    pub setting: Setting,
    #[serde(default = "default_template")]
    pub template: String,
    /// Remove points whose target title appears in their own history.
    #[serde(default)]
    pub drop_leaking: bool,
    #[serde(default)]
    pub rec_loss: RecLoss,
    /// Global gradient-norm clip (0: none).
    #[serde(default = "one")]
    pub max_grad_norm: f64,
    /// Batch size of validation scoring (not part of the key).
    #[serde(default = "default_eval_batch")]
    pub eval_batch_size: usize,
}
const FIELDS: &[&str] = &[
    "model",
    "method",
    "objective",
    "lambda_fair",
    "lambda_div",
    "optimizer",
    "lr",
    "schedule",
    "warmup",
    "epochs",
    "batch_size",
    "grad_accum",
    "seed",
    "dtype",
    "max_train_points",
    "max_valid_points",
    "patience",
    "setting",
    "template",
    "drop_leaking",
    "rec_loss",
    "max_grad_norm",
    "eval_batch_size",
];
fn one() -> f64 {
    1.0
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
fn default_dtype() -> Dtype {
    Dtype::F32
}
fn default_valid() -> Option<usize> {
    Some(200)
}
fn default_patience() -> usize {
    2
}
fn default_setting() -> Setting {
    Setting::Implicit
}
fn default_template() -> String {
    "tallrec".into()
}
fn default_eval_batch() -> usize {
    16
}

fn bad(field: &str, message: impl Into<String>) -> ParamError {
    ParamError {
        field: field.into(),
        message: message.into(),
        suggestion: None,
    }
}

pub struct Train;

impl StageKind for Train {
    fn name(&self) -> &'static str {
        "train"
    }
    fn code_version(&self) -> u32 {
        1
    }
    fn code(&self) -> &'static [&'static str] {
        &[
            "mosx-data",
            "mosx-models",
            "mosx-methods",
            "mosx-fairness",
            "src/stages/train.rs",
            "src/prompt.rs",
            "src/predictions.rs",
            "src/backbones.rs",
        ]
    }
    fn about(&self) -> &'static str {
        "train a method (full, LoRA, p-tuning, prompt tuning, MoS, IFairLRS, UP5, FaiRLLM) on a backbone"
    }
    fn slots(&self) -> &'static [Slot] {
        &[
            Slot {
                name: "split",
                producers: &["split"],
                inferable: false,
                optional: false,
            },
            Slot {
                name: "measure",
                producers: &["measure"],
                inferable: false,
                optional: false,
            },
            Slot {
                name: "sequences",
                producers: &["sample"],
                inferable: true,
                optional: false,
            },
            Slot {
                name: "dataset",
                producers: &["load"],
                inferable: true,
                optional: false,
            },
        ]
    }
    fn normalize(&self, p: &serde_json::Map<String, Value>) -> Result<Value, ParamError> {
        let (mut typed, _) = params::parse::<Params>(p, FIELDS)?;
        let named_in_map = typed.method.is_object();
        typed.method =
            methods::normalize(&typed.method).map_err(|e| method_param_error(&e, named_in_map))?;
        let name = typed.method["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let entry = methods::entry(&name).map_err(|e| method_param_error(&e, named_in_map))?;
        let objective = typed.objective.unwrap_or(entry.default_objective);
        if objective.div() && !entry.default_objective.div() {
            return Err(bad(
                "objective",
                format!(
                    "rec+fair+div needs prompt experts to diversify; `{name}` has none (use mos)"
                ),
            ));
        }
        typed.objective = Some(objective);
        typed.lr = Some(typed.lr.unwrap_or(entry.default_lr));
        for (field, ok) in [
            ("batch_size", typed.batch_size >= 1),
            ("grad_accum", typed.grad_accum >= 1),
            ("epochs", typed.epochs >= 1),
            ("eval_batch_size", typed.eval_batch_size >= 1),
            ("lr", typed.lr.is_some_and(|l| l.is_finite() && l >= 0.0)),
            ("warmup", (0.0..1.0).contains(&typed.warmup)),
        ] {
            if !ok {
                return Err(bad(field, "out of range"));
            }
        }
        serde_json::to_value(&typed).map_err(|e| bad("", e.to_string()))
    }
    fn key_params(&self, p: &Value) -> Value {
        let mut p = p.clone();
        if let Some(o) = p.as_object_mut() {
            o.remove("model");
            o.remove("eval_batch_size");
        }
        p
    }
    fn external_files(&self, p: &Value) -> Result<Vec<ExternalFile>, StageError> {
        backbone_files(p)
    }
    fn resource(&self, _p: &Value) -> Resource {
        Resource::Device
    }
    fn run(&self, ctx: &StageCtx<'_>) -> Result<Output, StageError> {
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
            max_grad_norm: p.max_grad_norm,
            rec_loss: p.rec_loss,
            eval_batch_size: p.eval_batch_size,
        };
        let obs = StageObserver(ctx.progress);
        let train_on =
            |backbone: &mut dyn Backbone, tok: &TextTokenizer| -> Result<_, StageError> {
                let answer = tok.answer_ids("Yes", "No")?;
                let adapter = tch::nn::VarStore::new(ctx.device);
                let setup = backbones::method_setup(&ds, backbone, tok, p.seed, ctx.device)?;
                let (method, _) = methods::build(&p.method, &setup, backbone, &adapter)?;
                let variants = method.needs_variants();
                let examples = |idx: &[u32]| -> Result<Vec<Example>, StageError> {
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
                                    .collect::<Result<Vec<_>, StageError>>()?
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
        let (outcome, n_train, n_valid) = backbones::with_backbone(
            &p.model,
            ctx.device,
            p.dtype,
            entry.modifies_backbone,
            train_on,
        )??;

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
        Ok(out)
    }
}

/// A method error at normalisation time as a parameter error under `method` (an unknown
/// name points at `method.name` when the method is a map).
fn method_param_error(e: &mosx_methods::MethodError, named_in_map: bool) -> ParamError {
    match e {
        mosx_methods::MethodError::UnknownMethod { name, suggestion } => ParamError {
            field: if named_in_map {
                "method.name"
            } else {
                "method"
            }
            .into(),
            message: format!(
                "unknown method `{name}` (one of: {})",
                methods::names().join(", ")
            ),
            suggestion: suggestion.clone(),
        },
        mosx_methods::MethodError::Config { field, message, .. } => ParamError {
            field: if field.is_empty() {
                "method".into()
            } else {
                format!("method.{field}")
            },
            message: message.clone(),
            suggestion: None,
        },
        other => bad("method", other.to_string()),
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
        self.0.message(&format!(
            "valid AUC {:.4}, valid loss {:.4}",
            log.valid_auc, log.valid_loss
        ));
        self.0.finish();
    }
}
