//! Resume after a crash: a training killed after epoch e's checkpoint and rerun ends with
//! bit-identical parameters. Its own test binary (its own process): torch's global
//! generator, which dropout and stochastic routing draw from, is reseeded per epoch and
//! must not be shared with tests running in parallel threads.

use rand::{Rng, SeedableRng};
use serde_json::json;
use tch::{Device, Kind, Tensor};

use mosx_methods::losses::RecLoss;
use mosx_methods::methods;
use mosx_methods::optim::{OptimConfig, OptimizerKind};
use mosx_methods::trainer::{EpochLog, Observer, Quiet};
use mosx_methods::{Example, MethodError, Objective, Schedule, Setup, TrainConfig, TrainData};
use mosx_models::checkpoint::Checkpoint;
use mosx_models::tiny::{write_tiny, TinyArch};
use mosx_models::tokenizer::TextTokenizer;
use mosx_models::{load_backbone, Backbone};

fn tiny(arch: TinyArch) -> (tempfile::TempDir, Box<dyn Backbone>, TextTokenizer) {
    let words = [
        "Yes", "No", "good", "bad", "the", "user", "is", "a", "male", "female", "x1", "x2", "x3",
        ".",
    ];
    let dir = tempfile::tempdir().unwrap();
    write_tiny(dir.path(), arch, &words, 5).unwrap();
    let ck = Checkpoint::from_dir(dir.path()).unwrap();
    let bb = load_backbone(&ck, Device::Cpu, Kind::Float).unwrap();
    let tok = TextTokenizer::from_file(&ck.tokenizer_file).unwrap();
    (dir, bb, tok)
}

fn setup(bb: &dyn Backbone, tok: &TextTokenizer) -> Setup {
    Setup {
        hidden: bb.hidden_size(),
        n_groups: 2,
        group_prompts: ["male", "female"]
            .iter()
            .map(|g| tok.encode(&format!("the user is a {g} ."), false).unwrap())
            .collect(),
        seed: 9,
        device: Device::Cpu,
    }
}

fn examples(tok: &TextTokenizer, n: usize, seed: u64) -> Vec<Example> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let label = rng.random_bool(0.5);
            let text = format!(
                "x1 {} x{} .",
                if label { "good" } else { "bad" },
                rng.random_range(1..4)
            );
            let g = rng.random_range(0..2usize);
            Example {
                ids: tok.encode(&text, true).unwrap(),
                label,
                user_group: g,
                target_groups: vec![rng.random_bool(0.4), rng.random_bool(0.4)],
                history_share: vec![0.3, 0.2],
                variants: ["male", "female"]
                    .iter()
                    .map(|w| {
                        tok.encode(&format!("the user is a {w} . {text}"), true)
                            .unwrap()
                    })
                    .collect(),
            }
        })
        .collect()
}

fn cfg(epochs: usize, lr: f64) -> TrainConfig {
    TrainConfig {
        objective: Objective::Rec,
        lambda_fair: 1.0,
        lambda_div: 0.1,
        optim: OptimConfig::for_kind(OptimizerKind::Adafactor),
        lr,
        schedule: Schedule::Linear,
        warmup: 0.1,
        epochs,
        batch_size: 4,
        grad_accum: 2,
        seed: 5,
        patience: 100,
        max_grad_norm: 1.0,
        rec_loss: RecLoss::Vocab,
        eval_batch_size: 8,
    }
}

fn auc(s: &[f64], l: &[bool]) -> f64 {
    mosx_fairness::auc(s, l)
}

/// Panics when epoch `at` starts: a crash after the checkpoint of epoch `at - 1`.
struct CrashAt(usize);
impl Observer for CrashAt {
    fn epoch_start(&self, epoch: usize, _: usize, _: usize) {
        if epoch == self.0 {
            panic!("simulated crash");
        }
    }
    fn step(&self, _: usize, _: usize, _: f64, _: f64) {}
    fn epoch_end(&self, _: &EpochLog) {}
}

fn run_mos(
    arch: TinyArch,
    resume: Option<&std::path::Path>,
    obs: &dyn Observer,
) -> Result<Vec<(String, Tensor)>, MethodError> {
    let (_d, mut bb, tok) = tiny(arch);
    let s = setup(bb.as_ref(), &tok);
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let c = methods::normalize(
        &json!({"name": "mos", "experts": 2, "tokens": 2, "routing": "stochastic"}),
    )
    .unwrap();
    let (m, _) = methods::build(&c, &s, bb.as_mut(), &vs).unwrap();
    let train = examples(&tok, 24, 1);
    let valid = examples(&tok, 8, 2);
    let data = TrainData {
        train: &train,
        valid: &valid,
        answer: tok.answer_ids("Yes", "No").unwrap(),
        pad_id: tok.pad_id(),
    };
    let mut c = cfg(3, 1e-2);
    c.objective = Objective::RecFairDiv;
    mosx_methods::train(m.as_ref(), bb.as_ref(), &vs, &data, &c, resume, &auc, obs)
        .map(|o| o.params)
}

#[test]
fn a_training_resumed_after_a_crash_ends_bit_identical() {
    for arch in [TinyArch::Gemma3, TinyArch::T5] {
        let straight = run_mos(arch, None, &Quiet).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_mos(arch, Some(dir.path()), &CrashAt(2))
        }));
        assert!(crashed.is_err(), "the crash did not happen");
        assert!(dir.path().join("state.json").exists());
        let resumed = run_mos(arch, Some(dir.path()), &Quiet).unwrap();
        for ((n, a), (_, b)) in straight.iter().zip(&resumed) {
            assert!(a.equal(b), "{arch:?}: {n} differs after resume");
        }
    }
}
