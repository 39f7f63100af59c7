//! Stage `evaluate`: score the test (or valid) points of a split with a backbone
//! under the implicit, explicit or counterfactual setting (METHOD.md §3-4), giving
//! `p_yes = softmax([logit_yes, logit_no])[0]` per point.
//!
//! The checkpoint folder is a location: its content hash enters the key, not its
//! path. Without an upstream `train` stage this is the zero-shot `llm` row of
//! Table II. Runs on the device (`--device`), one device stage at a time.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use mosx_data::{Dataset, Sequences, Split};
use mosx_models::checkpoint::{load_backbone, Checkpoint};
use mosx_models::tokenizer::TextTokenizer;
use mosx_models::Backbone;

use super::{
    params, ExternalFile, Output, ParamError, Resource, Slot, StageCtx, StageError, StageKind,
};
use crate::prompt::{PromptTemplate, Setting};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    Valid,
    Test,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    F32,
    Bf16,
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

/// One scored point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prediction {
    /// Index into the sampled sequences.
    pub index: u32,
    pub p_yes: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Predictions {
    pub setting: Setting,
    pub points: Vec<Prediction>,
}

type Loaded = Arc<Mutex<(Box<dyn Backbone>, TextTokenizer)>>;

/// Backbones stay loaded for the life of the process, per (folder, device, dtype).
static MODELS: Mutex<Option<HashMap<String, Loaded>>> = Mutex::new(None);

fn backbone(model: &str, device: tch::Device, dtype: Dtype) -> Result<Loaded, StageError> {
    let id = format!("{model}|{device:?}|{dtype:?}");
    let mut guard = MODELS
        .lock()
        .map_err(|e| StageError::Other(e.to_string()))?;
    let cache = guard.get_or_insert_with(HashMap::new);
    if let Some(m) = cache.get(&id) {
        return Ok(m.clone());
    }
    let ck = Checkpoint::resolve(model)?;
    let kind = match dtype {
        Dtype::F32 => tch::Kind::Float,
        Dtype::Bf16 => tch::Kind::BFloat16,
    };
    let tok = TextTokenizer::from_file(&ck.tokenizer_file)?;
    let bb = load_backbone(&ck, device, kind)?;
    let m: Loaded = Arc::new(Mutex::new((bb, tok)));
    cache.insert(id, m.clone());
    Ok(m)
}

/// `n` elements of `xs` evenly spaced over it (all of them if `n >= xs.len()`).
fn spread(xs: &[u32], n: usize) -> Vec<u32> {
    if n >= xs.len() {
        return xs.to_vec();
    }
    (0..n).map(|i| xs[i * xs.len() / n]).collect()
}

pub struct Evaluate;

impl StageKind for Evaluate {
    fn name(&self) -> &'static str {
        "evaluate"
    }
    fn code_version(&self) -> u32 {
        2
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
            },
            Slot {
                name: "sequences",
                producers: &["sample"],
                inferable: true,
            },
            Slot {
                name: "dataset",
                producers: &["load"],
                inferable: true,
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
        let model = p.get("model").and_then(Value::as_str).unwrap_or_default();
        let ck = Checkpoint::resolve(model)?;
        let mut files = vec![
            ExternalFile {
                name: "model/config.json".into(),
                path: ck.dir.join("config.json"),
            },
            ExternalFile {
                name: "model/tokenizer.json".into(),
                path: ck.tokenizer_file.clone(),
            },
        ];
        for w in &ck.weight_files {
            let name = w
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push(ExternalFile {
                name: format!("model/{name}"),
                path: w.clone(),
            });
        }
        let template = p
            .get("template")
            .and_then(Value::as_str)
            .unwrap_or("tallrec");
        let tpath = Path::new("templates/prompts").join(format!("{template}.j2"));
        if tpath.exists() {
            files.push(ExternalFile {
                name: format!("template/{template}.j2"),
                path: tpath,
            });
        }
        Ok(files)
    }
    fn resource(&self, _p: &Value) -> Resource {
        Resource::Device
    }
    fn run(&self, ctx: &StageCtx<'_>) -> Result<Output, StageError> {
        let p: Params = params::typed(ctx.params)?;
        let ds = ctx.inputs.get::<Dataset>("dataset", "dataset")?;
        let seq = ctx.inputs.get::<Sequences>("sequences", "sequences")?;
        let split = ctx.inputs.get::<Split>("split", "split")?;
        let mut idx: Vec<u32> = match p.part {
            Part::Test => split.test.clone(),
            Part::Valid => split.valid.clone(),
        };
        if let Some(n) = p.max_points {
            idx = spread(&idx, n);
        }
        let tpl = PromptTemplate::load(Path::new("templates"), &p.template)
            .map_err(|e| StageError::Other(e.to_string()))?;
        let threshold = ds.label_threshold;
        let prompts = idx
            .iter()
            .map(|i| tpl.render_point(&ds, &seq.points[*i as usize], p.setting, threshold))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StageError::Other(e.to_string()))?;
        let loaded = backbone(&p.model, ctx.device, p.dtype)?;
        let guard = loaded
            .lock()
            .map_err(|e| StageError::Other(e.to_string()))?;
        let (bb, tok) = &*guard;
        let _no_grad = tch::no_grad_guard();
        ctx.progress.start("prompts", prompts.len() as u64);
        let mut scored = Vec::with_capacity(prompts.len());
        for chunk in prompts.chunks(p.batch_size * 8) {
            let r = mosx_models::probe::probe(bb.as_ref(), tok, chunk, p.batch_size)?;
            ctx.progress.inc(r.len() as u64);
            scored.extend(r);
        }
        ctx.progress.finish();
        let preds = Predictions {
            setting: p.setting,
            points: idx
                .iter()
                .zip(&scored)
                .map(|(i, r)| Prediction {
                    index: *i,
                    p_yes: r.p_yes,
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

#[cfg(test)]
mod tests {
    use super::spread;

    #[test]
    fn spread_takes_evenly_spaced_points() {
        let xs: Vec<u32> = (0..10).collect();
        assert_eq!(spread(&xs, 3), vec![0, 3, 6]);
        assert_eq!(spread(&xs, 5), vec![0, 2, 4, 6, 8]);
        assert_eq!(spread(&xs, 20), xs);
        assert_eq!(spread(&xs, 0), Vec::<u32>::new());
    }
}
