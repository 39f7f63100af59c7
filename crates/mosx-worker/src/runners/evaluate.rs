//! The runner of `evaluate` (declared in `mosx_stage::evaluate`): score the test (or valid)
//! points of a split with a backbone under the implicit, explicit or counterfactual setting
//! (METHOD.md §3-4), giving `p_yes = softmax([logit_yes, logit_no])[0]` per point. Without an
//! `adapter` this is the zero-shot backbone; with one, the trained method scores. The scored
//! prompts show on the stage's progress. Under `counterfactual: all` a point is rendered once
//! per other group and its `p_yes` is the mean over those prompts (metric `prompts`: how
//! many were scored).

use mosx_data::{Dataset, Sequences, Split};
use mosx_kinds::artifacts::{self, slot};
use mosx_kinds::evaluate::Params;
use mosx_models::tokenizer::TextTokenizer;
use mosx_models::Backbone;
use mosx_stage::predictions::Part;
use mosx_stage::predictions::{mean_per_point, spread, Prediction, Predictions};
use mosx_stage::prompt::{leaks, PromptTemplate};
use mosx_stage::trained::TrainedConfig;
use mosx_stage::{params, Output, StageCtx};

use super::{RunError, Runner};
use crate::pool;

pub struct Evaluate;

impl Runner for Evaluate {
    fn run(&self, ctx: &StageCtx<'_>, device: tch::Device) -> Result<Output, RunError> {
        let p: Params = params::typed(ctx.params)?;
        let ds = ctx.inputs.read(slot::DATASET, &artifacts::DATASET)?;
        let seq = ctx.inputs.read(slot::SEQUENCES, &artifacts::SEQUENCES)?;
        let split = ctx.inputs.read(slot::SPLIT, &artifacts::SPLIT)?;
        let trained: Option<TrainedConfig> = if ctx.inputs.has(slot::ADAPTER) {
            Some(TrainedConfig::clone(
                &*ctx.inputs.read(slot::ADAPTER, &artifacts::TRAINED_CONFIG)?,
            ))
        } else {
            None
        };
        let idx = select_points(&p, &ds, &seq, &split, trained.as_ref());
        let tpl = PromptTemplate::load(ctx.templates, &p.template)?;
        let threshold = ds.label_threshold;
        // Every point's prompts, point after point, and how many each has.
        let (mut prompts, mut per_point) = (Vec::new(), Vec::with_capacity(idx.len()));
        for i in &idx {
            let point = &seq.points[*i as usize];
            let rendered =
                tpl.render_point_all(&ds, point, p.setting, p.counterfactual(), threshold)?;
            per_point.push(rendered.len());
            prompts.extend(rendered);
        }

        // The backbone: the shared one, or a private copy when the adapter changes it.
        let private = match &trained {
            Some(t) => {
                mosx_methods::methods::entry(t.method["name"].as_str().unwrap_or(""))?
                    .modifies_backbone
            }
            None => false,
        };
        let adapter = match trained {
            Some(_) => Some(ctx.inputs.read_bytes(slot::ADAPTER, &artifacts::ADAPTER)?),
            None => None,
        };
        let scoring = Scoring {
            ctx,
            device,
            p: &p,
            ds: &ds,
            trained: trained.as_ref().zip(adapter.as_deref().map(Vec::as_slice)),
            prompts: &prompts,
        };
        let scored = pool::with_backbone(&p.model, device, p.dtype, private, |bb, tok| {
            score_on(&scoring, bb, tok)
        })??;
        ctx.progress.finish();
        let scored = mean_per_point(&scored, &per_point);
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
        write_output(&preds, prompts.len())
    }
}

/// The indices of the points scored: the split's test (or valid) part, without the leaking
/// points when the adapter was trained without them, spread down to `max_points`.
fn select_points(
    p: &Params,
    ds: &Dataset,
    seq: &Sequences,
    split: &Split,
    trained: Option<&TrainedConfig>,
) -> Vec<u32> {
    let mut idx: Vec<u32> = match p.part {
        Part::Test => split.test.clone(),
        Part::Valid => split.valid.clone(),
    };
    if trained.is_some_and(|t| t.drop_leaking) {
        idx.retain(|&i| !leaks(ds, &seq.points[i as usize]));
    }
    if let Some(n) = p.max_points {
        idx = spread(&idx, n);
    }
    idx
}

/// What scoring on a backbone reads besides the backbone and its tokenizer.
struct Scoring<'a> {
    ctx: &'a StageCtx<'a>,
    device: tch::Device,
    p: &'a Params,
    ds: &'a Dataset,
    /// The adapter's config and saved parameters; `None` for the zero-shot backbone.
    trained: Option<(&'a TrainedConfig, &'a [u8])>,
    /// The rendered prompts, in point order.
    prompts: &'a [String],
}

/// Scores the rendered `prompts` on `backbone`: with the trained method restored from its
/// config and saved parameters when there is an adapter, else zero-shot. Gives `p_yes` per
/// prompt, in order, counting the scored prompts on the stage's progress.
fn score_on(
    s: &Scoring<'_>,
    backbone: &mut dyn Backbone,
    tok: &TextTokenizer,
) -> Result<Vec<f64>, RunError> {
    let (ctx, device, p) = (s.ctx, s.device, s.p);
    let answer = tok.answer_ids("Yes", "No")?;
    let adapter_vs = tch::nn::VarStore::new(device);
    let method = match s.trained {
        Some((t, saved)) => {
            let setup = pool::method_setup(s.ds, backbone, tok, 0, device)?;
            Some(mosx_methods::load_trained(
                &t.method,
                &setup,
                backbone,
                &adapter_vs,
                saved,
            )?)
        }
        None => None,
    };
    let ids: Vec<Vec<i64>> = s
        .prompts
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
}

/// The stage's output: its metrics (`n`, `prompts`: the prompts scored, `mean_p_yes`,
/// `recommended`) and its `predictions` artifact.
fn write_output(preds: &Predictions, prompts: usize) -> Result<Output, RunError> {
    let mut out = Output::default();
    out.metric("n", preds.points.len() as f64);
    out.metric("prompts", prompts as f64);
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
    out.write(&artifacts::PREDICTIONS, preds)?;
    Ok(out)
}
