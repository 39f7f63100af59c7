//! Stage `evaluate`: score the test (or valid) points of a split with a backbone
//! under the implicit, explicit or counterfactual setting (METHOD.md §3-4), giving
//! `p_yes = softmax([logit_yes, logit_no])[0]` per point.
//!
//! The checkpoint folder is a location: its content hash enters the key, not its
//! path. Without an `adapter` (a `train` stage) this is the zero-shot `llm` row of
//! Table II; with one, the trained method scores (for MoS only the router reads the
//! stereotype sentences: the backbone reads the prompt of the chosen setting). Runs on the device (`--device`), one device stage at a time.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use mosx_data::{Dataset, Sequences, Split};
use mosx_models::tokenizer::TextTokenizer;
use mosx_models::{Backbone, Dtype};

use super::{
    backbone_files, params, ExternalFile, Output, ParamError, Resource, Slot, StageCtx, StageError,
    StageKind,
};
use crate::backbones;
use crate::predictions::{spread, Prediction, Predictions};
use crate::prompt::{leaks, PromptTemplate, Setting};
use crate::trained::TrainedConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    Valid,
    Test,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// Hugging Face folder or ORG/NAME in the HF cache.
    model: String,
    setting: Setting,
    #[serde(default = "default_template")]
    template: String,
    #[serde(default = "default_part")]
    part: Part,
    /// Evaluate N points of the part, evenly spaced over it (points are grouped by
    /// user, so a prefix would hold few users); `null`: all.
    #[serde(default)]
    max_points: Option<usize>,
    #[serde(default = "default_batch")]
    batch_size: usize,
    #[serde(default = "default_dtype")]
    dtype: Dtype,
}
const FIELDS: &[&str] = &[
    "model",
    "setting",
    "template",
    "part",
    "max_points",
    "batch_size",
    "dtype",
];
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

pub struct Evaluate;

impl StageKind for Evaluate {
    fn name(&self) -> &'static str {
        "evaluate"
    }
    fn code_version(&self) -> u32 {
        3
    }
    fn code(&self) -> &'static [&'static str] {
        &[
            "mosx-data",
            "mosx-models",
            "mosx-methods",
            "src/stages/evaluate.rs",
            "src/prompt.rs",
            "src/predictions.rs",
            "src/backbones.rs",
        ]
    }
    fn about(&self) -> &'static str {
        "score test points with a backbone under implicit/explicit/counterfactual prompts"
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
            Slot {
                name: "adapter",
                producers: &["train"],
                inferable: false,
                optional: true,
            },
        ]
    }
    fn normalize(&self, p: &serde_json::Map<String, Value>) -> Result<Value, ParamError> {
        let (typed, v) = params::parse::<Params>(p, FIELDS)?;
        if typed.batch_size == 0 {
            return Err(ParamError {
                field: "batch_size".into(),
                message: "must be at least 1".into(),
                suggestion: None,
            });
        }
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
        let trained: Option<TrainedConfig> = if ctx.inputs.has("adapter") {
            Some(ctx.inputs.json("adapter", "config")?)
        } else {
            None
        };
        let mut idx: Vec<u32> = match p.part {
            Part::Test => split.test.clone(),
            Part::Valid => split.valid.clone(),
        };
        if trained.as_ref().is_some_and(|t| t.drop_leaking) {
            idx.retain(|&i| !leaks(&ds, &seq.points[i as usize]));
        }
        if let Some(n) = p.max_points {
            idx = spread(&idx, n);
        }
        let tpl = PromptTemplate::load(Path::new("templates"), &p.template)?;
        let threshold = ds.label_threshold;
        let prompts = idx
            .iter()
            .map(|i| tpl.render_point(&ds, &seq.points[*i as usize], p.setting, threshold))
            .collect::<Result<Vec<_>, _>>()?;

        // The backbone: the shared one, or a private copy when the adapter changes it.
        let private = match &trained {
            Some(t) => {
                mosx_methods::methods::entry(t.method["name"].as_str().unwrap_or(""))?
                    .modifies_backbone
            }
            None => false,
        };
        let adapter = match trained {
            Some(_) => Some(ctx.inputs.bytes("adapter", "adapter")?),
            None => None,
        };
        let score_on =
            |backbone: &mut dyn Backbone, tok: &TextTokenizer| -> Result<_, StageError> {
                let answer = tok.answer_ids("Yes", "No")?;
                let adapter_vs = tch::nn::VarStore::new(ctx.device);
                let method = match (&trained, &adapter) {
                    (Some(t), Some(saved)) => {
                        let setup = backbones::method_setup(&ds, backbone, tok, 0, ctx.device)?;
                        Some(mosx_methods::load_trained(
                            &t.method,
                            &setup,
                            backbone,
                            &adapter_vs,
                            saved,
                        )?)
                    }
                    _ => None,
                };
                let ids: Vec<Vec<i64>> = prompts
                    .iter()
                    .map(|t| tok.encode(t, true))
                    .collect::<Result<_, _>>()?;
                ctx.progress.start("prompts", ids.len() as u64);
                let mut scored = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(p.batch_size * 8) {
                    let rows: Vec<&[i64]> = chunk.iter().map(Vec::as_slice).collect();
                    let r = mosx_methods::score(
                        method.as_deref(),
                        backbone,
                        &rows,
                        answer,
                        tok.pad_id(),
                        p.batch_size,
                    )?;
                    ctx.progress.inc(r.len() as u64);
                    scored.extend(r);
                }
                Ok(scored)
            };
        let scored = backbones::with_backbone(&p.model, ctx.device, p.dtype, private, score_on)??;
        ctx.progress.finish();
        let preds = Predictions {
            setting: p.setting,
            points: idx
                .iter()
                .zip(&scored)
                .map(|(i, p_yes)| Prediction {
                    index: *i,
                    p_yes: *p_yes,
                })
                .collect(),
        };
        let mut out = Output::default();
        out.metric("n", preds.points.len() as f64);
        out.metric(
            "mean_p_yes",
            preds.points.iter().map(|x| x.p_yes).sum::<f64>() / preds.points.len().max(1) as f64,
        );
        out.metric(
            "recommended",
            preds
                .points
                .iter()
                .filter(|x| x.p_yes > mosx_fairness::THRESHOLD)
                .count() as f64,
        );
        out.put("predictions", "predictions", &preds)?;
        Ok(out)
    }
}
