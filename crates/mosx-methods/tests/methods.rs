//! Every method on tiny random backbones of both architectures (CPU): the loss falls on a
//! small learnable signal, every frozen base tensor is bitwise unchanged, only the intended
//! tensors change, and the trainable count equals its formula.

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use serde_json::json;
use tch::{Device, Tensor};

use mosx_methods::losses::RecLoss;
use mosx_methods::optim::{OptimConfig, OptimizerKind};
use mosx_methods::trainer::Quiet;
use mosx_methods::{methods, Example, Objective, Schedule, Setup, TrainConfig, TrainData};
use mosx_models::checkpoint::Checkpoint;
use mosx_models::tiny::{write_tiny, TinyArch};
use mosx_models::tokenizer::TextTokenizer;
use mosx_models::{load_backbone, Backbone};

const WORDS: &[&str] = &[
    "Yes", "No", "good", "bad", "the", "user", "is", "a", "male", "female", "film", "watched",
    "liked", "will", "like", "?", ".", "x1", "x2", "x3", "x4", "x5", "x6", "x7",
];

fn tiny(arch: TinyArch) -> (tempfile::TempDir, Box<dyn Backbone>, TextTokenizer) {
    let dir = tempfile::tempdir().unwrap();
    write_tiny(dir.path(), arch, WORDS, 7).unwrap();
    let ck = Checkpoint::from_dir(dir.path()).unwrap();
    let bb = load_backbone(&ck, Device::Cpu, tch::Kind::Float).unwrap();
    let tok = TextTokenizer::from_file(&ck.tokenizer_file).unwrap();
    (dir, bb, tok)
}

/// Label = "good" in the text: a signal a soft prompt can pick up.
fn examples(tok: &TextTokenizer, n: usize, seed: u64) -> Vec<Example> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let fill = ["x1", "x2", "x3", "x4", "x5", "x6", "x7", "film", "the"];
    (0..n)
        .map(|_| {
            let label = rng.random_bool(0.5);
            let mut words: Vec<&str> = (0..rng.random_range(4..9))
                .map(|_| fill[rng.random_range(0..fill.len())])
                .collect();
            let pos = rng.random_range(0..words.len());
            words.insert(pos, if label { "good" } else { "bad" });
            words.extend(["will", "user", "like", "?"]);
            let text = words.join(" ");
            let g = rng.random_range(0..2usize);
            let t = rng.random_range(0..3usize);
            let share = rng.random_range(0.0..0.5);
            Example {
                ids: tok.encode(&text, true).unwrap(),
                label,
                user_group: g,
                target_groups: vec![t == 0, t == 1],
                history_share: vec![share, 0.5 - share],
                variants: (0..2)
                    .map(|k| {
                        let who = if k == 0 { "male" } else { "female" };
                        tok.encode(&format!("the user is a {who} . {text}"), true)
                            .unwrap()
                    })
                    .collect(),
            }
        })
        .collect()
}

fn setup(bb: &dyn Backbone, tok: &TextTokenizer) -> Setup {
    Setup {
        hidden: bb.hidden_size(),
        n_groups: 2,
        group_prompts: ["male", "female"]
            .iter()
            .map(|g| tok.encode(&format!("the user is a {g} ."), false).unwrap())
            .collect(),
        seed: 3,
        device: Device::Cpu,
    }
}

fn config(objective: Objective, lr: f64, epochs: usize) -> TrainConfig {
    TrainConfig {
        objective,
        lambda_fair: 0.1,
        lambda_div: 0.1,
        optim: OptimConfig::for_kind(OptimizerKind::Adamw),
        lr,
        schedule: Schedule::Constant,
        warmup: 0.0,
        epochs,
        batch_size: 8,
        grad_accum: 1,
        seed: 1,
        patience: 100,
        max_grad_norm: 1.0,
        rec_loss: RecLoss::Vocab,
        eval_batch_size: 16,
    }
}

fn snapshot(bb: &dyn Backbone) -> HashMap<String, Tensor> {
    bb.var_store()
        .variables()
        .into_iter()
        .map(|(n, t)| (n, t.detach().copy()))
        .collect()
}

/// Trains `spec` and checks the invariants; returns the trainable count.
fn check(
    arch: TinyArch,
    spec: serde_json::Value,
    lr: f64,
    expect_count: impl Fn(&dyn Backbone) -> i64,
) {
    let (_dir, mut bb, tok) = tiny(arch);
    let train = examples(&tok, 96, 1);
    let valid = examples(&tok, 32, 2);
    let cfg_json = methods::normalize(&spec).unwrap();
    let name = cfg_json["name"].as_str().unwrap().to_string();
    let entry = methods::entry(&name).unwrap();
    let before = snapshot(bb.as_ref());
    let adapter = tch::nn::VarStore::new(Device::Cpu);
    let s = setup(bb.as_ref(), &tok);
    let (method, _) = methods::build(&cfg_json, &s, bb.as_mut(), &adapter).unwrap();
    let trainable_before: Vec<(String, Tensor)> = method
        .trainable(bb.as_ref(), &adapter)
        .into_iter()
        .map(|(n, t)| (n, t.detach().copy()))
        .collect();
    let data = TrainData {
        train: &train,
        valid: &valid,
        answer: tok.answer_ids("Yes", "No").unwrap(),
        pad_id: tok.pad_id(),
    };
    let cfg = config(entry.default_objective, lr, 4);
    let out = mosx_methods::train(
        method.as_ref(),
        bb.as_ref(),
        &adapter,
        &data,
        &cfg,
        None,
        &mosx_fairness_auc,
        &Quiet,
    )
    .unwrap_or_else(|e| panic!("{name} on {arch:?}: {e}"));
    let epochs = &out.log.epochs;
    let first = epochs.first().unwrap().train_loss;
    let last = epochs
        .iter()
        .map(|e| e.train_loss)
        .fold(f64::INFINITY, f64::min);
    assert!(
        last < first,
        "{name} on {arch:?}: loss did not fall: {epochs:?}"
    );
    assert_eq!(
        out.trainable_params,
        expect_count(bb.as_ref()),
        "{name} on {arch:?}: trainable count"
    );
    // Trainable tensors moved; for non-full methods the base is bitwise unchanged.
    let changed = trainable_before
        .iter()
        .zip(method.trainable(bb.as_ref(), &adapter))
        .filter(|((_, a), (_, b))| !a.equal(b))
        .count();
    assert!(changed > 0, "{name}: no trainable tensor changed");
    let after = snapshot(bb.as_ref());
    let base_changed: Vec<&String> = before
        .iter()
        .filter(|(n, t)| !after[*n].equal(t))
        .map(|(n, _)| n)
        .collect();
    if name == "full" {
        assert!(
            !base_changed.is_empty(),
            "full fine-tuning changed no base weight"
        );
    } else {
        assert!(
            base_changed.is_empty(),
            "{name} changed frozen base tensors {base_changed:?}"
        );
    }
}

