//! Every method on tiny random backbones of every architecture (Gemma-3, T5, Llama, Qwen2,
//! Qwen3, Mistral; CPU): the loss falls on a
//! small learnable signal, every frozen base tensor is bitwise unchanged, only the intended
//! tensors change, and the trainable count equals its formula. The methods that read the
//! user groups (MoS, UP5, FaiRLLM) also train with three groups, their group-indexed
//! shapes following G.

use std::collections::HashMap;

mod common;
use common::{auc, config, examples_groups, setup_groups, tiny, THREE, TWO};

use serde_json::json;
use tch::{Device, Tensor};

use mosx_methods::trainer::Quiet;
use mosx_methods::{methods, Method, Outcome, TrainData, TrainLog};
use mosx_models::tiny::TinyArch;
use mosx_models::tokenizer::{pad_batch, TextTokenizer};
use mosx_models::Backbone;

fn snapshot(bb: &dyn Backbone) -> HashMap<String, Tensor> {
    bb.var_store()
        .variables()
        .into_iter()
        .map(|(n, t)| (n, t.detach().copy()))
        .collect()
}

/// What [`check_groups`] trained, for the tests that look further.
struct Trained {
    _dir: tempfile::TempDir,
    bb: Box<dyn Backbone>,
    tok: TextTokenizer,
    adapter: tch::nn::VarStore,
    method: Box<dyn Method>,
    out: Outcome,
}

impl Trained {
    /// The shape of the adapter variable `name`.
    fn shape(&self, name: &str) -> Vec<i64> {
        self.adapter.variables()[name].size()
    }
}

/// Trains `spec` with the two groups male/female and checks the invariants, the trainable
/// count against `expect_count`.
fn check(
    arch: TinyArch,
    spec: serde_json::Value,
    lr: f64,
    expect_count: impl Fn(&dyn Backbone) -> i64,
) {
    check_groups(arch, spec, lr, &TWO, expect_count);
}

