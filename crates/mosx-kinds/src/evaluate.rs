//! Stage `evaluate`: score the test (or valid) points of a split with a backbone
//! under the implicit, explicit or counterfactual setting (METHOD.md §3-4), giving
//! `p_yes = softmax([logit_yes, logit_no])[0]` per point.
//!
//! The counterfactual setting states the next group (`counterfactual: next`, the default)
//! or every other group (`counterfactual: all`: G − 1 prompts per point, the point's
//! `p_yes` their mean, so F, AUC, P and R read one prediction per point as in every other
//! setting). `counterfactual` is left out of the normalised params when it is `next`
//! (given or not), so the params (and keys) of specs that do not use it are those they had
//! before it existed; `all` under another setting is a plan error.
//!
//! The checkpoint folder is a location: its content hash enters the key, not its
//! path. Without an `adapter` (a `train` stage) this is the zero-shot `llm` row of
//! Table II; with one, the trained method scores (for MoS only the router reads the
//! stereotype sentences: the backbone reads the prompt of the chosen setting). Runs on the
//! device (`--device`), one device stage at a time.
//!
//! Declared here (slots, [`Params`], key files, code units); run by the stage worker
//! (`mosx-worker`, `runners/evaluate.rs`), which links libtorch. Its artifact is a
//! [`mosx_stage::predictions::Predictions`] payload.
//!
//! `protocol: ranking` (input `candidates`, a `candidates` stage) scores every item of each
//! candidate list with the pointwise prompt, the candidate in place of the target, and adds a
//! [`mosx_stage::rankings::Rankings`] payload; its predictions are the targets' scores, so the
//! pointwise metrics still apply. The candidates choose the points, so `part` and
//! `max_points` stay at their defaults there. `protocol` is left out of the normalised
//! params when absent or `pointwise`, so the keys of pointwise specs are those they had
//! before it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use mosx_config::Dtype;

use crate::artifacts::{slot, ARTIFACTS_UNIT};
use mosx_stage::chat::{drop_plain, PromptFormat};
use mosx_stage::kind::backbone_files;
use mosx_stage::params;
use mosx_stage::params::Bound;
use mosx_stage::predictions::Part;
use mosx_stage::prompt::{Counterfactual, Setting};
use mosx_stage::{
    Execution, ExternalFile, Output, ParamError, Project, Resource, Slot, StageCtx, StageError,
    StageKind,
};

/// The parameters of an `evaluate` stage, as normalised (every default written out).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Hugging Face folder or ORG/NAME in the HF cache.
    pub model: String,
    pub setting: Setting,
    /// Under `setting: counterfactual`, which other groups are stated; absent: `next`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterfactual: Option<Counterfactual>,
    #[serde(default = "default_template")]
    pub template: String,
    #[serde(default = "default_part")]
    pub part: Part,
    /// Evaluate N points of the part, evenly spaced over it (points are grouped by
    /// user, so a prefix would hold few users); `null`: all.
    #[serde(default)]
    pub max_points: Option<usize>,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    #[serde(default = "default_dtype")]
    pub dtype: Dtype,
    /// `pointwise` (absent) or `ranking` (with a `candidates` input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// `plain` (absent) or `chat`: the prompt wrapped in the checkpoint's chat template
    /// (`mosx_stage::chat`); left out of the normalised params when `plain`.
    #[serde(default)]
    pub prompt_format: PromptFormat,
}

/// How `evaluate` scores: each point's own target, or ranked candidate lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Pointwise,
    Ranking,
}

impl Params {
    /// Whether the stage ranks candidate lists.
    pub fn ranking(&self) -> bool {
        self.protocol == Some(Protocol::Ranking)
    }
}
impl Params {
    /// The counterfactual choice (`next` when not given).
    pub fn counterfactual(&self) -> Counterfactual {
        self.counterfactual.unwrap_or_default()
    }
}

/// The parameter name of the counterfactual choice.
const COUNTERFACTUAL: &str = "counterfactual";

fn default_template() -> String {
    "tallrec".into()
}
fn default_part() -> Part {
    Part::Test
}
fn default_batch() -> usize {
    8
}
fn default_dtype() -> Dtype {
    Dtype::F32
}

/// The kind's name in specs (`kind: evaluate`).
pub const NAME: &str = "evaluate";

pub struct Evaluate;

