//! The Llama-family decoder against transformers 5.24's outputs (tools/golden_llama.py):
//! five seeded random tiny models (Llama-2 style, Llama-3 with `llama3` RoPE scaling and
//! biases, Qwen2, Qwen3, Mistral with a sliding window of 4) on right-padded batches of
//! different lengths, with and without a soft prompt; and the byte-level BPE tokenizer of
//! `tiny-model --arch llama` against transformers' ids.

use std::path::{Path, PathBuf};

mod common;
use common::{answer_ids, golden_in, inputs, max_diffs};

use mosx_models::backbone::Backbone;
use mosx_models::checkpoint::Checkpoint;
use mosx_models::llama::{Family, Llama, LlamaConfig};
use mosx_models::load_backbone;
use mosx_models::tiny::{bpe::byte_level_bpe, words_of};
use mosx_models::tokenizer::TextTokenizer;
use mosx_models::{LoraConfig, Targets};
use serde_json::Value;
use tch::{Device, Kind};

const CASES: [&str; 5] = ["llama2", "llama3", "qwen2", "qwen3", "mistral"];

fn golden_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/llama")
        .join(name)
}

fn load(name: &str, kind: Kind) -> Box<dyn Backbone> {
    let ck = Checkpoint::resolve(golden_dir(name).to_str().unwrap()).unwrap();
    load_backbone(&ck, Device::Cpu, kind).unwrap()
}

#[test]
fn every_family_matches_transformers_within_1e4() {
    let mut worst = 0f64;
    for name in CASES {
        let g = golden_in(&golden_dir(name));
        let model = load(name, Kind::Float);
        let (dl, dp) = max_diffs(model.as_ref(), &g, &g["cases"]);
        println!(
            "{name} tiny f32 (transformers {}): max |logit diff| {dl:.3e}, max |pooled diff| {dp:.3e}",
            g["transformers_version"]
        );
        assert!(dl < 1e-4, "{name}: logits differ by {dl}");
        assert!(dp < 1e-4, "{name}: pooled states differ by {dp}");
        worst = worst.max(dl);
    }
    println!("max |logit diff| over the five families: {worst:.3e}");
}

#[test]
fn bf16_stays_close_to_transformers_f32() {
    for name in CASES {
        let g = golden_in(&golden_dir(name));
        let model = load(name, Kind::BFloat16);
        let (dl, _) = max_diffs(model.as_ref(), &g, &g["cases"]);
        println!("{name} tiny bf16 vs transformers f32: max |logit diff| {dl:.3e}");
        assert!(
            dl.is_finite() && dl < 0.5,
            "{name}: bf16 logits off by {dl}"
        );
    }
}

#[test]
fn configs_resolve_to_their_family_flags() {
    let flavour = |name: &str| {
        let path = golden_dir(name).join("config.json");
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        LlamaConfig::from_json(&v, &path)
            .unwrap()
            .resolve(&path)
            .unwrap()
    };
    let q2 = flavour("qwen2");
    assert_eq!(q2.family, Family::Qwen2);
    assert!(q2.qkv_bias && !q2.o_bias && !q2.qk_norm && q2.tie_word_embeddings);
    let q3 = flavour("qwen3");
    assert!(q3.qk_norm && q3.head_dim == 24 && !q3.qkv_bias);
    let m = flavour("mistral");
    assert_eq!(m.layer_window, vec![Some(4), Some(4)]);
    assert!(!m.tie_word_embeddings);
    let l3 = flavour("llama3");
    assert!(l3.qkv_bias && l3.o_bias && l3.mlp_bias);
    assert!(matches!(l3.rope, mosx_models::llama::Rope::Llama3 { .. }));
    assert_eq!(flavour("llama2").layer_window, vec![None, None]);
}

#[test]
fn legacy_rope_scaling_reads_like_rope_parameters() {
    // Llama 3.x files written before transformers 5 carry `rope_scaling` + `rope_theta`.
    let path = golden_dir("llama3").join("config.json");
    let modern: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut legacy = modern.clone();
    let params = legacy
        .as_object_mut()
        .unwrap()
        .remove("rope_parameters")
        .unwrap();
    legacy["rope_theta"] = params["rope_theta"].clone();
    let mut scaling = params.clone();
    scaling.as_object_mut().unwrap().remove("rope_theta");
    legacy["rope_scaling"] = scaling;
    let a = LlamaConfig::from_json(&modern, &path)
        .unwrap()
        .resolve(&path)
        .unwrap();
    let b = LlamaConfig::from_json(&legacy, &path)
        .unwrap()
        .resolve(&path)
        .unwrap();
    assert_eq!(a, b);
    let mut bad = modern.clone();
    bad["rope_parameters"]["rope_type"] = "yarn".into();
    let err = LlamaConfig::from_json(&bad, &path)
        .unwrap()
        .resolve(&path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rope_parameters.rope_type") && err.contains("yarn"),
        "{err}"
    );
}

