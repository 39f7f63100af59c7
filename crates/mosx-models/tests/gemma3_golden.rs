//! The Gemma-3 decoder against transformers' outputs (tools/golden_gemma3.py, `tiny`): a
//! seeded random Gemma-3 text model with sliding-window layers (window 4), grouped-query
//! attention and right-padded batches of different lengths, with and without a soft prompt.

use std::path::{Path, PathBuf};

mod common;
use common::{answer_ids, golden_in, inputs, max_diffs};

use mosx_models::backbone::Backbone;
use mosx_models::checkpoint::Checkpoint;
use mosx_models::gemma3::Gemma3;
use mosx_models::load_backbone;
use mosx_models::{LoraConfig, Targets};
use serde_json::Value;
use tch::{Device, Kind, Tensor};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/gemma3")
}

fn golden() -> Value {
    golden_in(&golden_dir())
}

fn load(kind: Kind) -> Box<dyn Backbone> {
    let ck = Checkpoint::resolve(golden_dir().to_str().unwrap()).unwrap();
    assert_eq!(ck.model_type().unwrap(), "gemma3_text");
    load_backbone(&ck, Device::Cpu, kind).unwrap()
}

#[test]
fn f32_matches_transformers_within_1e4() {
    let g = golden();
    let model = load(Kind::Float);
    let (dl, dp) = max_diffs(model.as_ref(), &g, &g["cases"]);
    println!(
        "gemma3 tiny f32 (transformers {}): max |logit diff| {dl:.3e}, max |pooled diff| {dp:.3e}",
        g["transformers_version"]
    );
    assert!(dl < 1e-4, "logits differ by {dl}");
    assert!(dp < 1e-4, "pooled differ by {dp}");
}

#[test]
fn softcapping_matches_transformers() {
    let g = golden();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        golden_dir().join("model.safetensors"),
        tmp.path().join("model.safetensors"),
    )
    .unwrap();
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(golden_dir().join("config.json")).unwrap())
            .unwrap();
    for (k, v) in g["softcap_config_override"].as_object().unwrap() {
        config[k] = v.clone();
    }
    std::fs::write(tmp.path().join("config.json"), config.to_string()).unwrap();
    let ck = Checkpoint::resolve(tmp.path().to_str().unwrap()).unwrap();
    let model = load_backbone(&ck, Device::Cpu, Kind::Float).unwrap();
    let (dl, dp) = max_diffs(model.as_ref(), &g, &g["softcap_cases"]);
    println!("gemma3 tiny softcap f32: max |logit diff| {dl:.3e}, max |pooled diff| {dp:.3e}");
    assert!(dl < 1e-4, "logits differ by {dl}");
    assert!(dp < 1e-4, "pooled differ by {dp}");
    // The capped logits are bounded by the final cap.
    let (dl0, _) = max_diffs(model.as_ref(), &g, &g["cases"]);
    assert!(dl0 > 1e-2, "soft-capping changed nothing ({dl0})");
}

#[test]
fn answer_rows_alone_equal_the_full_last_layer() {
    // Without pooling the last layer computes only the answer rows; with pooling every
    // position: the answer states agree (bf16 vs f32 is bounded in tests/bf16_parity.rs).
    let g = golden();
    let model = load(Kind::Float);
    let _ng = tch::no_grad_guard();
    for case in g["cases"].as_array().unwrap() {
        let (emb, mask) = inputs(model.as_ref(), &g, case);
        let rows = model.answer_state(&emb, &mask, false, false).hidden;
        let full = model.answer_state(&emb, &mask, false, true).hidden;
        let d = (rows - full).abs().max().double_value(&[]);
        assert!(d < 1e-5, "answer rows differ from the full pass by {d}");
    }
}

#[test]
fn answer_position_is_the_last_real_token() {
    // Scoring a row alone, unpadded, gives the same logits as inside a padded batch.
    let g = golden();
    let model = load(Kind::Float);
    let ids_all = answer_ids(&g);
    let case = &g["cases"][0];
    let _ng = tch::no_grad_guard();
    let (emb, mask) = inputs(model.as_ref(), &g, case);
    let batch = model.answer_logits(&emb, &mask, &ids_all, false);
    let n = mask.get(2).sum(Kind::Int64).int64_value(&[]);
    let single = model.answer_logits(
        &emb.narrow(0, 2, 1).narrow(1, 0, n),
        &mask.narrow(0, 2, 1).narrow(1, 0, n),
        &ids_all,
        false,
    );
    let d = (batch.get(2) - single.get(0)).abs().max().double_value(&[]);
    assert!(d < 1e-5, "padding changed the answer logits by {d}");
}

