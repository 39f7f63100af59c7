//! Benchmark (the mosx half of `bench/train.sh`): optimizer steps of the train stage's own
//! loop on a real backbone (Gemma-3-270M), on prompts read from a JSONL file
//! (`{"prompt": .., "label": 0|1}`, written by `bench/model_prompts.py`).
//!
//! What one timed step is: exactly what `mosx_methods::trainer::train` does per optimizer
//! step with `grad_accum` 1: `Optimizer::zero_grad` → `Batch::new` → `trainer::batch_loss`
//! (the method's `forward` + its loss terms, each read back as `double_value` for the log)
//! → `(loss / 1).backward()` → `Optimizer::clip_grad_norm(1.0)` → `Optimizer::step(lr)`.
//! Nothing else of `train` (validation, resume files, the no-op check) is timed.
//!
//! Like-for-like with `bench/model_hf.py` (the transformers + peft loop):
//! * Loss: `RecLoss::Pair`, the cross-entropy over `[logit(Yes), logit(No)]` at the answer
//!   position (what the HF side computes). `prompt_tuning` and `lora` train `Objective::Rec`;
//!   `mos` trains its default `rec+fair+div` (λ_fair = λ_div = 0.1) unless OBJECTIVE says
//!   otherwise, since that is what a MoS epoch costs.
//! * Optimizer: AdamW, lr 1e-3 (constant), betas (0.9, 0.999), eps 1e-8, **weight decay 0**,
//!   i.e. exactly Adam; the HF side runs `torch.optim.AdamW(lr=1e-3, weight_decay=0)`. Both
//!   clip the global gradient norm at 1.0 (as HF's `Trainer` and mosx's base.yaml do).
//! * Batches: BATCH prompts in file order, cycled, right-padded (the trainer itself buckets
//!   by length, which would pad less; file order keeps the padding identical to HF's).
//!   Tokens are encoded once, before timing, with the special tokens (BOS), as HF does.
//! * Methods through `methods::normalize` + `methods::build`: `prompt_tuning` (16 tokens,
//!   vocab init), `lora` (r 8, alpha 16, dropout 0.05 on q and v), `mos` (E 4, L 16, top-1,
//!   reweighting). METHOD may also be a JSON method spec.
//! * The fairness fields of each `Example` are fixed dummies (they only shape the cost of
//!   `L_fair`, not of the backbone): 2 groups with the stereotype sentences "The user is a
//!   male." / "The user is a female." (what MoS's router reads), `user_group = i % 2`,
//!   `target_groups = [i % 3 == 0, i % 3 == 1]`, `history_share = [0.6, 0.4]`.
//!
//! Timing: wall clock per timed step (`step_s`), split into `fwd_s` (zero_grad + Batch::new
//! + batch_loss), `bwd_s` (backward) and `opt_s` (clip + step); CPU seconds (user + system,
//! all threads) over the timed steps (`cpu_s`). WARMUP untimed steps come first. Threads:
//! `tch::set_num_threads(THREADS)`.
//!
//! Output: one line `RESULT {json}` in the shape of `mosx-models`' `bench_prompt_tuning`
//! (samples/s, tokens, seconds, step_s, cpu_s, vm_hwm_mib, flop_params, matmul peak), which
//! `bench/model_report.py --train` reads.
//!
//! Env: `BENCH_DEVICE` (cpu | cuda) and `BENCH_DTYPE` (f32 | bf16: the backbone's weights
//! and activations; the trainable parameters and the optimizer state stay f32), both named in
//! the RESULT line; `BENCH_FTZ=1` sets flush-to-zero and denormals-are-zero (MXCSR) on the main thread
//! before any torch work (threads created later inherit it): a diagnostic for slow optimizer
//! steps on denormal values; the trainer itself does not set it.
//!
//! Usage: bench_train MODEL_DIR PROMPTS.jsonl METHOD THREADS WARMUP STEPS [BATCH] [OBJECTIVE]

use std::time::Instant;

use mosx_methods::losses::RecLoss;
use mosx_methods::methods::{build, normalize};
use mosx_methods::optim::{OptimConfig, OptimizerKind};
use mosx_methods::trainer::{batch_loss, Schedule};
use mosx_methods::{Example, Method, Objective, Setup, TrainConfig};
use mosx_models::checkpoint::Checkpoint;
use mosx_models::tokenizer::TextTokenizer;
use mosx_models::{load_backbone, Backbone};
use tch::{nn, Device};

use mosx_methods::batch::Batch;
use mosx_methods::optim::Optimizer;

const LR: f64 = 1e-3;
const MAX_GRAD_NORM: f64 = 1.0;

#[path = "../../../bench/harness.rs"]
mod harness;
use harness::{cpu_seconds, matmul_peak, read_prompts, sync, target, vm_hwm_mib, BoxErr, Prompt};

