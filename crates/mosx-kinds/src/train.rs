//! Stage `train`: one training of a method on a backbone (METHOD.md §4-§6), declared here
//! and run by the stage worker (`mosx-worker`, `runners/train.rs`, a thin shell around
//! `mosx_methods::train`).
//!
//! The runner renders and tokenizes the split's points, measures each target's item groups
//! and each history's share from the `measure` stage, and hands examples to the trainer. Its
//! artifacts are the trained parameters only (`adapter`, safetensors), the method's
//! canonical `config` ([`mosx_stage::trained::TrainedConfig`]) and the training `log`; the frozen
//! backbone is never copied into the store (its content hash is in the key). Per-epoch
//! checkpoints go to the stage's work folder, so a killed training resumes after its last
//! finished epoch.
//!
//! What the planner needs is here and tch-free: the slots, [`Params`] and their
//! normalisation (through the methods' registry in `mosx_config`, which has no tch), the key
//! files, the resource and the code units, which include the runner's sources.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use mosx_config::train::TrainParams;
use mosx_config::{methods, Dtype};

use crate::artifacts::{slot, ARTIFACTS_UNIT};
use mosx_stage::chat::{drop_plain, PromptFormat};
use mosx_stage::kind::backbone_files;
use mosx_stage::params;
use mosx_stage::params::{check, Bound};
use mosx_stage::prompt::Setting;
use mosx_stage::{
    Execution, ExternalFile, Output, ParamError, Project, Resource, Slot, StageCtx, StageError,
    StageKind,
};

/// The parameters of a `train` stage, as normalised (every default written out): the
/// backbone, the method, the data and prompts, and the training's hyperparameters
/// ([`TrainParams`], declared once in mosx-config, with their defaults). Unknown fields are
/// refused by [`params::parse`] (serde's `deny_unknown_fields` does not combine with
/// `flatten`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Params {
    /// Hugging Face folder or ORG/NAME in the HF cache.
    pub model: String,
    /// A method name or a map `{name: ..., <its params>}`; canonical after `normalize`.
    pub method: Value,
    #[serde(default = "default_dtype")]
    pub dtype: Dtype,
    /// Train on N evenly spaced points of the train part (`null`: all).
    #[serde(default)]
    pub max_train_points: Option<usize>,
    /// Validate (early stopping, AUC) on N evenly spaced valid points (`null`: all).
    #[serde(default = "default_valid")]
    pub max_valid_points: Option<usize>,
    /// The prompt setting the backbone reads while training.
    #[serde(default = "default_setting")]
    pub setting: Setting,
    #[serde(default = "default_template")]
    pub template: String,
    /// Remove points whose target title appears in their own history.
    #[serde(default)]
    pub drop_leaking: bool,
    /// `plain` (absent) or `chat`: the prompt wrapped in the checkpoint's chat template
    /// (`mosx_stage::chat`); left out of the normalised params when `plain`.
    #[serde(default)]
    pub prompt_format: PromptFormat,
    #[serde(flatten)]
    pub train: TrainParams,
}
fn default_dtype() -> Dtype {
    Dtype::F32
}
fn default_valid() -> Option<usize> {
    Some(200)
}
fn default_setting() -> Setting {
    Setting::Implicit
}
fn default_template() -> String {
    "tallrec".into()
}

fn bad(field: &str, message: impl Into<String>) -> ParamError {
    ParamError {
        field: field.into(),
        message: message.into(),
        suggestion: None,
    }
}

/// The bounds of a train stage's parameters (checked at plan time, `normalize`).
fn bounds(p: &Params) -> Vec<Bound> {
    let lr = p.train.lr.unwrap_or(f64::NAN);
    let mut b = vec![
        Bound::positive("lr", lr),
        Bound::non_negative("lambda_fair", p.train.lambda_fair),
        Bound::non_negative("lambda_div", p.train.lambda_div),
        Bound::fraction("warmup", p.train.warmup),
        Bound::at_least("epochs", p.train.epochs, 1),
        Bound::at_least("batch_size", p.train.batch_size, 1),
        Bound::at_least("grad_accum", p.train.grad_accum, 1),
        Bound::at_least("patience", p.train.patience, 1),
        Bound::at_least("eval_batch_size", p.train.eval_batch_size, 1),
        Bound::cap("max_train_points", p.max_train_points),
        Bound::cap("max_valid_points", p.max_valid_points),
    ];
    if let Some(clip) = p.train.max_grad_norm {
        let mut c = Bound::positive("max_grad_norm", clip);
        c.rule = "> 0, or null for no clipping".into();
        b.push(c);
    }
    b
}

/// The kind's name in specs (`kind: train`).
pub const NAME: &str = "train";

pub struct Train;