impl StageKind for Evaluate {
    fn name(&self) -> &'static str {
        NAME
    }
    fn code_version(&self) -> u32 {
        3
    }
    fn code(&self) -> &'static [&'static str] {
        &[
            "mosx-data",
            "mosx-config",
            "mosx-models",
            "mosx-methods",
            "crates/mosx-kinds/src/evaluate.rs",
            ARTIFACTS_UNIT,
            "crates/mosx-worker/src/runners/mod.rs",
            "crates/mosx-worker/src/runners/evaluate.rs",
            "crates/mosx-worker/src/pool.rs",
        ]
    }
    fn about(&self) -> &'static str {
        "score test points with a backbone under implicit/explicit/counterfactual prompts"
    }
    fn metrics(&self) -> &'static [&'static str] {
        &[
            "n",
            "prompts",
            "mean_p_yes",
            "recommended",
            "lists",
            "candidates",
        ]
    }
    fn slots(&self) -> &'static [Slot] {
        const SLOTS: &[Slot] = &[
            Slot::given(slot::SPLIT),
            Slot::inferred(slot::SEQUENCES),
            Slot::inferred(slot::DATASET),
            Slot::optional(slot::ADAPTER),
            Slot::optional(slot::CANDIDATES),
        ];
        SLOTS
    }
    fn normalize(&self, p: &serde_json::Map<String, Value>) -> Result<Value, ParamError> {
        let (typed, mut v) = params::parse::<Params>(p)?;
        params::check(&[
            Bound::cap("max_points", typed.max_points),
            Bound::at_least("batch_size", typed.batch_size, 1),
        ])?;
        let cf = typed.counterfactual();
        if cf != Counterfactual::Next && typed.setting != Setting::Counterfactual {
            return Err(ParamError {
                field: COUNTERFACTUAL.into(),
                message: format!(
                    "`all` chooses the stated groups of `setting: counterfactual` only (got setting `{}`)",
                    v.get("setting").and_then(Value::as_str).unwrap_or_default()
                ),
                suggestion: None,
            });
        }
        if cf == Counterfactual::Next {
            if let Some(o) = v.as_object_mut() {
                o.remove(COUNTERFACTUAL);
            }
        }
        if typed.ranking() {
            let chosen = |field: &str| {
                ParamError {
                field: field.into(),
                message: "under `protocol: ranking` the `candidates` stage chooses the points (set it there)".into(),
                suggestion: None,
            }
            };
            if typed.max_points.is_some() {
                return Err(chosen("max_points"));
            }
            if typed.part != Part::Test {
                return Err(chosen("part"));
            }
        }
        if typed.protocol == Some(Protocol::Pointwise) {
            if let Some(o) = v.as_object_mut() {
                o.remove("protocol");
            }
        }
        drop_plain(&mut v);
        Ok(v)
    }
    fn key_params(&self, p: &Value) -> Value {
        let mut p = p.clone();
        if let Some(o) = p.as_object_mut() {
            o.remove("model");
            o.remove("batch_size");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn normalize(json: &str) -> Result<Value, ParamError> {
        let Value::Object(m) = serde_json::from_str(json).unwrap() else {
            unreachable!()
        };
        Evaluate.normalize(&m)
    }

    #[test]
    fn counterfactual_next_normalises_as_before_the_choice_existed() {
        let before = r#"{"model":"m","setting":"counterfactual","template":"tallrec","part":"test","max_points":null,"batch_size":8,"dtype":"f32"}"#;
        for given in [
            r#"{"model": "m", "setting": "counterfactual"}"#,
            r#"{"model": "m", "setting": "counterfactual", "counterfactual": "next"}"#,
        ] {
            // Keys hash the canonical (sorted) JSON, so the fields' order does not matter.
            let v = normalize(given).unwrap();
            assert_eq!(v, serde_json::from_str::<Value>(before).unwrap(), "{given}");
        }
        let v =
            normalize(r#"{"model": "m", "setting": "counterfactual", "counterfactual": "all"}"#)
                .unwrap();
        assert_eq!(v[COUNTERFACTUAL], "all");
        let p: Params = serde_json::from_value(v).unwrap();
        assert_eq!(p.counterfactual(), Counterfactual::All);
    }

    #[test]
    fn counterfactual_all_under_another_setting_or_an_unknown_choice_is_refused() {
        let e = normalize(r#"{"model": "m", "setting": "explicit", "counterfactual": "all"}"#)
            .unwrap_err();
        assert_eq!(e.field, COUNTERFACTUAL);
        assert!(e.message.contains("`explicit`"), "{e}");
        let e =
            normalize(r#"{"model": "m", "setting": "counterfactual", "counterfactual": "each"}"#)
                .unwrap_err();
        assert!(e.field.contains(COUNTERFACTUAL), "{e}");
        // `next` under another setting changes nothing and is accepted.
        assert!(
            normalize(r#"{"model": "m", "setting": "implicit", "counterfactual": "next"}"#).is_ok()
        );
    }

    fn normalize_value(v: Value) -> Result<Value, ParamError> {
        Evaluate.normalize(v.as_object().unwrap())
    }

    #[test]
    fn pointwise_params_normalise_as_before_the_protocol_existed() {
        let before = serde_json::json!({
            "model": "m", "setting": "implicit", "template": "tallrec", "part": "test",
            "max_points": null, "batch_size": 8, "dtype": "f32"
        });
        let v = normalize_value(serde_json::json!({"model": "m", "setting": "implicit"})).unwrap();
        assert_eq!(v, before);
        let explicit =
            serde_json::json!({"model": "m", "setting": "implicit", "protocol": "pointwise"});
        assert_eq!(normalize_value(explicit).unwrap(), before);
        let r = serde_json::json!({"model": "m", "setting": "implicit", "protocol": "ranking"});
        assert_eq!(normalize_value(r).unwrap()["protocol"], "ranking");
    }

    #[test]
    fn ranking_leaves_the_choice_of_points_to_the_candidates() {
        let e = normalize_value(serde_json::json!({
            "model": "m", "setting": "implicit", "protocol": "ranking", "max_points": 5
        }))
        .unwrap_err();
        assert_eq!(e.field, "max_points", "{e}");
        let e = normalize_value(
            serde_json::json!({"model": "m", "setting": "implicit", "protocol": "rank"}),
        )
        .unwrap_err();
        assert_eq!(e.field, "protocol", "{e}");
    }
}