#[test]
fn untrained_lora_is_identity_and_only_lora_trains() {
    let g = golden();
    let ck = Checkpoint::resolve(golden_dir().to_str().unwrap()).unwrap();
    let mut model = Gemma3::load(&ck, Device::Cpu, Kind::Float).unwrap();
    let ids = answer_ids(&g);
    let case = &g["cases"][1];
    let (emb, mask) = inputs(&model, &g, case);
    let before = tch::no_grad(|| model.answer_logits(&emb, &mask, &ids, false));
    let adapters = tch::nn::VarStore::new(Device::Cpu);
    model
        .enable_lora(
            &adapters.root(),
            LoraConfig {
                rank: 4,
                alpha: 8.0,
                dropout: 0.0,
                targets: Targets::QV,
            },
        )
        .unwrap();
    model.freeze_base();
    let names: Vec<String> = adapters.variables().into_keys().collect();
    assert_eq!(names.len(), 6 * 2 * 2);
    assert!(names.contains(&"model.layers.0.self_attn.q_proj.lora_A".to_string()));
    assert!(names.contains(&"model.layers.5.self_attn.v_proj.lora_B".to_string()));
    let after = tch::no_grad(|| model.answer_logits(&emb, &mask, &ids, false));
    assert!((before - &after).abs().max().double_value(&[]) < 1e-6);
    // One backward pass: gradients reach LoRA B (A's gradient is 0 while B is 0), not the base.
    let (emb, mask) = inputs(&model, &g, case);
    let loss = model
        .answer_logits(&emb, &mask, &ids, true)
        .sum(Kind::Float);
    loss.backward();
    let b_grad = adapters.variables()["model.layers.0.self_attn.q_proj.lora_B"].grad();
    assert!(b_grad.defined() && b_grad.abs().sum(Kind::Float).double_value(&[]) > 0.0);
    for (name, v) in model.var_store().variables() {
        assert!(
            !v.requires_grad(),
            "{name} still trainable after freeze_base"
        );
    }
    // A non-zero B changes the output.
    tch::no_grad(|| {
        let mut b = adapters.variables()["model.layers.2.self_attn.v_proj.lora_B"].shallow_clone();
        let _ = b.fill_(0.05);
    });
    let changed = tch::no_grad(|| model.answer_logits(&emb, &mask, &ids, false));
    assert!((changed - after).abs().max().double_value(&[]) > 1e-4);
}

#[test]
fn config_variants_parse_alike() {
    // Legacy keys (rope_theta / rope_local_base_freq / sliding_window_pattern) read the same
    // as transformers 5's rope_parameters / layer_types.
    let path = golden_dir().join("config.json");
    let modern: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut legacy = modern.clone();
    let obj = legacy.as_object_mut().unwrap();
    obj.remove("rope_parameters");
    obj.remove("layer_types");
    obj.insert("rope_theta".into(), 1_000_000.0.into());
    obj.insert("rope_local_base_freq".into(), 10_000.0.into());
    obj.insert("sliding_window_pattern".into(), 3.into());
    let a = mosx_models::gemma3::Gemma3TextConfig::from_json(&modern, &path).unwrap();
    let b = mosx_models::gemma3::Gemma3TextConfig::from_json(&legacy, &path).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.layer_sliding, vec![true, true, false, true, true, false]);
    assert_eq!(a.rope_local.theta, 10_000.0);
    assert_eq!(a.rope_global.theta, 1_000_000.0);
    // A bad field is named.
    let mut bad = modern.clone();
    bad["num_key_value_heads"] = 3.into();
    let err = mosx_models::gemma3::Gemma3TextConfig::from_json(&bad, &path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("config.json") && err.contains("num_key_value_heads"),
        "{err}"
    );
}

#[test]
fn multimodal_gemma3_checkpoint_loads_its_text_decoder() {
    // A `gemma3` (multimodal) config nests the text config and prefixes the decoder's
    // tensors with `model.language_model.`; the vision tower's tensors are ignored.
    let g = golden();
    let tmp = tempfile::tempdir().unwrap();
    let text: Value =
        serde_json::from_str(&std::fs::read_to_string(golden_dir().join("config.json")).unwrap())
            .unwrap();
    let config = serde_json::json!({"model_type": "gemma3", "text_config": text, "tie_word_embeddings": true});
    std::fs::write(tmp.path().join("config.json"), config.to_string()).unwrap();
    let mut tensors: Vec<(String, Tensor)> =
        Tensor::read_safetensors(golden_dir().join("model.safetensors"))
            .unwrap()
            .into_iter()
            .map(|(n, t)| (n.replacen("model.", "model.language_model.", 1), t))
            .collect();
    tensors.push((
        "model.vision_tower.dummy.weight".into(),
        Tensor::zeros([2], (Kind::Float, Device::Cpu)),
    ));
    Tensor::write_safetensors(&tensors, tmp.path().join("model.safetensors")).unwrap();
    let ck = Checkpoint::resolve(tmp.path().to_str().unwrap()).unwrap();
    let model = load_backbone(&ck, Device::Cpu, Kind::Float).unwrap();
    assert!(model
        .var_store()
        .variables()
        .contains_key("model.language_model.norm.weight"));
    let (dl, dp) = max_diffs(model.as_ref(), &g, &g["cases"]);
    assert!(dl < 1e-4 && dp < 1e-4, "{dl} {dp}");
}