/// Flush-to-zero + denormals-are-zero on this thread (x86_64 only; elsewhere a no-op).
fn set_ftz() {
    #[cfg(target_arch = "x86_64")]
    #[allow(deprecated)]
    // SAFETY: only sets the FTZ (bit 15) and DAZ (bit 6) flags of this thread's MXCSR.
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        _mm_setcsr(_mm_getcsr() | 0x8040);
    }
}

/// The canonical method spec for a short name (or a JSON spec as given).
fn method_spec(name: &str) -> Result<serde_json::Value, BoxErr> {
    let spec = match name {
        "prompt_tuning" => serde_json::json!({"name": "prompt_tuning", "tokens": 16}),
        "lora" => serde_json::json!({"name": "lora", "rank": 8, "alpha": 16.0, "dropout": 0.05}),
        "mos" => serde_json::json!({"name": "mos", "experts": 4, "tokens": 16}),
        s if s.trim_start().starts_with('{') => serde_json::from_str(s)?,
        other => serde_json::Value::String(other.to_string()),
    };
    Ok(normalize(&spec)?)
}

/// The command line.
struct Args {
    model_dir: String,
    prompts: String,
    method: String,
    threads: i32,
    warmup: usize,
    steps: usize,
    batch: usize,
    objective: Option<String>,
}

impl Args {
    fn parse() -> Result<Args, BoxErr> {
        let args: Vec<String> = std::env::args().collect();
        if args.len() < 7 {
            return Err("usage: bench_train MODEL_DIR PROMPTS.jsonl METHOD THREADS WARMUP STEPS [BATCH] [OBJECTIVE]".into());
        }
        Ok(Args {
            model_dir: args[1].clone(),
            prompts: args[2].clone(),
            method: args[3].clone(),
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
            objective: args.get(8).cloned(),
        })
    }
}

/// OBJECTIVE as given, else the method's default.
fn objective(arg: Option<&str>, method_name: &str) -> Result<Objective, BoxErr> {
    Ok(match arg {
        Some(o) => serde_json::from_value(serde_json::Value::String(o.to_string()))
            .map_err(|e| format!("OBJECTIVE {o:?}: {e} (rec | rec+fair | rec+fair+div)"))?,
        None => mosx_methods::methods::entry(method_name)?.default_objective,
    })
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

/// The prompts as examples (fairness fields: the documented dummies).
fn examples(prompts: &[Prompt], tok: &TextTokenizer) -> Result<Vec<Example>, BoxErr> {
    prompts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Ok(Example {
                ids: tok.encode(&p.text, true)?,
                label: p.label == 1,
                user_group: i % 2,
                target_groups: vec![i % 3 == 0, i % 3 == 1],
                history_share: vec![0.6, 0.4],
                variants: Vec::new(),
            })
        })
        .collect()
}

/// The methods' setup: 2 groups with the stereotype sentences.
fn setup(tok: &TextTokenizer, hidden: i64, device: Device) -> Result<Setup, BoxErr> {
    let group_prompts = ["The user is a male.", "The user is a female."]
        .iter()
        .map(|s| tok.encode(s, false))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Setup {
        hidden,
        n_groups: 2,
        group_prompts,
        seed: 0,
        device,
    })
}

/// The train config of the module note: AdamW without weight decay, constant LR, pair loss.
fn train_config(objective: Objective, batch: usize) -> TrainConfig {
    TrainConfig {
        objective,
        lambda_fair: 0.1,
        lambda_div: 0.1,
        optim: OptimConfig {
            weight_decay: 0.0,
            ..OptimConfig::for_kind(OptimizerKind::Adamw)
        },
        lr: LR,
        schedule: Schedule::Constant,
        warmup: 0.0,
        epochs: 1,
        batch_size: batch,
        grad_accum: 1,
        seed: 0,
        patience: 1,
        max_grad_norm: MAX_GRAD_NORM,
        rec_loss: RecLoss::Pair,
        eval_batch_size: batch,
        prune: None,
    }
}

/// What the steps run on.
struct Bench<'a> {
    method: &'a dyn Method,
    backbone: &'a dyn Backbone,
    examples: &'a [Example],
    cfg: &'a TrainConfig,
    answer: [i64; 2],
    pad: i64,
    /// Soft-prompt tokens per sample (counted as tokens).
    l_soft: i64,
    device: Device,
}

/// The timed steps' measurements.
#[derive(Default)]
struct Timings {
    samples: usize,
    tokens: i64,
    seconds: f64,
    cpu_s: f64,
    step_s: Vec<f64>,
    fwd_s: Vec<f64>,
    bwd_s: Vec<f64>,
    opt_s: Vec<f64>,
    losses: Vec<f64>,
}

