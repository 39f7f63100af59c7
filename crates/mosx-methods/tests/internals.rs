//! The fairness baselines' internals are visible (issue 14): IFairLRS's item-group weights
//! and UP5's validation discriminator accuracy (with its chance rate) reach the log and the
//! train stage's metrics, for those methods only; FaiRLLM's consistency penalty is exactly 0
//! for identical prompts even on a T5 whose dropout is on (its variant passes run without
//! dropout).

mod common;
use common::{auc, config, examples, setup, tiny, WORDS};

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tch::{nn, Device};

use mosx_methods::batch::Batch;
use mosx_methods::diagnostics::majority_share;
use mosx_methods::losses::train_p_h;
use mosx_methods::methods::{fairllm, ifairlrs};
use mosx_methods::trainer::{batch_loss, Quiet};
use mosx_methods::{forward, methods, Example, Objective, Outcome, TrainData};
use mosx_models::checkpoint::Checkpoint;
use mosx_models::tiny::{write_tiny, TinyArch};
use mosx_models::tokenizer::TextTokenizer;
use mosx_models::{load_backbone, Backbone};

const GROUPS: [&str; 2] = ["male", "female"];

fn groups() -> Vec<String> {
    GROUPS.iter().map(|g| g.to_string()).collect()
}

/// Builds the method of `spec` on `bb` and trains it for `epochs` on `train`/`valid`.
fn train(
    bb: &mut dyn Backbone,
    tok: &TextTokenizer,
    spec: Value,
    train: &[Example],
    valid: &[Example],
    epochs: usize,
) -> Outcome {
    let s = setup(bb, tok);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = methods::normalize(&spec).unwrap();
    let (m, e) = methods::build(&cfg, &s, bb, &vs).unwrap();
    let data = TrainData {
        train,
        valid,
        answer: tok.answer_ids("Yes", "No").unwrap(),
        pad_id: tok.pad_id(),
    };
    let tc = config(e.default_objective, 3e-2, epochs);
    mosx_methods::train(m.as_ref(), bb, &vs, &data, &tc, None, &auc, &Quiet).unwrap()
}

fn metrics(out: &Outcome) -> BTreeMap<String, f64> {
    out.log.internal_metrics(&groups()).into_iter().collect()
}

#[test]
fn ifairlrs_logs_a_finite_positive_weight_for_each_item_group_and_neutral() {
    for arch in [TinyArch::Gemma3, TinyArch::T5] {
        let (_d, mut bb, tok) = tiny(arch);
        let tr = examples(&tok, 24, 1);
        let va = examples(&tok, 16, 2);
        let out = train(
            bb.as_mut(),
            &tok,
            json!({"name": "ifairlrs", "tokens": 2}),
            &tr,
            &va,
            1,
        );
        let m = metrics(&out);
        let names = ["male", "female", "neutral"].map(|g| format!("ifairlrs.weight.{g}"));
        let w: Vec<f64> = names.iter().map(|n| m[n]).collect();
        eprintln!("{arch:?}: IFairLRS weights male, female, neutral = {w:?}");
        assert!(w.iter().all(|x| x.is_finite() && *x > 0.0), "{w:?}");
        // The logged weights are the ones each sample's loss gets: a target in group b only
        // weighs w_b, a neutral one the neutral weight.
        let table = out.log.group_weights.as_ref().unwrap();
        for (e, s) in tr.iter().zip(ifairlrs::sample_weights(&tr)) {
            let want = match e.target_groups.iter().position(|&x| x) {
                Some(b) => table.groups[b].unwrap(),
                None => table.neutral,
            };
            assert!((s - want).abs() < 1e-12, "{s} vs {want}");
        }
        assert_eq!(m[&names[0]], table.groups[0].unwrap());
        assert!(!m.keys().any(|k| k.starts_with("up5.")), "{m:?}");
    }
}

#[test]
fn up5_logs_validation_discriminator_accuracy_per_epoch_and_the_chance_rate() {
    for arch in [TinyArch::Gemma3, TinyArch::T5] {
        let (_d, mut bb, tok) = tiny(arch);
        let tr = examples(&tok, 24, 1);
        let va = examples(&tok, 16, 2);
        let spec = json!({"name": "up5", "tokens": 2, "hidden": 8});
        let out = train(bb.as_mut(), &tok, spec, &tr, &va, 2);
        let m = metrics(&out);
        let per_epoch: Vec<f64> = (0..2)
            .map(|e| m[&format!("up5.disc_acc.epoch.{e}")])
            .collect();
        let chance = m["up5.disc_chance"];
        eprintln!("{arch:?}: UP5 disc accuracy per epoch {per_epoch:?}, chance {chance}");
        for a in &per_epoch {
            // A share of the 16 validation points.
            assert!((0.0..=1.0).contains(a) && (a * 16.0).fract() == 0.0, "{a}");
        }
        assert!(!m.contains_key("up5.disc_acc.epoch.2"));
        let kept = out.log.kept_epoch().unwrap();
        assert_eq!(Some(m["up5.disc_acc"]), kept.disc_acc);
        assert_eq!(chance, majority_share(&va));
        let male = va.iter().filter(|e| e.user_group == 0).count() as f64 / 16.0;
        assert_eq!(chance, male.max(1.0 - male));
        assert!(!m.keys().any(|k| k.starts_with("ifairlrs.")), "{m:?}");
    }
}