#[test]
fn answer_rows_alone_equal_the_full_last_layer_and_padding_is_ignored() {
    for name in CASES {
        let g = golden_in(&golden_dir(name));
        let model = load(name, Kind::Float);
        let ids = answer_ids(&g);
        let _ng = tch::no_grad_guard();
        let case = &g["cases"][1];
        let (emb, mask) = inputs(model.as_ref(), &g, case);
        let rows = model.answer_state(&emb, &mask, false, false).hidden;
        let full = model.answer_state(&emb, &mask, false, true).hidden;
        let d = (rows - full).abs().max().double_value(&[]);
        assert!(
            d < 1e-5,
            "{name}: answer rows differ from the full pass by {d}"
        );
        // Row 2 alone, unpadded, scores as inside the padded batch.
        let batch = model.answer_logits(&emb, &mask, &ids, false);
        let n = mask.get(2).sum(Kind::Int64).int64_value(&[]);
        let single = model.answer_logits(
            &emb.narrow(0, 2, 1).narrow(1, 0, n),
            &mask.narrow(0, 2, 1).narrow(1, 0, n),
            &ids,
            false,
        );
        let d = (batch.get(2) - single.get(0)).abs().max().double_value(&[]);
        assert!(d < 1e-5, "{name}: padding changed the answer logits by {d}");
    }
}

#[test]
fn untrained_lora_is_identity_and_only_lora_trains() {
    for name in ["qwen2", "qwen3"] {
        let g = golden_in(&golden_dir(name));
        let ck = Checkpoint::resolve(golden_dir(name).to_str().unwrap()).unwrap();
        let mut model = Llama::load(&ck, Device::Cpu, Kind::Float).unwrap();
        let ids = answer_ids(&g);
        let (emb, mask) = inputs(&model, &g, &g["cases"][1]);
        let before = tch::no_grad(|| model.answer_logits(&emb, &mask, &ids, false));
        let adapters = tch::nn::VarStore::new(Device::Cpu);
        let cfg = LoraConfig {
            rank: 4,
            alpha: 8.0,
            dropout: 0.0,
            targets: Targets::QV,
        };
        model.enable_lora(&adapters.root(), cfg).unwrap();
        model.freeze_base();
        let names: Vec<String> = adapters.variables().into_keys().collect();
        assert_eq!(names.len(), 2 * 2 * 2, "{names:?}");
        assert!(names.contains(&"model.layers.1.self_attn.v_proj.lora_B".to_string()));
        let after = tch::no_grad(|| model.answer_logits(&emb, &mask, &ids, false));
        assert!((before - &after).abs().max().double_value(&[]) < 1e-6);
        let loss = model
            .answer_logits(&emb, &mask, &ids, true)
            .sum(Kind::Float);
        loss.backward();
        let b_grad = adapters.variables()["model.layers.0.self_attn.q_proj.lora_B"].grad();
        assert!(b_grad.defined() && b_grad.abs().sum(Kind::Float).double_value(&[]) > 0.0);
        for (n, v) in model.var_store().variables() {
            assert!(
                !v.requires_grad(),
                "{name}: {n} still trainable after freeze_base"
            );
        }
    }
}

fn tokenizer_golden() -> Value {
    let p = golden_dir("tokenizer").join("ids.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn golden_words(g: &Value) -> Vec<String> {
    let titles: Vec<String> = serde_json::from_value(g["titles"].clone()).unwrap();
    words_of(&format!(
        "{} {}",
        titles.join(" "),
        g["words_extra"].as_str().unwrap()
    ))
}

#[test]
fn byte_level_bpe_ids_equal_transformers_on_titles() {
    let g = tokenizer_golden();
    let tok = TextTokenizer::from_file(golden_dir("tokenizer").join("tokenizer.json")).unwrap();
    let titles: Vec<String> = serde_json::from_value(g["titles"].clone()).unwrap();
    let want: Vec<Vec<i64>> = serde_json::from_value(g["ids"].clone()).unwrap();
    for (title, ids) in titles.iter().zip(&want) {
        assert_eq!(&tok.encode(title, false).unwrap(), ids, "{title}");
    }
}

#[test]
fn tiny_model_trains_the_same_byte_level_bpe_as_the_golden() {
    // The tokenizer `tiny-model --arch qwen2` writes for these words has the vocabulary and
    // merges of the one transformers was run on (trained by the tokenizers library).
    let g = tokenizer_golden();
    let words = golden_words(&g);
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    let ours = byte_level_bpe(&refs, false).unwrap();
    let p = golden_dir("tokenizer").join("tokenizer.json");
    let theirs: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    assert_eq!(ours["model"]["vocab"], theirs["model"]["vocab"]);
    assert_eq!(ours["model"]["merges"], theirs["model"]["merges"]);
    assert_eq!(ours["pre_tokenizer"], theirs["pre_tokenizer"]);
}
