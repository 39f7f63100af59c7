//! The runner of `evaluate` (declared in `mosx::stages::evaluate`): score the test (or valid)
//! points of a split with a backbone under the implicit, explicit or counterfactual setting
//! (METHOD.md §3-4), giving `p_yes = softmax([logit_yes, logit_no])[0]` per point. Without an
//! `adapter` this is the zero-shot backbone; with one, the trained method scores. The scored
//! prompts show on the stage's progress.

use std::path::Path;

use mosx::predictions::{spread, Prediction, Predictions};
use mosx::prompt::{leaks, PromptTemplate};
use mosx::stages::evaluate::{Params, Part};
use mosx::stages::{params, Output, StageCtx};
use mosx::trained::TrainedConfig;
use mosx_data::{Dataset, Sequences, Split};
use mosx_models::tokenizer::TextTokenizer;
use mosx_models::Backbone;

use super::{RunError, Runner};
use crate::pool;

pub struct Evaluate;

impl Runner for Evaluate {
    fn run(&self, ctx: &StageCtx<'_>, device: tch::Device) -> Result<Output, RunError> {
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
        let score_on = |backbone: &mut dyn Backbone, tok: &TextTokenizer| -> Result<_, RunError> {
            let answer = tok.answer_ids("Yes", "No")?;
            let adapter_vs = tch::nn::VarStore::new(device);
            let method = match (&trained, &adapter) {
                (Some(t), Some(saved)) => {
                    let setup = pool::method_setup(&ds, backbone, tok, 0, device)?;
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
        let scored = pool::with_backbone(&p.model, device, p.dtype, private, score_on)??;
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
