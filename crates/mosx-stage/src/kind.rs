//! Stage kinds: each kind is one type that declares its input slots, parses and
//! normalises its parameters, names the external files whose content enters its
//! fingerprint, and computes its output from its inputs.
//!
//! Invariants:
//! * `normalize` is total over valid parameters and idempotent: defaults are filled
//!   in, so writing a default explicitly never changes a stage's key.
//! * Parameters that only say *where* something is (folder paths) are excluded from
//!   the key by `key_params`; the content hashes of the files found there enter it
//!   instead, so moving a data folder does not invalidate the cache.
//! * `run` is deterministic in its inputs and parameters (seeded RNGs only) and
//!   returns everything it produced; it never writes to the store itself.
//! * The executor knows stage kinds only through this trait.
//! * A kind whose [`StageKind::execution`] is [`Execution::Worker`] (`train`, `evaluate`: they
//!   need libtorch) is only declared here; the worker (`mosx-worker`) holds its runner, and
//!   its `run` here refuses with [`StageError::WorkerOnly`]. Everything the planner needs of it
//!   (slots, params, key files, resource, code units) is tch-free.
//! * Everything checkable without the data is checked at plan time: `normalize` checks each
//!   parameter's bounds, `external_files` that the files exist (the prompt `template` too),
//!   and [`StageKind::metrics`] / [`StageKind::groups`] let the plan check claims and group
//!   names. What needs the data (e.g. the windows a dataset has) fails at run time with the
//!   parameter's spec location ([`StageCtx::param_error`], [`StageError::Param`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use crate::artifact::{Inputs, Output};
use crate::params::ParamError;

/// A named input of a stage kind, satisfied by a stage of one of `producers`.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pub name: &'static str,
    pub producers: &'static [&'static str],
    /// When the spec leaves this slot out, the plan fills it with the unique
    /// ancestor (through the declared inputs) of a producer kind.
    pub inferable: bool,
    /// The stage runs without it when the spec leaves it out (e.g. `evaluate`'s
    /// `adapter`: no adapter is the zero-shot backbone).
    pub optional: bool,
}

impl Slot {
    /// A slot the spec must bind.
    pub const fn given(s: crate::declared::SlotRef) -> Slot {
        Slot {
            name: s.name,
            producers: s.producers,
            inferable: false,
            optional: false,
        }
    }

    /// A slot the plan fills with the unique ancestor of a producer kind when the spec
    /// leaves it out.
    pub const fn inferred(s: crate::declared::SlotRef) -> Slot {
        Slot {
            inferable: true,
            ..Slot::given(s)
        }
    }

    /// A slot the stage runs without when the spec leaves it out.
    pub const fn optional(s: crate::declared::SlotRef) -> Slot {
        Slot {
            optional: true,
            ..Slot::given(s)
        }
    }
}

/// What a stage needs to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Plain CPU work; runs in parallel with other CPU stages (`-j`).
    Cpu,
    /// Work on the accelerator chosen by `--device`; serialised per device by the device's
    /// worker, so a kind with this resource executes in the worker ([`Execution::Worker`]).
    Device,
}

/// An external file whose content hash is part of a stage's fingerprint.
#[derive(Debug, Clone)]
pub struct ExternalFile {
    /// Name in the fingerprint: relative, stable (e.g. `ml-100k.inter`).
    pub name: String,
    pub path: PathBuf,
}

/// Where a stage kind's `run` executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Execution {
    /// In the process that executes the plan (the planner, `-j` in parallel).
    InProcess,
    /// In the stage worker `mosx-worker`, which links libtorch and holds the kind's runner.
    Worker,
}

/// Progress reporting for a stage's inner loop (epochs, batches).
pub trait Progress: Send + Sync {
    fn start(&self, label: &str, total: u64);
    fn inc(&self, n: u64);
    /// A short status shown beside the bar (e.g. `loss 0.693, 3.1 samples/s`).
    fn message(&self, _msg: &str) {}
    fn finish(&self);
}

/// Everything a running stage may use.
pub struct StageCtx<'a> {
    pub name: &'a str,
    pub params: &'a Value,
    pub inputs: Inputs<'a>,
    /// Label of the device the stage runs on (`cpu`, `cuda:0`); in-process stages run on the
    /// CPU, the worker maps its label to a libtorch device.
    pub device: &'a str,
    pub progress: &'a dyn Progress,
    /// A scratch folder private to this stage's key (resumable checkpoints). It survives
    /// a crash and is removed once the stage's row is committed.
    pub work_dir: std::path::PathBuf,
    /// Where the spec wrote each parameter (`windows` → `spec.yaml:9:40:
    /// stages.ml_sample.params.windows`; nested ones as `method.tokens`), for the errors that
    /// name one ([`StageCtx::param_error`]). Empty when the job carries none.
    pub locations: &'a BTreeMap<String, String>,
    /// The templates folder the plan resolved (prompt templates are `prompts/NAME.j2` in it).
    pub templates: &'a std::path::Path,
}