/// [`check`] with user groups `groups`: examples over them, one stereotype sentence and one
/// prompt variant each.
fn check_groups(
    arch: TinyArch,
    spec: serde_json::Value,
    lr: f64,
    groups: &[&str],
    expect_count: impl Fn(&dyn Backbone) -> i64,
) -> Trained {
    let (dir, mut bb, tok) = tiny(arch);
    let train = examples_groups(&tok, 96, 1, groups);
    let valid = examples_groups(&tok, 32, 2, groups);
    let cfg_json = methods::normalize(&spec).unwrap();
    let name = cfg_json["name"].as_str().unwrap().to_string();
    let entry = methods::entry(&name).unwrap();
    let before = snapshot(bb.as_ref());
    let adapter = tch::nn::VarStore::new(Device::Cpu);
    let s = setup_groups(bb.as_ref(), &tok, groups);
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
        "{name} on {arch:?}, {} groups: the task loss did not fall: {rec:?}",
        groups.len()
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
    Trained {
        _dir: dir,
        bb,
        tok,
        adapter,
        method,
        out,
    }
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

/// Every tiny architecture: Gemma-3, T5 and the four Llama-family flavours.
const ARCHS: [TinyArch; 6] = [
    TinyArch::Gemma3,
    TinyArch::T5,
    TinyArch::Llama,
    TinyArch::Qwen2,
    TinyArch::Qwen3,
    TinyArch::Mistral,
];

fn d(bb: &dyn Backbone) -> i64 {
    bb.hidden_size()
}

#[test]
fn prompt_tuning_trains_only_its_prompt() {
    for arch in ARCHS {
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
    for arch in ARCHS {
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

/// The projections' `(in, out)` of one layer of each tiny architecture, per target, as its
/// `config.json` sets them (`mosx_models::tiny`), and how many layers (T5: attentions and
/// feed-forwards) carry them. The formula of the README: `r · Σ (in + out)`.
fn lora_count(arch: TinyArch, targets: &[&str], rank: i64) -> i64 {
    let (d, ff) = (32, 64);
    let (q_out, kv_out) = match arch {
        TinyArch::T5 => (32, 32),
        TinyArch::Qwen3 => (4 * 16, 2 * 16),
        _ => (4 * 8, 2 * 8),
    };
    let dims = |t: &str| match t {
        "q" => (d, q_out),
        "k" | "v" => (d, kv_out),
        "o" => (q_out, d),
        "gate" | "up" => (d, ff),
        "down" => (ff, d),
        _ => unreachable!("{t}"),
    };
    targets
        .iter()
        .map(|t| {
            let (i, o) = dims(t);
            copies(arch, t) * rank * (i + o)
        })
        .sum()
}

/// How many projections named `t` the tiny `arch` has: T5 2 encoder self-attentions, 2
/// decoder self- and 2 cross-attentions, 4 feed-forwards; the decoders 2 layers.
fn copies(arch: TinyArch, t: &str) -> i64 {
    match (arch, t) {
        (TinyArch::T5, "q" | "k" | "v" | "o") => 6,
        (TinyArch::T5, _) => 4,
        _ => 2,
    }
}

#[test]
fn lora_trains_its_adapters_and_leaves_the_base() {
    for arch in ARCHS {
        check(arch, json!({"name": "lora", "dropout": 0.0}), 1e-2, |_| {
            lora_count(arch, &["q", "v"], 8)
        });
    }
}

#[test]
fn lora_on_every_projection_of_every_architecture() {
    const ALL: [&str; 7] = ["q", "k", "v", "o", "gate", "up", "down"];
    for arch in ARCHS {
        let t = check_groups(
            arch,
            json!({"name": "lora", "rank": 2, "dropout": 0.0, "targets": "all-linear"}),
            1e-2,
            &TWO,
            |_| lora_count(arch, &ALL, 2),
        );
        // One A and one B per adapted projection, every one of them trained.
        let projections: i64 = ALL.iter().map(|x| copies(arch, x)).sum();
        assert_eq!(
            t.adapter.variables().len() as i64,
            2 * projections,
            "{arch:?}"
        );
    }
    // peft's module names, a subset: only those projections carry adapters.
    for arch in [TinyArch::Llama, TinyArch::T5] {
        let names = match arch {
            TinyArch::T5 => json!(["k", "o", "wo"]),
            _ => json!(["k_proj", "o_proj", "down_proj"]),
        };
        let t = check_groups(
            arch,
            json!({"name": "lora", "rank": 4, "dropout": 0.0, "targets": names}),
            1e-2,
            &TWO,
            |_| lora_count(arch, &["k", "o", "down"], 4),
        );
        let vars: Vec<String> = t.adapter.variables().into_keys().collect();
        let down = if arch == TinyArch::T5 {
            ".wo.lora_A"
        } else {
            ".down_proj.lora_A"
        };
        assert!(vars.iter().any(|n| n.ends_with(down)), "{vars:?}");
        assert!(
            !vars
                .iter()
                .any(|n| n.contains("q_proj") || n.contains(".q.")),
            "{vars:?}"
        );
    }
}

#[test]
fn full_fine_tuning_trains_every_weight() {
    for arch in ARCHS {
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
    for arch in ARCHS {
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
    for arch in ARCHS {
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

/// The first `n` prompts of `t`'s validation-like examples as one padded batch, with the
/// backbone's embeddings of it.
fn embedded(t: &Trained, n: usize) -> (mosx_models::TokenBatch, Tensor) {
    let ex = examples_groups(&t.tok, n, 9, &THREE);
    let tb = pad_batch(
        &ex.iter().map(|e| e.ids.clone()).collect::<Vec<_>>(),
        t.tok.pad_id(),
    );
    let embeds = t.bb.embed(&tb.input_ids);
    (tb, embeds)
}

#[test]
fn mos_with_three_groups_routes_each_groups_prompt_and_reweights_over_all_of_them() {
    for arch in ARCHS {
        let (e, l, g) = (3, 4, 3);
        let t = check_groups(
            arch,
            json!({"name": "mos", "experts": e, "tokens": l}),
            3e-2,
            &THREE,
            |bb| e * l * d(bb) + (d(bb) * e + e) + (g * e * e + e),
        );
        // The reweighting layer reads the G routed distributions side by side.
        assert_eq!(t.shape("mos.reweighting.weight"), vec![e, g * e]);
        assert_eq!(t.shape("mos.router.weight"), vec![e, d(t.bb.as_ref())]);
        let (tb, embeds) = embedded(&t, 5);
        let probs = t.method.router_probs(&embeds, &tb.attention_mask).unwrap();
        assert_eq!(probs.len(), 3, "one routing per group's stereotype prompt");
        for p in &probs {
            assert_eq!(p.size(), vec![5, e]);
        }
        // The three stereotype sentences differ, so their routings differ.
        assert!(!probs[0].equal(&probs[2]));
        // The log's routing tables have one row per group.
        let kept = t.out.log.epochs.last().unwrap();
        let routing = kept.routing.as_ref().unwrap();
        assert_eq!((routing.train.len(), routing.valid.len()), (3, 3));
        assert!(routing.valid.iter().all(|row| row.len() == e as usize));
        assert_eq!(t.out.log.train_p_h.len(), 3);
    }
}

#[test]
fn up5_with_three_groups_trains_a_three_way_discriminator() {
    for arch in ARCHS {
        let h = 8;
        let t = check_groups(
            arch,
            json!({"name": "up5", "tokens": 4, "hidden": h, "lambda_adv": 0.1}),
            3e-2,
            &THREE,
            |bb| 4 * d(bb) + (d(bb) * h + h) + (h * 3 + 3),
        );
        assert_eq!(t.shape("up5.disc.2.weight"), vec![3, h]);
        assert_eq!(t.shape("up5.disc.2.bias"), vec![3]);
        let (tb, _) = embedded(&t, 6);
        let answer = t.tok.answer_ids("Yes", "No").unwrap();
        let fwd = mosx_methods::method::forward(
            Some(t.method.as_ref()),
            t.bb.as_ref(),
            &tb,
            answer,
            false,
            true,
        );
        let logits = t.method.group_logits(&fwd).unwrap();
        assert_eq!(logits.size(), vec![6, 3], "a softmax over the three groups");
        let acc = t.out.log.epochs.last().unwrap().disc_acc.unwrap();
        assert!((0.0..=1.0).contains(&acc), "{acc}");
    }
}

#[test]
fn fairllm_with_three_groups_trains_on_every_groups_prompt() {
    for arch in ARCHS {
        let t = check_groups(
            arch,
            json!({"name": "fairllm", "tokens": 4}),
            3e-2,
            &THREE,
            |bb| 4 * d(bb),
        );
        let steps = &t.out.log.steps;
        assert!(
            steps
                .iter()
                .any(|s| s.parts.get("consistency").is_some_and(|c| *c > 0.0)),
            "the consistency penalty over the three groups' prompts was never positive"
        );
    }
}
