//! Benchmark (the mosx half of `bench/model.sh`): prompt tuning and zero-shot scoring of a
//! Gemma-3 checkpoint on prompts read from a JSONL file (`{"prompt": .., "label": 0|1}`).
//!
//! Modes (one per process, so that the peak RSS read at the end belongs to one workload):
//! * `train`: a trainable soft prompt `[16, hidden]` (its own `VarStore`, N(0, 1) like peft's
//!   random init) is prepended to `embed(ids)` with the mask extended by ones; loss is the
//!   cross-entropy over `[logit_yes, logit_no]` at the answer position; one Adam step
//!   (lr 1e-3) per batch. Batches of `batch` prompts in file order, cycled; tokenised once
//!   before timing. `warmup` untimed steps, then `steps` timed ones.
//! * `score`: `mosx_models::probe::probe` over every prompt (length-sorted batches of
//!   `batch`, no gradients); `warmup` untimed passes, then `steps` timed passes. Writes the
//!   p(Yes) of each prompt, in file order, to `$BENCH_PYES` when set (cross-check with HF).
//!
//! Timing: wall-clock per timed step (`step_s`) and the CPU seconds of the process over the
//! timed steps (`cpu_s`, user + system of all threads), the latter less sensitive to other
//! load on a shared machine.
//!
//! Env: `BENCH_DEVICE` (cpu | cuda) and `BENCH_DTYPE` (f32 | bf16: the backbone's weights
//! and activations; the soft prompt and Adam's state stay f32), named in the RESULT line.
//!
//! Each mode first measures the matmul peak of this process (`[n, n] x [n, n]` in the
//! benchmark's device and dtype, best of a few). Output: one line `RESULT {json}` with samples/s, tokens, the parameter count the
//! FLOP formula uses (non-embedding weights + the 2 answer rows), the peak and VmHWM.
//!
//! Usage: bench_prompt_tuning MODEL_DIR PROMPTS.jsonl MODE THREADS WARMUP STEPS [BATCH]

use std::time::Instant;

use mosx_models::checkpoint::Checkpoint;
use mosx_models::load_backbone;
use mosx_models::probe::probe;
use mosx_models::tokenizer::{pad_batch, TextTokenizer};
use mosx_models::Backbone;
use tch::nn::{self, Init, OptimizerConfig};
use tch::{Kind, Tensor};

const VIRTUAL_TOKENS: i64 = 16;
const LR: f64 = 1e-3;

#[path = "../../../bench/harness.rs"]
mod harness;
use harness::{cpu_seconds, matmul_peak, read_prompts, sync, target, vm_hwm_mib, BoxErr, Prompt};

/// The command line.
struct Args {
    model_dir: String,
    prompts: String,
    mode: String,
    threads: i32,
    warmup: usize,
    steps: usize,
    batch: usize,
}

impl Args {
    fn parse() -> Result<Args, BoxErr> {
        let args: Vec<String> = std::env::args().collect();
        if args.len() < 7 {
            return Err("usage: bench_prompt_tuning MODEL_DIR PROMPTS.jsonl train|score THREADS WARMUP STEPS [BATCH]".into());
        }
        Ok(Args {
            model_dir: args[1].clone(),
            prompts: args[2].clone(),
            mode: args[3].clone(),
            threads: args[4]
                .parse()
                .map_err(|e| format!("THREADS {:?}: {e}", args[4]))?,
            warmup: args[5]
                .parse()
                .map_err(|e| format!("WARMUP {:?}: {e}", args[5]))?,
            steps: args[6]
                .parse()
                .map_err(|e| format!("STEPS {:?}: {e}", args[6]))?,
            batch: match args.get(7) {
                Some(b) => b.parse().map_err(|e| format!("BATCH {b:?}: {e}"))?,
                None => 8,
            },
        })
    }
}

/// The parameters a token's forward pass multiplies: all but the embedding, plus the head's
/// `2 d` at the answer position.
fn flop_params(backbone: &dyn Backbone) -> i64 {
    let (total, embed): (i64, i64) =
        backbone
            .var_store()
            .variables()
            .iter()
            .fold((0, 0), |(t, e), (name, v)| {
                let n = v.numel() as i64;
                (
                    t + n,
                    if name.ends_with("embed_tokens.weight") {
                        e + n
                    } else {
                        e
                    },
                )
            });
    total - embed + 2 * backbone.hidden_size()
}

fn main() -> Result<(), BoxErr> {
    let args = Args::parse()?;
    let (batch, warmup, steps) = (args.batch, args.warmup, args.steps);
    tch::set_num_threads(args.threads);
    let tg = target()?;
    let peak = matmul_peak(2048, 5, &tg);

    let prompts = read_prompts(&args.prompts)?;
    let ck = Checkpoint::resolve(&args.model_dir)?;
    let t_load = Instant::now();
    let mut backbone = load_backbone(&ck, tg.device, tg.kind)?;
    let load_s = t_load.elapsed().as_secs_f64();
    let pad = ck
        .config
        .get("pad_token_id")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(0);
    let tok = TextTokenizer::from_file(&ck.tokenizer_file)?.with_pad_id(pad);
    let answer = tok.answer_ids("Yes", "No")?;
    let flop_params = flop_params(backbone.as_ref());

    let (samples, tokens, seconds, extra) = match args.mode.as_str() {
        "train" => train(
            backbone.as_mut(),
            &tok,
            &prompts,
            answer,
            batch,
            warmup,
            steps,
        )?,
        "score" => score(backbone.as_ref(), &tok, &prompts, batch, warmup, steps)?,
        other => return Err(format!("unknown mode {other:?} (train|score)").into()),
    };
    let result = serde_json::json!({
        "side": "mosx",
        "mode": args.mode,
        "config": "default",
        "device": tg.device_name,
        "dtype": tg.dtype_name,
        "threads": args.threads,
        "batch": batch,
        "warmup": warmup,
        "steps": steps,
        "samples": samples,
        "tokens": tokens,
        "seconds": seconds,
        "samples_per_s": samples as f64 / seconds,
        "tokens_per_s": tokens as f64 / seconds,
        "flop_params": flop_params,
        "matmul_peak_flops": peak,
        "load_s": load_s,
        "vm_hwm_mib": vm_hwm_mib(),
        "extra": extra,
    });
    println!("RESULT {result}");
    Ok(())
}