/// WARMUP untimed then STEPS timed optimizer steps on the batches in file order, cycled.
fn run_steps(
    b: &Bench<'_>,
    opt: &mut Optimizer,
    warmup: usize,
    steps: usize,
) -> Result<Timings, BoxErr> {
    let weights = b.method.sample_weights(b.examples);
    let with_variants = b.method.needs_variants();
    let p_h = mosx_methods::losses::train_p_h(b.examples, 2);
    let index: Vec<usize> = (0..b.examples.len()).collect();
    let batches: Vec<&[usize]> = index.chunks(b.cfg.batch_size.max(1)).collect();
    let mut t = Timings::default();
    for step in 0..warmup + steps {
        let idx = batches[step % batches.len()];
        let (t0, c0) = (Instant::now(), cpu_seconds());
        opt.zero_grad()?;
        let batch = Batch::new(
            b.examples,
            idx,
            b.pad,
            weights.as_deref(),
            with_variants,
            b.device,
        );
        let (loss, _parts) = batch_loss(
            b.method, b.backbone, &batch, b.answer, &p_h, b.cfg, step, true,
        );
        let value = loss.double_value(&[]);
        if !value.is_finite() {
            return Err(format!("non-finite loss {value} at step {step}").into());
        }
        let t1 = Instant::now();
        (loss / 1.0).backward();
        sync(b.device);
        let t2 = Instant::now();
        if b.cfg.max_grad_norm > 0.0 {
            opt.clip_grad_norm(b.cfg.max_grad_norm);
        }
        opt.step(b.cfg.lr);
        sync(b.device);
        let t3 = Instant::now();
        if step >= warmup {
            t.record([t0, t1, t2, t3], cpu_seconds() - c0, value);
            t.samples += idx.len();
            t.tokens += idx
                .iter()
                .map(|&i| b.examples[i].ids.len() as i64 + b.l_soft)
                .sum::<i64>();
        }
    }
    Ok(t)
}

impl Timings {
    /// One timed step: its instants (start, after the loss, after backward, after the
    /// optimizer), CPU seconds and loss.
    fn record(&mut self, [t0, t1, t2, t3]: [Instant; 4], cpu_s: f64, loss: f64) {
        let dt = (t3 - t0).as_secs_f64();
        self.seconds += dt;
        self.cpu_s += cpu_s;
        self.step_s.push(dt);
        self.fwd_s.push((t1 - t0).as_secs_f64());
        self.bwd_s.push((t2 - t1).as_secs_f64());
        self.opt_s.push((t3 - t2).as_secs_f64());
        self.losses.push(loss);
    }
}

fn main() -> Result<(), BoxErr> {
    let args = Args::parse()?;
    let config = method_spec(&args.method)?;
    let method_name = config["name"].as_str().unwrap_or("?").to_string();
    let objective = objective(args.objective.as_deref(), &method_name)?;
    let ftz = std::env::var("BENCH_FTZ").is_ok_and(|v| v == "1");
    if ftz {
        set_ftz();
    }
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
    let examples = examples(&prompts, &tok)?;
    let setup = setup(&tok, backbone.hidden_size(), tg.device)?;
    let adapter = nn::VarStore::new(tg.device);
    let (method, _entry) = build(&config, &setup, backbone.as_mut(), &adapter)?;
    let backbone = backbone; // frozen from here on
    let cfg = train_config(objective, args.batch);
    let params = method.trainable(backbone.as_ref(), &adapter);
    let trainable: i64 = params.iter().map(|(_, t)| t.numel() as i64).sum();
    let mut opt = Optimizer::new(cfg.optim.clone(), params)?;
    let l_soft = match method_name.as_str() {
        "prompt_tuning" | "mos" => config["tokens"].as_i64().unwrap_or(0),
        _ => 0,
    };
    let bench = Bench {
        method: method.as_ref(),
        backbone: backbone.as_ref(),
        examples: &examples,
        cfg: &cfg,
        answer,
        pad,
        l_soft,
        device: tg.device,
    };
    let t = run_steps(&bench, &mut opt, args.warmup, args.steps)?;
    let result = serde_json::json!({
        "side": "mosx",
        "mode": "train",
        "method": method_name,
        "config": "trainer",
        "device": tg.device_name,
        "dtype": tg.dtype_name,
        "objective": objective,
        "method_config": config,
        "threads": args.threads,
        "batch": args.batch,
        "warmup": args.warmup,
        "steps": args.steps,
        "samples": t.samples,
        "tokens": t.tokens,
        "seconds": t.seconds,
        "samples_per_s": t.samples as f64 / t.seconds,
        "tokens_per_s": t.tokens as f64 / t.seconds,
        "flop_params": flop_params,
        "trainable_params": trainable,
        "matmul_peak_flops": peak,
        "load_s": load_s,
        "ftz": ftz,
        "vm_hwm_mib": vm_hwm_mib(),
        "extra": {
            "losses": t.losses, "step_s": t.step_s, "cpu_s": t.cpu_s,
            "fwd_s": t.fwd_s, "bwd_s": t.bwd_s, "opt_s": t.opt_s,
        },
    });
    println!("RESULT {result}");
    Ok(())
}
