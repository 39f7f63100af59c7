//! The optimizers' state, as the trainer's resume relies on it: a parameter without a
//! gradient keeps its state, a saved state resumes bit-identically, and a bad state is
//! rejected without being half loaded.

mod common;

use std::collections::HashMap;

use mosx_methods::optim::{OptimError, Optimizer, OptimizerKind};
use tch::{Device, Kind, Tensor};

use common::optim::{
    adafactor_full_cfg, adamw_cfg, all_configs, clone_params, copy_map, drive, grad, opt_params,
    params, set_grads, snapshot, SHAPES,
};

#[test]
fn parameter_without_grad_is_untouched_with_its_state() {
    for cfg in all_configs() {
        let prefix = match cfg.kind {
            OptimizerKind::Adamw => "adamw.",
            OptimizerKind::Adafactor => "adafactor.",
        };
        let ps = params(Kind::Float);
        let (w, b) = (ps[0].1.shallow_clone(), ps[1].1.shallow_clone());
        let mut opt = Optimizer::new(cfg.clone(), ps).expect("optimizer");
        // Step 1: both get a gradient, so both have non-trivial state.
        set_grads(&[
            (&w, &grad(0, SHAPES[0], 1, Kind::Float)),
            (&b, &grad(1, SHAPES[1], 1, Kind::Float)),
        ]);
        opt.step(0.01);
        let b_before = b.copy();
        let state_before = snapshot(&opt);
        // Step 2: only `w` gets one (`b`'s grad undefined, even with weight decay on).
        opt.zero_grad().expect("zero_grad");
        assert!(
            !b.grad().defined() && !w.grad().defined(),
            "zero_grad undefines grads"
        );
        set_grads(&[(&w, &grad(0, SHAPES[0], 2, Kind::Float))]);
        assert!(!b.grad().defined());
        let w_before = w.copy();
        opt.step(0.01);
        assert!(b.equal(&b_before), "{:?}: b moved", cfg.kind);
        assert!(!w.equal(&w_before), "{:?}: w did not move", cfg.kind);
        assert_eq!(opt.step_count("b"), Some(1));
        assert_eq!(opt.step_count("w"), Some(2));
        assert_eq!(opt.step_count("t"), Some(0));
        let state_after = snapshot(&opt);
        for (name, before) in &state_before {
            let after = &state_after[name];
            let is_b = name.starts_with(&format!("{prefix}b."));
            let is_w = name.starts_with(&format!("{prefix}w."));
            if is_b || !is_w {
                assert!(after.equal(before), "{:?}: state {name} changed", cfg.kind);
            } else {
                assert!(
                    !after.equal(before),
                    "{:?}: state {name} did not change",
                    cfg.kind
                );
            }
        }
    }
}

#[test]
fn state_round_trip_resumes_bit_identically() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, cfg) in all_configs().into_iter().enumerate() {
        for kind in [Kind::Float, Kind::Double] {
            let ps = params(kind);
            let mut opt = Optimizer::new(cfg.clone(), clone_params(&ps)).expect("optimizer");
            let live = opt_params(&opt, &ps);
            drive(&mut opt, &live, 1..4);

            // Checkpoint through a real safetensors file, as the trainer does.
            let path = dir.path().join(format!("optim-{i}-{kind:?}.safetensors"));
            Tensor::write_safetensors(&opt.state(), &path).expect("write");
            let loaded: HashMap<String, Tensor> = Tensor::read_safetensors(&path)
                .expect("read")
                .into_iter()
                .collect();

            let resumed_ps = clone_params(&live);
            let mut resumed =
                Optimizer::new(cfg.clone(), clone_params(&resumed_ps)).expect("optimizer");
            let resumed_live = opt_params(&resumed, &resumed_ps);
            resumed.load_state(&loaded).expect("load_state");
            assert_eq!(resumed.step_count("b"), opt.step_count("b"));
            assert_eq!(opt.step_count("b"), Some(2));

            drive(&mut opt, &live, 4..6);
            drive(&mut resumed, &resumed_live, 4..6);
            for ((n, a), (_, b)) in live.iter().zip(&resumed_live) {
                assert!(
                    a.equal(b),
                    "{:?} {kind:?}: parameter {n} differs after resume",
                    cfg.kind
                );
            }
            let (s1, s2) = (snapshot(&opt), snapshot(&resumed));
            assert_eq!(s1.len(), s2.len());
            for (n, t) in &s1 {
                assert!(
                    t.equal(&s2[n]),
                    "{:?} {kind:?}: state {n} differs after resume",
                    cfg.kind
                );
            }
        }
    }
}