#[test]
fn methods_without_these_internals_write_none_of_them() {
    let (_d, mut bb, tok) = tiny(TinyArch::Gemma3);
    let tr = examples(&tok, 16, 1);
    let va = examples(&tok, 8, 2);
    for spec in [
        json!({"name": "prompt_tuning", "tokens": 2}),
        json!({"name": "fairllm", "tokens": 2}),
    ] {
        let out = train(bb.as_mut(), &tok, spec.clone(), &tr, &va, 1);
        let m = metrics(&out);
        assert!(
            !m.keys()
                .any(|k| k.starts_with("ifairlrs.") || k.starts_with("up5.")),
            "{spec}: {m:?}"
        );
        assert!(out.log.group_weights.is_none() && out.log.disc_chance.is_none());
    }
}

/// A tiny T5 whose `dropout_rate` is `rate` (the tiny default is 0).
fn t5_with_dropout(rate: f64) -> (tempfile::TempDir, Box<dyn Backbone>, TextTokenizer) {
    let dir = tempfile::tempdir().unwrap();
    write_tiny(dir.path(), TinyArch::T5, WORDS, 7).unwrap();
    let path = dir.path().join("config.json");
    let mut c: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    c["dropout_rate"] = json!(rate);
    std::fs::write(&path, serde_json::to_vec(&c).unwrap()).unwrap();
    let ck = Checkpoint::from_dir(dir.path()).unwrap();
    let bb = load_backbone(&ck, Device::Cpu, tch::Kind::Float).unwrap();
    let tok = TextTokenizer::from_file(&ck.tokenizer_file).unwrap();
    (dir, bb, tok)
}

#[test]
fn fairllm_penalty_is_exactly_zero_for_identical_prompts_on_t5_with_dropout() {
    let (_d, mut bb, tok) = t5_with_dropout(0.5);
    let s = setup(bb.as_ref(), &tok);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = methods::normalize(&json!({"name": "fairllm", "tokens": 2})).unwrap();
    let (m, _) = methods::build(&cfg, &s, bb.as_mut(), &vs).unwrap();
    let answer = tok.answer_ids("Yes", "No").unwrap();
    let mut ex = examples(&tok, 8, 1);
    let differing: Vec<Example> = ex.clone();
    for e in &mut ex {
        e.variants = vec![e.ids.clone(), e.ids.clone()];
    }
    let tc = config(Objective::Rec, 1e-2, 1);
    let p_h = train_p_h(&ex, 2);
    let idx: Vec<usize> = (0..ex.len()).collect();
    let part = |ex: &[Example], name: &str| -> f64 {
        let b = Batch::new(ex, &idx, tok.pad_id(), None, true, Device::Cpu);
        let (_, parts) = batch_loss(m.as_ref(), bb.as_ref(), &b, answer, &p_h, &tc, 1, true);
        parts.into_iter().find(|(n, _)| *n == name).unwrap().1
    };
    // Dropout is on in the task pass: two training passes of the same batch differ.
    tch::manual_seed(0);
    let (rec_a, rec_b) = (part(&ex, "rec"), part(&ex, "rec"));
    eprintln!("T5 dropout 0.5: L_rec of two training passes {rec_a} / {rec_b}");
    assert_ne!(
        rec_a, rec_b,
        "dropout is not active, the test would prove nothing"
    );
    for _ in 0..3 {
        assert_eq!(part(&ex, "consistency"), 0.0);
    }
    // What the variant passes gave with dropout on: each draws its own mask.
    let b = Batch::new(&ex, &idx, tok.pad_id(), None, true, Device::Cpu);
    let with_dropout: Vec<_> = b
        .variants
        .iter()
        .map(|tb| forward(Some(m.as_ref()), bb.as_ref(), tb, answer, true, false).p_yes())
        .collect();
    let noisy = fairllm::consistency_penalty(&with_dropout).double_value(&[]);
    eprintln!("T5 dropout 0.5: identical prompts, passes with dropout: penalty {noisy:e}");
    assert!(noisy > 0.0);
    // Prompts that differ are still penalised.
    let p = part(&differing, "consistency");
    eprintln!("T5 dropout 0.5: penalty for differing profiles {p:e}");
    assert!(p > 0.0);
}
