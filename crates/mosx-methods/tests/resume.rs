//! Resume after a crash: a training killed after epoch e's checkpoint and rerun ends with
//! bit-identical parameters. Its own test binary (its own process): torch's global
//! generator, which dropout and stochastic routing draw from, is reseeded per epoch and
//! must not be shared with tests running in parallel threads.

mod common;
use common::{adafactor_config, auc, examples, setup, tiny};

use serde_json::json;
use tch::{Device, Tensor};

use mosx_methods::methods;
use mosx_methods::trainer::{EpochLog, Observer, Quiet};
use mosx_methods::{MethodError, Objective, TrainData};
use mosx_models::tiny::TinyArch;

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
    let mut c = adafactor_config(3, 1e-2);
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