/// Timed prompt-tuning steps: (samples, real tokens incl. virtual ones, seconds, extra).
fn train(
    backbone: &mut dyn Backbone,
    tok: &TextTokenizer,
    prompts: &[Prompt],
    answer: [i64; 2],
    batch: usize,
    warmup: usize,
    steps: usize,
) -> Result<(usize, i64, f64, serde_json::Value), BoxErr> {
    backbone.freeze_base();
    let d = backbone.hidden_size();
    let device = backbone.device();
    let pvs = nn::VarStore::new(device);
    let soft = pvs.root().var(
        "prompt",
        &[VIRTUAL_TOKENS, d],
        Init::Randn {
            mean: 0.0,
            stdev: 1.0,
        },
    );
    let mut opt = nn::Adam::default().build(&pvs, LR)?;
    let mut batches = Vec::new();
    for chunk in prompts.chunks(batch) {
        let rows = chunk
            .iter()
            .map(|p| tok.encode(&p.text, true))
            .collect::<Result<Vec<_>, _>>()?;
        let tb = pad_batch(&rows, tok.pad_id());
        let labels = Tensor::from_slice(&chunk.iter().map(|p| p.label).collect::<Vec<_>>())
            .to_device(device);
        let real: i64 =
            rows.iter().map(|r| r.len() as i64).sum::<i64>() + VIRTUAL_TOKENS * chunk.len() as i64;
        batches.push((tb, labels, real, chunk.len()));
    }
    let mut samples = 0;
    let mut tokens = 0;
    let mut losses = Vec::new();
    let mut step_s = Vec::new();
    let mut seconds = 0.0;
    let mut cpu_s = 0.0;
    for step in 0..warmup + steps {
        let (tb, labels, real, n) = &batches[step % batches.len()];
        let (t0, c0) = (Instant::now(), cpu_seconds());
        let b = *n as i64;
        let embeds = Tensor::cat(
            &[
                soft.unsqueeze(0)
                    .expand([b, VIRTUAL_TOKENS, d], false)
                    .to_kind(backbone.kind()),
                backbone.embed(&tb.input_ids),
            ],
            1,
        );
        let mask = Tensor::cat(
            &[
                Tensor::ones([b, VIRTUAL_TOKENS], (Kind::Int64, device)),
                tb.attention_mask.to_device(device),
            ],
            1,
        );
        let logits = backbone.answer_logits(&embeds, &mask, &answer, true);
        let loss = logits.cross_entropy_for_logits(labels);
        opt.backward_step(&loss);
        let l = loss.double_value(&[]);
        sync(device);
        if step >= warmup {
            let dt = t0.elapsed().as_secs_f64();
            seconds += dt;
            cpu_s += cpu_seconds() - c0;
            step_s.push(dt);
            samples += n;
            tokens += real;
            losses.push(l);
        }
    }
    Ok((
        samples,
        tokens,
        seconds,
        serde_json::json!({ "losses": losses, "step_s": step_s, "cpu_s": cpu_s }),
    ))
}

/// Timed scoring passes over every prompt: (samples, real tokens, seconds, extra).
fn score(
    backbone: &dyn Backbone,
    tok: &TextTokenizer,
    prompts: &[Prompt],
    batch: usize,
    warmup: usize,
    steps: usize,
) -> Result<(usize, i64, f64, serde_json::Value), BoxErr> {
    let texts: Vec<String> = prompts.iter().map(|p| p.text.clone()).collect();
    let mut seconds = 0.0;
    let mut step_s = Vec::new();
    let mut cpu_s = 0.0;
    let mut out = Vec::new();
    for pass in 0..warmup + steps.max(1) {
        let (t0, c0) = (Instant::now(), cpu_seconds());
        out = probe(backbone, tok, &texts, batch)?;
        sync(backbone.device());
        if pass >= warmup {
            let dt = t0.elapsed().as_secs_f64();
            seconds += dt;
            cpu_s += cpu_seconds() - c0;
            step_s.push(dt);
        }
    }
    let passes = steps.max(1);
    let tokens: i64 = out.iter().map(|r| r.n_tokens as i64).sum::<i64>() * passes as i64;
    if let Some(path) = std::env::var_os("BENCH_PYES") {
        let p: Vec<f64> = out.iter().map(|r| r.p_yes).collect();
        std::fs::write(&path, serde_json::to_string(&p)?)?;
    }
    Ok((
        texts.len() * passes,
        tokens,
        seconds,
        serde_json::json!({ "passes": passes, "step_s": step_s, "cpu_s": cpu_s }),
    ))
}