/// AUC with averaged ties (the same definition as mosx-fairness; written here so the
/// methods crate's tests need nothing above it).
fn mosx_fairness_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let pos: Vec<f64> = scores
        .iter()
        .zip(labels)
        .filter(|(_, &l)| l)
        .map(|(s, _)| *s)
        .collect();
    let neg: Vec<f64> = scores
        .iter()
        .zip(labels)
        .filter(|(_, &l)| !l)
        .map(|(s, _)| *s)
        .collect();
    let mut acc = 0.0;
    for p in &pos {
        for n in &neg {
            acc += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    acc / (pos.len() * neg.len()).max(1) as f64
}

fn d(bb: &dyn Backbone) -> i64 {
    bb.hidden_size()
}

#[test]
fn prompt_tuning_trains_only_its_prompt() {
    for arch in [TinyArch::Gemma3, TinyArch::T5] {
        check(arch, json!("prompt_tuning"), 3e-2, |bb| 16 * d(bb));
        check(
            arch,
            json!({"name": "prompt_tuning", "tokens": 4, "init": "random"}),
            3e-2,
            |bb| 4 * d(bb),
        );
    }
}

#[test]
fn p_tuning_mlp_and_lstm() {
    for arch in [TinyArch::Gemma3, TinyArch::T5] {
        check(
            arch,
            json!({"name": "p_tuning", "tokens": 8, "hidden": 16}),
            1e-2,
            |bb| {
                let d = d(bb);
                8 * d + (d * 16 + 16) + (16 * d + d)
            },
        );
    }
    check(
        TinyArch::Gemma3,
        json!({"name": "p_tuning", "tokens": 4, "hidden": 8, "encoder": "lstm"}),
        1e-2,
        |bb| {
            let d = d(bb);
            let h = 8;
            // 2 layers × 2 directions; layer 1 reads d, layer 2 reads 2h; biases ih and hh.
            let lstm =
                2 * (4 * h * d + 4 * h * h + 8 * h) + 2 * (4 * h * 2 * h + 4 * h * h + 8 * h);
            4 * d + lstm + (2 * h * h + h) + (h * d + d)
        },
    );
}

#[test]
fn lora_trains_its_adapters_and_leaves_the_base() {
    check(
        TinyArch::Gemma3,
        json!({"name": "lora", "dropout": 0.0}),
        1e-2,
        |bb| {
            // 2 layers; q: d → 4 heads × 8, v: d → 2 kv heads × 8; rank 8.
            let d = d(bb);
            2 * (8 * (d + 32) + 8 * (d + 16))
        },
    );
    check(TinyArch::T5, json!("lora"), 1e-2, |bb| {
        // encoder 2 self-attn, decoder 2 self + 2 cross; inner 4 × 8 = 32.
        let d = d(bb);
        6 * 2 * (8 * (d + 32))
    });
}

#[test]
fn full_fine_tuning_trains_every_weight() {
    for arch in [TinyArch::Gemma3, TinyArch::T5] {
        check(arch, json!("full"), 1e-3, |bb| {
            bb.var_store()
                .variables()
                .values()
                .map(|t| t.numel() as i64)
                .sum()
        });
    }
}

#[test]
fn mos_trains_router_reweighting_and_experts() {
    for arch in [TinyArch::Gemma3, TinyArch::T5] {
        check(
            arch,
            json!({"name": "mos", "experts": 3, "tokens": 4}),
            3e-2,
            |bb| {
                let (d, e, l, g) = (d(bb), 3, 4, 2);
                e * l * d + (d * e + e) + (g * e * e + e)
            },
        );
    }
    check(
        TinyArch::Gemma3,
        json!({"name": "mos", "experts": 3, "tokens": 4, "routing": "stochastic", "k": 2, "reweighting": false}),
        3e-2,
        |bb| 3 * 4 * d(bb) + (d(bb) * 3 + 3),
    );
}

#[test]
fn fairness_baselines_train() {
    for arch in [TinyArch::Gemma3, TinyArch::T5] {
        check(arch, json!({"name": "ifairlrs", "tokens": 4}), 3e-2, |bb| {
            4 * d(bb)
        });
        check(arch, json!({"name": "fairllm", "tokens": 4}), 3e-2, |bb| {
            4 * d(bb)
        });
        check(
            arch,
            json!({"name": "up5", "tokens": 4, "hidden": 8, "lambda_adv": 0.1}),
            3e-2,
            |bb| 4 * d(bb) + (d(bb) * 8 + 8) + (8 * 2 + 2),
        );
    }
}
