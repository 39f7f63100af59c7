//! ASHA in the trainer: a validation AUC below a rung's floor stops the training there,
//! recorded as `pruned_at_epoch`, and a resumed pruned training stays pruned. Its own test
//! binary (its own process), like `resume.rs`: torch's global generator is reseeded per
//! epoch and must not be shared with tests running in parallel threads.

mod common;
use common::{adafactor_config, auc, examples, setup, tiny};

use serde_json::json;
use tch::Device;

use mosx_methods::methods;
use mosx_methods::trainer::Quiet;
use mosx_methods::TrainData;
use mosx_models::tiny::TinyArch;

/// Prompt tuning for 3 epochs with ASHA's `floors` at rungs 1 (and 3, past the end).
fn run_pruned(
    floors: Vec<Option<f64>>,
    resume: Option<&std::path::Path>,
) -> mosx_methods::trainer::TrainLog {
    let (_d, mut bb, tok) = tiny(TinyArch::Gemma3);
    let s = setup(bb.as_ref(), &tok);
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let c = methods::normalize(&json!({"name": "prompt_tuning", "tokens": 2})).unwrap();
    let (m, _) = methods::build(&c, &s, bb.as_mut(), &vs).unwrap();
    let train = examples(&tok, 16, 1);
    let valid = examples(&tok, 8, 2);
    let data = TrainData {
        train: &train,
        valid: &valid,
        answer: tok.answer_ids("Yes", "No").unwrap(),
        pad_id: tok.pad_id(),
    };
    let mut c = adafactor_config(3, 1e-2);
    c.prune = Some(mosx_methods::trainer::Prune {
        metric: "valid_auc".into(),
        min_epochs: 1,
        reduction_factor: 3,
        floors,
    });
    mosx_methods::train(
        m.as_ref(),
        bb.as_ref(),
        &vs,
        &data,
        &c,
        resume,
        &auc,
        &Quiet,
    )
    .unwrap()
    .log
}

#[test]
fn a_training_below_its_floor_stops_at_the_rung_and_stays_pruned_when_resumed() {
    let dir = tempfile::tempdir().unwrap();
    // No AUC reaches 2: pruned after the first epoch, with its state saved.
    let log = run_pruned(vec![Some(2.0)], Some(dir.path()));
    assert_eq!(log.pruned_at_epoch, Some(1));
    assert_eq!(log.epochs.len(), 1);
    let again = run_pruned(vec![Some(2.0)], Some(dir.path()));
    assert_eq!(
        again.pruned_at_epoch,
        Some(1),
        "a resumed pruned training stays pruned"
    );
    assert_eq!(again.epochs.len(), 1);
    // Every AUC reaches -1 (and rung 3 is the last epoch, never a rung): all 3 epochs.
    let log = run_pruned(vec![Some(-1.0), Some(2.0)], None);
    assert_eq!(log.pruned_at_epoch, None);
    assert_eq!(log.epochs.len(), 3);
}
