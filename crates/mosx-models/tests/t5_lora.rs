//! LoRA on T5: zero-initialised adapters change nothing, adapters sit on every q and v
//! (self- and cross-attention) under the given path, and after `freeze_base` only the
//! adapters receive gradients.

use std::path::{Path, PathBuf};

use mosx_models::checkpoint::Checkpoint;
use mosx_models::t5::T5;
use mosx_models::{Backbone, LoraConfig, Targets};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

fn golden_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn load(name: &str) -> T5 {
    T5::load(
        &Checkpoint::from_dir(&golden_dir(name)).unwrap(),
        Device::Cpu,
        Kind::Float,
    )
    .unwrap()
}

fn batch() -> (Tensor, Tensor) {
    let ids = Tensor::from_slice(&[5i64, 17, 33, 2, 90, 1, 44, 12, 1, 0, 0, 0]).view([2, 6]);
    let mask = Tensor::from_slice(&[1i64, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]).view([2, 6]);
    (ids, mask)
}

const CFG: LoraConfig = LoraConfig {
    rank: 4,
    alpha: 8.0,
    dropout: 0.0,
    targets: Targets::QV,
};
const ANSWERS: [i64; 3] = [5, 9, 17];

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn zero_b_leaves_logits_unchanged_and_adapters_cover_every_q_and_v() {
    let mut model = load("t5_v1_1"); // 2 encoder blocks, 3 decoder blocks
    let (ids, mask) = batch();
    let before = tch::no_grad(|| model.answer_logits(&model.embed(&ids), &mask, &ANSWERS, false));

    let adapters = VarStore::new(Device::Cpu);
    model.enable_lora(&(adapters.root() / "lora"), CFG).unwrap();
    let after = tch::no_grad(|| model.answer_logits(&model.embed(&ids), &mask, &ANSWERS, false));
    assert_eq!(max_abs_diff(&before, &after), 0.0);

    let names = adapters.variables();
    // (2 encoder self + 3 decoder self + 3 decoder cross) attentions × {q, v} × {A, B}.
    assert_eq!(names.len(), 8 * 2 * 2, "{:?}", names.keys());
    for expected in [
        "lora.encoder.block.0.layer.0.SelfAttention.q.lora_A",
        "lora.encoder.block.1.layer.0.SelfAttention.v.lora_B",
        "lora.decoder.block.0.layer.0.SelfAttention.q.lora_B",
        "lora.decoder.block.2.layer.1.EncDecAttention.v.lora_A",
        "lora.decoder.block.1.layer.1.EncDecAttention.q.lora_A",
    ] {
        assert!(
            names.contains_key(expected),
            "missing {expected}: {:?}",
            names.keys()
        );
    }
    assert!(names.keys().all(|n| n.contains(".q.") || n.contains(".v.")));
    // inner dim (3 heads × 16) differs from d_model (32): shapes follow the projection.
    assert_eq!(
        names["lora.encoder.block.0.layer.0.SelfAttention.q.lora_A"].size(),
        [4, 32]
    );
    assert_eq!(
        names["lora.encoder.block.0.layer.0.SelfAttention.q.lora_B"].size(),
        [48, 4]
    );
    assert!(model
        .enable_lora(&(adapters.root() / "again"), CFG)
        .is_err());
}

#[test]
fn after_freeze_base_only_adapters_get_gradients() {
    let mut model = load("t5_v1_0");
    let (ids, mask) = batch();
    let adapters = VarStore::new(Device::Cpu);
    model.enable_lora(&adapters.root(), CFG).unwrap();
    model.freeze_base();
    assert!(model
        .var_store()
        .trainable_variables()
        .iter()
        .all(|v| !v.requires_grad()));
    assert!(adapters
        .trainable_variables()
        .iter()
        .all(|v| v.requires_grad()));
    assert_eq!(adapters.trainable_variables().len(), 6 * 2 * 2);

    let before = tch::no_grad(|| model.answer_logits(&model.embed(&ids), &mask, &ANSWERS, false));
    // Give B non-zero values: the adapters must now move the logits.
    tch::no_grad(|| {
        for (name, mut v) in adapters.variables() {
            if name.ends_with("lora_B") {
                let r = Tensor::randn(v.size(), (Kind::Float, Device::Cpu)) * 0.1;
                v.copy_(&r);
            }
        }
    });
    let logits = model.answer_logits(&model.embed(&ids), &mask, &ANSWERS, true);
    assert!(max_abs_diff(&logits.detach(), &before) > 1e-4);
    logits.sum(Kind::Float).backward();
    for (name, v) in adapters.variables() {
        let g = v.grad();
        assert!(g.defined(), "{name} has no gradient");
        let norm = g.abs().sum(Kind::Float).double_value(&[]);
        if name.contains("decoder") && name.contains("SelfAttention.q.") {
            // One decoder position: softmax over a single key is 1 whatever q is.
            assert_eq!(norm, 0.0, "{name}");
        } else {
            assert!(norm > 0.0, "{name} has a zero gradient");
        }
    }
    for (name, v) in model.var_store().variables() {
        assert!(!v.requires_grad(), "{name} still requires grad");
        assert!(!v.grad().defined(), "{name} received a gradient");
    }
}

#[test]
fn invalid_lora_settings_are_rejected() {
    let mut model = load("t5_v1_0");
    let adapters = VarStore::new(Device::Cpu);
    let bad = LoraConfig {
        rank: 0,
        alpha: 8.0,
        dropout: 0.0,
        targets: Targets::QV,
    };
    assert!(model.enable_lora(&adapters.root(), bad).is_err());
    assert!(adapters.variables().is_empty());
}
