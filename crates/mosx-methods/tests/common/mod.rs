//! Helpers shared by the methods tests: a tiny random backbone of either architecture with
//! a word-level tokenizer, examples whose label is a learnable signal ("good" vs "bad" in
//! the text), the group setup and a training configuration; `optim`: the optimizer tests'
//! fixtures.
#![allow(dead_code)]

pub mod optim;

use rand::{Rng, SeedableRng};
use tch::Device;

use mosx_methods::losses::RecLoss;
use mosx_methods::optim::{OptimConfig, OptimizerKind};
use mosx_methods::{Example, Objective, Schedule, Setup, TrainConfig};
use mosx_models::checkpoint::Checkpoint;
use mosx_models::tiny::{write_tiny, TinyArch};
use mosx_models::tokenizer::TextTokenizer;
use mosx_models::{load_backbone, Backbone};

pub const WORDS: &[&str] = &[
    "Yes", "No", "good", "bad", "the", "user", "is", "a", "male", "female", "film", "will", "like",
    "?", ".", "x1", "x2", "x3", "x4", "x5", "x6", "x7",
];

/// A tiny random checkpoint (kept alive by the returned folder), loaded on CPU in f32.
pub fn tiny(arch: TinyArch) -> (tempfile::TempDir, Box<dyn Backbone>, TextTokenizer) {
    let dir = tempfile::tempdir().unwrap();
    write_tiny(dir.path(), arch, WORDS, 7).unwrap();
    let ck = Checkpoint::from_dir(dir.path()).unwrap();
    let bb = load_backbone(&ck, Device::Cpu, tch::Kind::Float).unwrap();
    let tok = TextTokenizer::from_file(&ck.tokenizer_file).unwrap();
    (dir, bb, tok)
}

/// Two groups, "male" and "female", with their stereotype sentences.
pub fn setup(bb: &dyn Backbone, tok: &TextTokenizer) -> Setup {
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

/// `n` examples: label = "good" in the text; random groups, targets and shares; the
/// prompt rendered with each group's profile as variants.
pub fn examples(tok: &TextTokenizer, n: usize, seed: u64) -> Vec<Example> {
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
            let t = rng.random_range(0..3usize);
            let share = rng.random_range(0.0..0.5);
            Example {
                ids: tok.encode(&text, true).unwrap(),
                label,
                user_group: rng.random_range(0..2usize),
                target_groups: vec![t == 0, t == 1],
                history_share: vec![share, 0.5 - share],
                variants: ["male", "female"]
                    .iter()
                    .map(|who| {
                        tok.encode(&format!("the user is a {who} . {text}"), true)
                            .unwrap()
                    })
                    .collect(),
            }
        })
        .collect()
}

/// AdamW at a constant rate, batches of 8, no early stopping.
pub fn config(objective: Objective, lr: f64, epochs: usize) -> TrainConfig {
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

/// The paper's optimizer with warm-up and decay, batches of 4 accumulated over 2.
pub fn adafactor_config(epochs: usize, lr: f64) -> TrainConfig {
    TrainConfig {
        optim: OptimConfig::for_kind(OptimizerKind::Adafactor),
        schedule: Schedule::Linear,
        warmup: 0.1,
        batch_size: 4,
        grad_accum: 2,
        seed: 5,
        lambda_fair: 1.0,
        eval_batch_size: 8,
        ..config(Objective::Rec, lr, epochs)
    }
}

pub fn auc(s: &[f64], l: &[bool]) -> f64 {
    mosx_fairness::auc(s, l)
}