/// Zeros of `shape` in f32 on CPU.
fn zeros(shape: &[i64]) -> Tensor {
    Tensor::zeros(shape, (Kind::Float, Device::Cpu))
}

/// Loads `good` edited by `edit` into `opt`: the error it must fail with.
fn load_edited(
    opt: &mut Optimizer,
    good: &HashMap<String, Tensor>,
    edit: impl FnOnce(&mut HashMap<String, Tensor>),
) -> OptimError {
    let mut state = copy_map(good);
    edit(&mut state);
    opt.load_state(&state).unwrap_err()
}

#[test]
fn load_state_rejects_incomplete_or_mismatched_state() {
    let ps = params(Kind::Float);
    let mut opt = Optimizer::new(adafactor_full_cfg(), clone_params(&ps)).expect("optimizer");
    let live = opt_params(&opt, &ps);
    drive(&mut opt, &live, 1..3);
    let good = snapshot(&opt);
    let mut other = Optimizer::new(adafactor_full_cfg(), clone_params(&ps)).expect("optimizer");
    let fresh = snapshot(&other);

    let err = load_edited(&mut other, &good, |s| {
        s.remove("adafactor.t.col");
    });
    assert!(
        matches!(&err, OptimError::MissingState { name } if name == "adafactor.t.col"),
        "{err}"
    );
    let err = load_edited(&mut other, &good, |s| {
        s.insert("adafactor.w.row".into(), zeros(&[4]));
    });
    assert!(
        matches!(&err, OptimError::StateShape { name, expected, found }
            if name == "adafactor.w.row" && expected == &[3] && found == &[4]),
        "{err}"
    );
    let err = load_edited(&mut other, &good, |s| {
        s.insert(
            "adafactor.b.v".into(),
            good["adafactor.b.v"].to_kind(Kind::Double),
        );
    });
    assert!(
        matches!(&err, OptimError::StateKind { name, .. } if name == "adafactor.b.v"),
        "{err}"
    );
    let err = load_edited(&mut other, &good, |s| {
        s.insert("adafactor.w.v".into(), zeros(&[3, 4]));
        s.insert("lora.w".into(), zeros(&[1]));
    });
    assert!(
        matches!(&err, OptimError::UnexpectedState { name } if name == "adafactor.w.v"),
        "{err}"
    );
    let err = load_edited(&mut other, &good, |s| {
        s.insert("adafactor.w.step".into(), Tensor::from(-1i64));
    });
    assert!(
        matches!(&err, OptimError::NegativeStep { step: -1, .. }),
        "{err}"
    );

    // Another kind's state: its names are all missing here.
    let adamw = Optimizer::new(adamw_cfg(), clone_params(&ps)).expect("optimizer");
    let err = other.load_state(&snapshot(&adamw)).unwrap_err();
    assert!(matches!(&err, OptimError::MissingState { .. }), "{err}");

    // No failed load wrote anything.
    let after = snapshot(&other);
    for (n, t) in &fresh {
        assert!(t.equal(&after[n]), "state {n} changed by a failed load");
    }
    // Names outside the optimizer's prefixes are ignored.
    let mut extra = copy_map(&good);
    extra.insert("lora.w".into(), zeros(&[1]));
    other.load_state(&extra).expect("load_state");
    assert_eq!(other.step_count("w"), Some(2));
}