/// The metric of a training ASHA stopped: the epochs it ran (`TrainLog::pruned_at_epoch`);
/// written only then. Its descendants are skipped (`exec::scheduler`).
pub const PRUNED_METRIC: &str = "pruned_at_epoch";

/// What the runner writes itself (`runners/train.rs`).
pub const RUNNER_METRICS: &[&str] = &[
    "trainable_params",
    "trainable_fraction",
    "trainable_percent",
    "best_epoch",
    "best_valid_auc",
    "base_valid_auc",
    "epochs_run",
    PRUNED_METRIC,
    "train_points",
    "valid_points",
    "leaking_train",
    "leaking_valid",
    "leaking_test",
    "epoch.{epoch}.train_loss",
    "epoch.{epoch}.valid_loss",
    "epoch.{epoch}.valid_auc",
    "final_train_loss",
    "final_valid_loss",
];

/// Every metric a `train` stage can write: the runner's own and the method internals of
/// the training log ([`mosx_config::log::INTERNAL_METRICS`], written by the runner through
/// `TrainLog::internal_metrics`; a method writes only those it has).
static METRICS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    RUNNER_METRICS
        .iter()
        .chain(mosx_config::log::INTERNAL_METRICS)
        .copied()
        .collect()
});

impl StageKind for Train {
    fn name(&self) -> &'static str {
        NAME
    }
    fn code_version(&self) -> u32 {
        1
    }
    fn code(&self) -> &'static [&'static str] {
        &[
            "mosx-data",
            "mosx-config",
            "mosx-models",
            "mosx-methods",
            "mosx-fairness",
            "crates/mosx-kinds/src/train.rs",
            ARTIFACTS_UNIT,
            "crates/mosx-worker/src/runners/mod.rs",
            "crates/mosx-worker/src/runners/train.rs",
            "crates/mosx-worker/src/pool.rs",
        ]
    }
    fn about(&self) -> &'static str {
        "train a method (full, LoRA, p-tuning, prompt tuning, MoS, IFairLRS, UP5, FaiRLLM) on a backbone"
    }
    fn metrics(&self) -> &'static [&'static str] {
        &METRICS
    }
    fn slots(&self) -> &'static [Slot] {
        const SLOTS: &[Slot] = &[
            Slot::given(slot::SPLIT),
            Slot::given(slot::MEASURE),
            Slot::inferred(slot::SEQUENCES),
            Slot::inferred(slot::DATASET),
        ];
        SLOTS
    }
    fn normalize(&self, p: &serde_json::Map<String, Value>) -> Result<Value, ParamError> {
        let (mut typed, _) = params::parse::<Params>(p)?;
        let named_in_map = typed.method.is_object();
        typed.method =
            methods::normalize(&typed.method).map_err(|e| method_param_error(&e, named_in_map))?;
        let name = typed.method["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let entry = methods::entry(&name).map_err(|e| method_param_error(&e, named_in_map))?;
        let objective = typed.train.objective.unwrap_or(entry.default_objective);
        if objective.div() && !entry.default_objective.div() {
            return Err(bad(
                "objective",
                format!(
                    "rec+fair+div needs prompt experts to diversify; `{name}` has none (use mos)"
                ),
            ));
        }
        typed.train.objective = Some(objective);
        typed.train.lr = Some(typed.train.lr.unwrap_or(entry.default_lr));
        check(&bounds(&typed))?;
        let mut v = serde_json::to_value(&typed).map_err(|e| bad("", e.to_string()))?;
        drop_plain(&mut v);
        Ok(v)
    }
    fn key_params(&self, p: &Value) -> Value {
        let mut p = p.clone();
        if let Some(o) = p.as_object_mut() {
            o.remove("model");
            o.remove("eval_batch_size");
        }
        p
    }
    fn external_files(
        &self,
        p: &Value,
        project: &Project,
    ) -> Result<Vec<ExternalFile>, StageError> {
        backbone_files(p, project)
    }
    fn resource(&self, _p: &Value) -> Resource {
        Resource::Device
    }
    fn execution(&self) -> Execution {
        Execution::Worker
    }
    fn run(&self, _ctx: &StageCtx<'_>) -> Result<Output, StageError> {
        Err(StageError::WorkerOnly {
            kind: self.name().into(),
        })
    }
}

/// A method error at normalisation time as a parameter error under `method` (an unknown
/// name points at `method.name` when the method is a map).
fn method_param_error(e: &mosx_config::MethodError, named_in_map: bool) -> ParamError {
    match e {
        mosx_config::MethodError::UnknownMethod { name, suggestion } => ParamError {
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
        mosx_config::MethodError::Config { field, message, .. } => ParamError {
            field: if field.is_empty() {
                "method".into()
            } else {
                format!("method.{field}")
            },
            message: message.clone(),
            suggestion: None,
        },
    }
}
