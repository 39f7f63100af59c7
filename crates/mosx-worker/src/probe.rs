//! `mosx-worker probe MODEL PROMPT...` (what `mosx probe` runs): p(Yes) and p(No) at the
//! answer position, to check a backbone's stereotype by hand. The arguments are
//! `mosx_stage::args::probe::ProbeArgs`.

use mosx_models::checkpoint::Checkpoint;
use mosx_models::probe::{probe, ProbeResult};
use mosx_models::tokenizer::TextTokenizer;
use mosx_models::{load_backbone, DtypeKind};
use mosx_stage::args::probe::ProbeArgs;
use mosx_stage::prompt::{PromptTemplate, Setting};

use crate::UsageError;

const EXIT_OK: i32 = 0;

pub fn run(a: ProbeArgs) -> anyhow::Result<i32> {
    let mut prompts = a.prompts.clone();
    if let Some(name) = &a.template {
        prompts.extend(template_prompts(&a, name)?);
    }
    if prompts.is_empty() {
        return Err(UsageError(
            "give at least one PROMPT, or --template with --data, --user and --target".into(),
        )
        .into());
    }
    let (device, label) = crate::device::resolve(a.device.unwrap_or_default())
        .map_err(|e| UsageError(e.to_string()))?;
    let kind = a.dtype.kind();
    let ck = Checkpoint::resolve(&a.model)?;
    let tok = TextTokenizer::from_file(&ck.tokenizer_file)?;
    let model = load_backbone(&ck, device, kind)?;
    let results = probe(&*model, &tok, &prompts, a.batch_size)?;
    if a.json {
        println!("{}", json_report(&ck, &label, &a, &results));
        return Ok(EXIT_OK);
    }
    println!("model {} ({label}, {:?})", ck.dir.display(), a.dtype);
    for r in results {
        println!(
            "---\n{}\n  p(Yes) = {:.4}  p(No) = {:.4}  [yes id {}, no id {}, {} tokens]",
            r.prompt, r.p_yes, r.p_no, r.yes_id, r.no_id, r.n_tokens
        );
    }
    Ok(EXIT_OK)
}

/// `--json`: one object; numbers are f64 printed shortest-round-trip (full precision).
fn json_report(ck: &Checkpoint, label: &str, a: &ProbeArgs, results: &[ProbeResult]) -> String {
    let rows: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            serde_json::json!({
                "prompt": r.prompt,
                "p_yes": r.p_yes,
                "p_no": r.p_no,
                "logit_yes": r.logit_yes,
                "logit_no": r.logit_no,
                "yes_id": r.yes_id,
                "no_id": r.no_id,
                "n_tokens": r.n_tokens,
            })
        })
        .collect();
    serde_json::json!({
        "model": ck.dir.display().to_string(),
        "device": label,
        "dtype": a.dtype,
        "results": rows,
    })
    .to_string()
}

/// Prompts for `--template`: the user's 10 interactions before the target (in the
/// dataset's order) as history, under the requested setting(s).
fn template_prompts(a: &ProbeArgs, name: &str) -> anyhow::Result<Vec<String>> {
    let (Some(data), Some(user), Some(target)) = (&a.data, &a.user, &a.target) else {
        return Err(UsageError("--template needs --data, --user and --target".into()).into());
    };
    let ds = mosx_data::load(data, &mosx_data::LoadOptions::default())?;
    let u = ds
        .users
        .iter()
        .position(|x| &x.id == user)
        .ok_or_else(|| UsageError(format!("--user {user}: not in {}", data.display())))?;
    let t = ds
        .items
        .iter()
        .position(|x| &x.id == target)
        .ok_or_else(|| UsageError(format!("--target {target}: not in {}", data.display())))?;
    let mut mine: Vec<&mosx_data::Interaction> = ds
        .interactions
        .iter()
        .filter(|x| x.user as usize == u)
        .collect();
    mine.sort_by_key(|x| x.timestamp.unwrap_or(0));
    let cut = mine
        .iter()
        .position(|x| x.item as usize == t)
        .unwrap_or(mine.len());
    let hist: Vec<&&mosx_data::Interaction> = mine[..cut]
        .iter()
        .rev()
        .take(10)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let point = mosx_data::DataPoint {
        user: u as u32,
        history: hist.iter().map(|x| x.item).collect(),
        history_ratings: hist.iter().map(|x| x.rating).collect(),
        target: t as u32,
        target_rating: f32::NAN,
        label: false,
    };
    let tpl = PromptTemplate::load(&a.templates, name)?;
    let settings = match a.setting {
        Some(s) => vec![s],
        None => vec![
            Setting::Implicit,
            Setting::Explicit,
            Setting::Counterfactual,
        ],
    };
    settings
        .into_iter()
        .map(|s| Ok(tpl.render_point(&ds, &point, s, ds.label_threshold)?))
        .collect()
}
