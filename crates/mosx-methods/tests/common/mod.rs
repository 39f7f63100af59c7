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
    setup_groups(bb, tok, &TWO)
}

/// The two groups most tests use.
pub const TWO: [&str; 2] = ["male", "female"];

/// Three groups (each a word of [`WORDS`]), for the tests of methods over more than two.
pub const THREE: [&str; 3] = ["male", "female", "film"];

/// One group per name of `groups`, with the stereotype sentence "the user is a NAME .".
pub fn setup_groups(bb: &dyn Backbone, tok: &TextTokenizer, groups: &[&str]) -> Setup {
    Setup {
        hidden: bb.hidden_size(),
        n_groups: groups.len(),
        group_prompts: groups
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
    examples_groups(tok, n, seed, &TWO)
}

/// [`examples`] over the groups `groups` (for two groups the same examples): user groups
/// uniform over them, the target in one group or neutral, one variant per group.
pub fn examples_groups(tok: &TextTokenizer, n: usize, seed: u64, groups: &[&str]) -> Vec<Example> {
    let g = groups.len();
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
            let t = rng.random_range(0..g + 1);
            let share = rng.random_range(0.0..0.5);
            Example {
                ids: tok.encode(&text, true).unwrap(),
                label,
                user_group: rng.random_range(0..g),
                target_groups: (0..g).map(|b| t == b).collect(),
                history_share: (0..g)
                    .map(|b| match b {
                        0 => share,
                        1 => 0.5 - share,
                        _ => 0.1,
                    })
                    .collect(),
                variants: groups
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
        prune: None,
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