impl StageCtx<'_> {
    /// A run-time error caused by the value of parameter `field`, located where the spec
    /// wrote it (or `params.FIELD` when the job carries no location).
    pub fn param_error(&self, field: &str, message: impl Into<String>) -> StageError {
        StageError::Param {
            field: field.to_string(),
            at: self.locations.get(field).cloned(),
            message: message.into(),
        }
    }

    /// A data error, located at the parameter it is about: the option an
    /// `InvalidOption`/`UnknownGroup` names, or what `field_of` says for the others (e.g.
    /// `windows` for too few windows); unlocated when neither names one.
    pub fn data_error(
        &self,
        e: mosx_data::DataError,
        field_of: impl Fn(&mosx_data::DataError) -> Option<&'static str>,
    ) -> StageError {
        use mosx_data::DataError as D;
        let field = match &e {
            D::InvalidOption { option, .. } | D::UnknownGroup { option, .. } => {
                Some(option.clone())
            }
            other => field_of(other).map(str::to_string),
        };
        match field {
            Some(f) => self.param_error(&f, e.to_string()),
            None => StageError::Data(e),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("{0}")]
    Data(#[from] mosx_data::DataError),
    #[error("{0}")]
    Model(#[from] mosx_config::CheckpointError),
    #[error("{0}")]
    Method(#[from] mosx_config::MethodError),
    #[error("{0}")]
    Prompt(#[from] crate::prompt::PromptError),
    #[error("input `{slot}`: {message}")]
    Input { slot: String, message: String },
    #[error("stage kind `{kind}` runs in the stage worker (mosx-worker), not in this process")]
    WorkerOnly { kind: String },
    /// A failure caused by the value of parameter `field` (e.g. more windows asked for than
    /// the data has, a prompt template that does not load); `at` is where the spec wrote it,
    /// `file:line:col: stages.NAME.params.FIELD` (see [`StageCtx::param_error`]). Shown as
    /// `params.FIELD` when unlocated; the plan locates the ones it finds itself.
    #[error("{}: {message}", param_at(.field, .at))]
    Param {
        field: String,
        at: Option<String>,
        message: String,
    },
    /// An output that could not be encoded (`encode `NAME`: ...`).
    #[error("encode `{artifact}`: {message}")]
    Encode { artifact: String, message: String },
    /// Normalised params that do not parse as the kind's params (a job from other code).
    #[error("params: {0}")]
    Params(String),
}

fn param_at(field: &str, at: &Option<String>) -> String {
    at.clone().unwrap_or_else(|| format!("params.{field}"))
}

pub trait StageKind: Send + Sync {
    /// The kind's name as written in specs (`kind: load`).
    fn name(&self) -> &'static str;
    /// Bumped whenever the kind's computation changes, so old results go stale. An addition
    /// to [`StageKind::code`], which covers source edits automatically.
    fn code_version(&self) -> u32;
    /// The code this kind runs, as units whose sources are hashed at build time: workspace
    /// crates (`mosx-data`) and source files of the root crate or the worker
    /// (`crates/mosx-kinds/src/load.rs`, `crates/mosx-worker/src/runners/train.rs`). The stage key
    /// covers their hashes, so editing that code makes old results stale. The kernel crate
    /// (`mosx-stage`: this trait, artifacts, params) is implied for every kind.
    fn code(&self) -> &'static [&'static str];
    /// One line for `--help` and error messages.
    fn about(&self) -> &'static str;
    fn slots(&self) -> &'static [Slot];
    /// The metric names this kind writes, as patterns of `.`-separated segments in which
    /// `{group}` stands for a user group of the stage's dataset, `{epoch}` for an epoch
    /// index below the stage's `epochs` parameter, `{expert}` for an expert `e<k>` and `{k}` for a
    /// ranking cut-off K (e.g. `hr.{k}`,
    /// `F.{group}.{group}`, `epoch.{epoch}.valid_auc`, `routing.valid.{group}.{expert}`). The plan checks claims and report comparisons against
    /// them; a test checks every metric a kind's code writes is declared.
    fn metrics(&self) -> &'static [&'static str];
    /// The user groups of the dataset a stage of this kind is the source of (`load`: from
    /// its folder's layout, before anything is read); `None` for the other kinds, whose
    /// groups are those of their `dataset` ancestor.
    fn groups(&self, _params: &Value) -> Option<Vec<String>> {
        None
    }
    /// The user groups the normalised params name, as (field under `params`, group): the plan
    /// checks each is a group of the stage's dataset (e.g. `group_ratio.adult`).
    fn named_groups(&self, _params: &Value) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Parse the spec's params into the kind's typed parameters (unknown fields and
    /// wrong types are errors with a field path) and return them with defaults filled.
    fn normalize(&self, params: &serde_json::Map<String, Value>) -> Result<Value, ParamError>;
    /// The part of the normalised params that enters the key (default: all of them).
    fn key_params(&self, params: &Value) -> Value {
        params.clone()
    }
    /// Files whose content enters the key. Errors name the missing file.
    fn external_files(
        &self,
        _params: &Value,
        _project: &crate::project::Project,
    ) -> Result<Vec<ExternalFile>, StageError> {
        Ok(Vec::new())
    }
    fn resource(&self, _params: &Value) -> Resource {
        Resource::Cpu
    }
    /// Where `run` executes (default: in-process).
    fn execution(&self) -> Execution {
        Execution::InProcess
    }
    fn run(&self, ctx: &StageCtx<'_>) -> Result<Output, StageError>;
}

pub type KindRef = Arc<dyn StageKind>;

/// Whether metric `name` is an instance of `pattern`, a pattern of [`StageKind::metrics`]:
/// `{group}` one of `groups` (any segment when `None`), `{epoch}` an index below `epochs`
/// (any when `None`), `{expert}` an expert `e<k>`, `{k}` a ranking cut-off (an integer >= 1),
/// any other segment itself.
pub fn metric_matches(
    pattern: &str,
    name: &str,
    groups: Option<&[String]>,
    epochs: Option<usize>,
) -> bool {
    let (p, n): (Vec<&str>, Vec<&str>) = (pattern.split('.').collect(), name.split('.').collect());
    p.len() == n.len()
        && p.iter().zip(&n).all(|(p, n)| match *p {
            "{group}" => groups.is_none_or(|g| g.iter().any(|g| g == n)),
            "{epoch}" => n
                .parse::<usize>()
                .is_ok_and(|e| epochs.is_none_or(|m| e < m)),
            "{expert}" => n
                .strip_prefix('e')
                .is_some_and(|k| k.parse::<usize>().is_ok()),
            "{k}" => n.parse::<usize>().is_ok_and(|k| k >= 1),
            lit => lit == *n,
        })
}

/// The key files of a stage that runs the backbone `params.model` on prompts of
/// `params.template` (`evaluate`, `train`): the checkpoint's files (with its chat template
/// under `prompt_format: chat`) and the prompt template, which must load (see
/// [`check_prompt_template`]).
pub fn backbone_files(
    params: &Value,
    project: &crate::project::Project,
) -> Result<Vec<ExternalFile>, StageError> {
    let model = params
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let template = params
        .get("template")
        .and_then(Value::as_str)
        .unwrap_or("tallrec");
    check_prompt_template(template, project)?;
    let chat = crate::chat::format_of(params) == crate::chat::PromptFormat::Chat;
    let files = crate::backbones::key_files(model, template, chat, project).map_err(|e| {
        StageError::Param {
            field: if chat {
                crate::chat::PROMPT_FORMAT
            } else {
                "model"
            }
            .into(),
            at: None,
            message: e.to_string(),
        }
    })?;
    Ok(files
        .into_iter()
        .map(|(name, path)| ExternalFile { name, path })
        .collect())
}

/// The prompt template `name` (a file stem: letters, digits, `_`, `-`) loads from
/// the project's `templates/prompts/NAME.j2` (or is the built-in `tallrec`), parses, and reads
/// only the names a prompt provides; errors are [`StageError::Param`] at `template`.
pub fn check_prompt_template(
    name: &str,
    project: &crate::project::Project,
) -> Result<(), StageError> {
    let bad = |message: String| StageError::Param {
        field: "template".into(),
        at: None,
        message,
    };
    let stem_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !stem_ok {
        return Err(bad(format!(
            "`{}` is not a template name (letters, digits, `_` and `-`: the stem of templates/prompts/NAME.j2)",
            mosx_spec::printable(name)
        )));
    }
    let dir = project.templates.as_path();
    let file = project.prompt_file(name);
    if name != "tallrec" && !file.is_file() {
        let mut known = vec!["tallrec".to_string()];
        let listed = std::fs::read_dir(dir.join("prompts")).into_iter().flatten();
        known.extend(listed.flatten().filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_suffix(".j2").map(str::to_string)
        }));
        let hint = mosx_spec::suggest(name, known.iter().map(String::as_str))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return Err(bad(format!(
            "no prompt template `{name}`: {} does not exist (the built-in one is `tallrec`){hint}",
            file.display()
        )));
    }
    let tpl = crate::prompt::PromptTemplate::load(dir, name).map_err(|e| bad(e.to_string()))?;
    tpl.check_names().map_err(|e| bad(e.to_string()))
}
