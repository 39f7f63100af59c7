//! Every method on tiny random backbones of both architectures (CPU): the loss falls on a
//! small learnable signal, every frozen base tensor is bitwise unchanged, only the intended
//! tensors change, and the trainable count equals its formula.

use std::collections::HashMap;

mod common;
use common::{auc, config, examples, setup, tiny};

use serde_json::json;
use tch::{Device, Tensor};

use mosx_methods::trainer::Quiet;
use mosx_methods::{methods, TrainData, TrainLog};
use mosx_models::tiny::TinyArch;
use mosx_models::Backbone;

fn snapshot(bb: &dyn Backbone) -> HashMap<String, Tensor> {
    bb.var_store()
        .variables()
        .into_iter()
        .map(|(n, t)| (n, t.detach().copy()))
        .collect()
}

/// Trains `spec` and checks the invariants, the trainable count against `expect_count`.
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
        &auc,
        &Quiet,
    )
    .unwrap_or_else(|e| panic!("{name} on {arch:?}: {e}"));
    let rec = rec_per_epoch(&out.log);
    let best = rec.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        best < rec[0],
        "{name} on {arch:?}: the task loss did not fall: {rec:?}"
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
    assert_base(&name, &before, &snapshot(bb.as_ref()));
}

/// The task loss (`rec`) per epoch, from the step log: methods that add their own terms
/// (UP5's adversary, MoS's fairness and diversity) make the total a poor witness.
fn rec_per_epoch(log: &TrainLog) -> Vec<f64> {
    log.epochs
        .iter()
        .map(|e| {
            let v: Vec<f64> = log
                .steps
                .iter()
                .filter(|s| s.epoch == e.epoch)
                .filter_map(|s| s.parts.get("rec").copied())
                .collect();
            v.iter().sum::<f64>() / v.len().max(1) as f64
        })
        .collect()
}

/// Full fine-tuning changed some base tensor; any other method (`name`) none, bitwise.
fn assert_base(name: &str, before: &HashMap<String, Tensor>, after: &HashMap<String, Tensor>) {
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
