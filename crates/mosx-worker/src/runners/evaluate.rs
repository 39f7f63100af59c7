//! The runner of `evaluate` (declared in `mosx_stage::evaluate`): score the test (or valid)
//! points of a split with a backbone under the implicit, explicit or counterfactual setting
//! (METHOD.md §3-4), giving `p_yes = softmax([logit_yes, logit_no])[0]` per point. Without an
//! `adapter` this is the zero-shot backbone; with one, the trained method scores. The scored
//! prompts show on the stage's progress. Under `counterfactual: all` a point is rendered once
//! per other group and its `p_yes` is the mean over those prompts (metric `prompts`: how
//! many were scored).
//!
//! Under `protocol: ranking` every item of each candidate list (input `candidates`) is scored
//! with the point's prompt, the candidate in place of the target; the predictions are the
//! targets' scores (the pointwise score of those points) and the `rankings` artifact holds
//! every candidate's.

use mosx_data::{CandidateList, DataPoint, Dataset, Sequences, Split};
use mosx_kinds::artifacts::{self, slot};
use mosx_kinds::evaluate::Params;
use mosx_models::tokenizer::TextTokenizer;
use mosx_models::Backbone;
use mosx_stage::predictions::Part;
use mosx_stage::predictions::{mean_per_point, spread, Prediction, Predictions};
use mosx_stage::prompt::{leaks, PromptTemplate};
use mosx_stage::rankings::{RankedCandidates, Rankings};
use mosx_stage::trained::TrainedConfig;
use mosx_stage::{params, Output, StageCtx};

use super::{RunError, Runner};
use crate::pool;
use crate::prompting::Prompter;

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
        let lists = candidate_lists(ctx, &p, &ds, &seq, trained.as_ref())?;
        let idx = match &lists {
            Some(l) => l.iter().map(|l| l.index).collect(),
            None => select_points(&p, &ds, &seq, &split, trained.as_ref()),
        };
        let tpl = PromptTemplate::load(ctx.templates, &p.template)?;
        let (prompts, per_unit) = render_prompts(&tpl, &p, &ds, &seq, &idx, lists.as_deref())?;

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
        let scored = mean_per_point(&scored, &per_unit);
        let (targets, rankings) = match &lists {
            Some(l) => {
                let r = rank(&p, l, &scored);
                (r.lists.iter().map(|l| l.p_yes[0]).collect(), Some(r))
            }
            None => (scored, None),
        };
        let preds = Predictions {
            setting: p.setting,
            points: idx
                .iter()
                .zip(&targets)
                .map(|(i, p_yes)| Prediction {
                    index: *i,
                    p_yes: *p_yes,
                })
                .collect(),
        };
        write_output(&preds, prompts.len(), rankings.as_ref())
    }
}

/// The candidate lists to rank under `protocol: ranking` (without the leaking points when the
/// adapter was trained without them); `None` for the pointwise protocol. A protocol and a
/// `candidates` input that disagree are an error at `protocol` (the plan refuses them too).
fn candidate_lists(
    ctx: &StageCtx<'_>,
    p: &Params,
    ds: &Dataset,
    seq: &Sequences,
    trained: Option<&TrainedConfig>,
) -> Result<Option<Vec<CandidateList>>, RunError> {
    match (p.ranking(), ctx.inputs.has(slot::CANDIDATES)) {
        (false, false) => Ok(None),
        (true, true) => {
            let c = ctx.inputs.read(slot::CANDIDATES, &artifacts::CANDIDATES)?;
            let mut lists = c.lists.clone();
            if trained.is_some_and(|t| t.drop_leaking) {
                lists.retain(|l| !leaks(ds, &seq.points[l.index as usize]));
            }
            Ok(Some(lists))
        }
        (true, false) => Err(ctx
            .param_error("protocol", "`ranking` needs a `candidates` input")
            .into()),
        (false, true) => Err(ctx
            .param_error(
                "protocol",
                "a `candidates` input is ranked only under `protocol: ranking`",
            )
            .into()),
    }
}

/// The prompts to score, in order, and how many belong to each scored unit: each point's
/// (pointwise), or each candidate's of each list in place of its point's target (ranking);
/// under `counterfactual: all` a unit has one prompt per other group, else one.
fn render_prompts(
    tpl: &PromptTemplate,
    p: &Params,
    ds: &Dataset,
    seq: &Sequences,
    idx: &[u32],
    lists: Option<&[CandidateList]>,
) -> Result<(Vec<String>, Vec<usize>), RunError> {
    let threshold = ds.label_threshold;
    let (mut prompts, mut per_unit) = (Vec::new(), Vec::new());
    let mut add = |d: &DataPoint| -> Result<(), RunError> {
        let rendered = tpl.render_point_all(ds, d, p.setting, p.counterfactual(), threshold)?;
        per_unit.push(rendered.len());
        prompts.extend(rendered);
        Ok(())
    };
    match lists {
        None => {
            for i in idx {
                add(&seq.points[*i as usize])?;
            }
        }
        Some(lists) => {
            for l in lists {
                let mut d = seq.points[l.index as usize].clone();
                for &item in &l.items {
                    d.target = item;
                    add(&d)?;
                }
            }
        }
    }
    Ok((prompts, per_unit))
}

/// The scored lists: `scored` holds every candidate's `p_yes`, list after list.
fn rank(p: &Params, lists: &[CandidateList], scored: &[f64]) -> Rankings {
    let mut at = 0;
    let lists = lists
        .iter()
        .map(|l| {
            let p_yes = scored[at..at + l.items.len()].to_vec();
            at += l.items.len();
            RankedCandidates {
                index: l.index,
                items: l.items.clone(),
                p_yes,
            }
        })
        .collect();
    Rankings {
        setting: p.setting,
        lists,
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
    let prompter = Prompter::new(tok, &p.model, p.prompt_format)?;
    let answer = prompter.answer()?;
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
        .map(|t| prompter.ids(t))
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
/// `recommended`; with rankings `lists` and `candidates`, the number of scored items) and its
/// `predictions` artifact (and `rankings`).
fn write_output(
    preds: &Predictions,
    prompts: usize,
    rankings: Option<&Rankings>,
) -> Result<Output, RunError> {
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
    if let Some(r) = rankings {
        out.metric("lists", r.lists.len() as f64);
        let scored: usize = r.lists.iter().map(|l| l.items.len()).sum();
        out.metric("candidates", scored as f64);
        out.write(&artifacts::RANKINGS, r)?;
    }
    Ok(out)
}
