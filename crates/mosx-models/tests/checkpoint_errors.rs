//! Checkpoint resolution, weight loading (sharded, other dtypes, HF cache) and bad input:
//! each failure is an error naming the file and, where there is one, the tensor.

use std::path::{Path, PathBuf};

use mosx_models::backbone::Backbone;
use mosx_models::checkpoint::{Checkpoint, LoadWeights};
use mosx_models::tokenizer::TextTokenizer;
use mosx_models::{load_backbone, ModelError};
use tch::{Device, Kind, Tensor};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/gemma3")
}

/// A copy of the tiny golden checkpoint in a temp folder.
fn copy_golden() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(golden_dir().join(f), tmp.path().join(f)).unwrap();
    }
    tmp
}

fn load_err(dir: &Path) -> String {
    match Checkpoint::resolve(dir.to_str().unwrap())
        .map_err(ModelError::from)
        .and_then(|ck| load_backbone(&ck, Device::Cpu, Kind::Float))
    {
        Ok(_) => panic!("loading {} should fail", dir.display()),
        Err(e) => e.to_string(),
    }
}

/// Logits of a fixed batch, to compare loads.
fn probe_logits(model: &dyn Backbone) -> Tensor {
    let ids = Tensor::from_slice(&[2i64, 40, 41, 42, 43, 44, 2, 50, 51, 0, 0, 0]).reshape([2, 6]);
    let mask = Tensor::from_slice(&[1i64, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]).reshape([2, 6]);
    tch::no_grad(|| model.answer_logits(&model.embed(&ids), &mask, &[3, 7, 200], false))
}

fn golden_tensors() -> Vec<(String, Tensor)> {
    Tensor::read_safetensors(golden_dir().join("model.safetensors")).unwrap()
}

#[test]
fn missing_weights_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        golden_dir().join("config.json"),
        tmp.path().join("config.json"),
    )
    .unwrap();
    let err = load_err(tmp.path());
    assert!(err.contains("model.safetensors"), "{err}");
}

#[test]
fn pickles_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        golden_dir().join("config.json"),
        tmp.path().join("config.json"),
    )
    .unwrap();
    std::fs::write(tmp.path().join("pytorch_model.bin"), b"not read").unwrap();
    let err = load_err(tmp.path());
    assert!(
        err.contains("pytorch_model.bin") && err.contains("only safetensors"),
        "{err}"
    );
}

#[test]
fn missing_config_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        golden_dir().join("model.safetensors"),
        tmp.path().join("model.safetensors"),
    )
    .unwrap();
    let err = load_err(tmp.path());
    assert!(err.contains("config.json"), "{err}");
}

#[test]
fn truncated_file_names_file_and_tensor() {
    let tmp = copy_golden();
    let path = tmp.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_err(tmp.path());
    assert!(
        err.contains("model.safetensors")
            && err.contains("truncated")
            && err.contains("tensor `model."),
        "{err}"
    );
    // Cut inside the header: the file is named.
    std::fs::write(&path, &bytes[..20]).unwrap();
    let err = load_err(tmp.path());
    assert!(
        err.contains("model.safetensors") && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn shape_mismatch_names_file_and_tensor() {
    let tmp = copy_golden();
    let cfg_path = tmp.path().join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg["intermediate_size"] = 96.into();
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let err = load_err(tmp.path());
    assert!(
        err.contains("model.safetensors") && err.contains("shape mismatch") && err.contains("mlp."),
        "{err}"
    );
    assert!(
        err.contains("[64, 128]") || err.contains("[128, 64]"),
        "{err}"
    );
}

#[test]
fn missing_tensor_is_named() {
    let tmp = copy_golden();
    let kept: Vec<(String, Tensor)> = golden_tensors()
        .into_iter()
        .filter(|(n, _)| n != "model.norm.weight")
        .collect();
    Tensor::write_safetensors(&kept, tmp.path().join("model.safetensors")).unwrap();
    let err = load_err(tmp.path());
    assert!(
        err.contains("model.safetensors")
            && err.contains("`model.norm.weight`")
            && err.contains("missing"),
        "{err}"
    );
}

/// A fine-tune that renamed its `model_type` (or dropped it) but kept a known
/// `architectures` class loads as that class's type, with the same logits.
#[test]
fn a_known_architectures_class_stands_in_for_an_unknown_or_missing_model_type() {
    let want = {
        let tmp = copy_golden();
        let ck = Checkpoint::resolve(tmp.path().to_str().unwrap()).unwrap();
        probe_logits(
            load_backbone(&ck, Device::Cpu, Kind::Float)
                .unwrap()
                .as_ref(),
        )
    };
    for model_type in [Some("my_gemma_finetune"), None] {
        let tmp = copy_golden();
        let cfg_path = tmp.path().join("config.json");
        let mut cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
        match model_type {
            Some(t) => cfg["model_type"] = t.into(),
            None => {
                cfg.as_object_mut().unwrap().remove("model_type");
            }
        }
        cfg["architectures"] = serde_json::json!(["Gemma3ForCausalLM"]);
        std::fs::write(&cfg_path, cfg.to_string()).unwrap();
        let ck = Checkpoint::resolve(tmp.path().to_str().unwrap()).unwrap();
        assert_eq!(ck.model_type().unwrap(), "gemma3_text", "{model_type:?}");
        let got = probe_logits(
            load_backbone(&ck, Device::Cpu, Kind::Float)
                .unwrap()
                .as_ref(),
        );
        assert!(got.equal(&want), "{model_type:?}");
    }
}

#[test]
fn unknown_model_type_is_named() {
    let tmp = copy_golden();
    let cfg_path = tmp.path().join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg["model_type"] = "gpt_neox".into();
    // A known `architectures` class would name the type instead (the fallback below).
    cfg["architectures"] = serde_json::json!(["GPTNeoXForCausalLM"]);
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let err = load_err(tmp.path());
    assert!(
        err.contains("config.json") && err.contains("model_type") && err.contains("gpt_neox"),
        "{err}"
    );
    // The message lists what is supported, the Llama family included.
    for supported in ["t5", "gemma3_text", "llama", "qwen2", "qwen3", "mistral"] {
        assert!(err.contains(supported), "{supported} missing from: {err}");
    }
}

#[test]
fn missing_tokenizer_is_named() {
    let ck = Checkpoint::resolve(golden_dir().to_str().unwrap()).unwrap();
    let err = TextTokenizer::from_file(&ck.tokenizer_file)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tokenizer.json") && err.contains("not found"),
        "{err}"
    );
}

/// Writes the golden checkpoint into `dir` as two shards (alternate tensors) plus an index.
fn write_two_shards(dir: &Path) {
    std::fs::copy(golden_dir().join("config.json"), dir.join("config.json")).unwrap();
    let all = golden_tensors();
    let (a, b): (Vec<_>, Vec<_>) = all.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let a: Vec<(String, Tensor)> = a.into_iter().map(|(_, x)| x).collect();
    let b: Vec<(String, Tensor)> = b.into_iter().map(|(_, x)| x).collect();
    Tensor::write_safetensors(&a, dir.join("model-00001-of-00002.safetensors")).unwrap();
    Tensor::write_safetensors(&b, dir.join("model-00002-of-00002.safetensors")).unwrap();
    let mut map = serde_json::Map::new();
    for (n, _) in &a {
        map.insert(n.clone(), "model-00001-of-00002.safetensors".into());
    }
    for (n, _) in &b {
        map.insert(n.clone(), "model-00002-of-00002.safetensors".into());
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
}

/// Writes the golden checkpoint into `dir` with its weights stored in `kind`.
fn write_in_kind(dir: &Path, kind: Kind) {
    std::fs::copy(golden_dir().join("config.json"), dir.join("config.json")).unwrap();
    let conv: Vec<(String, Tensor)> = golden_tensors()
        .into_iter()
        .map(|(n, t)| (n, t.to_kind(kind)))
        .collect();
    Tensor::write_safetensors(&conv, dir.join("model.safetensors")).unwrap();
}

#[test]
fn sharded_and_bf16_checkpoints_load() {
    let reference = {
        let ck = Checkpoint::resolve(golden_dir().to_str().unwrap()).unwrap();
        probe_logits(
            load_backbone(&ck, Device::Cpu, Kind::Float)
                .unwrap()
                .as_ref(),
        )
    };
    // Two shards plus an index.
    let tmp = tempfile::tempdir().unwrap();
    write_two_shards(tmp.path());
    let ck = Checkpoint::resolve(tmp.path().to_str().unwrap()).unwrap();
    assert_eq!(ck.weight_files.len(), 2);
    let sharded = probe_logits(
        load_backbone(&ck, Device::Cpu, Kind::Float)
            .unwrap()
            .as_ref(),
    );
    assert!((&sharded - &reference).abs().max().double_value(&[]) == 0.0);

    // bf16 and f16 in the file, loaded into f32 variables.
    for kind in [Kind::BFloat16, Kind::Half] {
        let tmp = tempfile::tempdir().unwrap();
        write_in_kind(tmp.path(), kind);
        let ck = Checkpoint::resolve(tmp.path().to_str().unwrap()).unwrap();
        let model = load_backbone(&ck, Device::Cpu, Kind::Float).unwrap();
        // The loaded variables are exactly the rounded weights, widened.
        let emb = model.var_store().variables()["model.embed_tokens.weight"].shallow_clone();
        let want = golden_tensors()
            .into_iter()
            .find(|(n, _)| n == "model.embed_tokens.weight")
            .unwrap()
            .1;
        assert_eq!(emb.kind(), Kind::Float);
        assert!(
            (emb - want.to_kind(kind).to_kind(Kind::Float))
                .abs()
                .max()
                .double_value(&[])
                == 0.0
        );
        let d = (probe_logits(model.as_ref()) - &reference)
            .abs()
            .max()
            .double_value(&[]);
        assert!(d > 0.0 && d < 0.2, "{kind:?} weights moved logits by {d}");
    }
}

#[test]
fn hf_cache_layout_and_content_hash() {
    let home = tempfile::tempdir().unwrap();
    let repo = home.path().join("hub").join("models--acme--tiny-gemma");
    let snap = repo.join("snapshots").join("0123abcd");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs").join("main"), "0123abcd\n").unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(golden_dir().join(f), snap.join(f)).unwrap();
    }
    // HF_HUB_CACHE wins over HF_HOME; only this test touches either.
    std::env::remove_var("HF_HUB_CACHE");
    std::env::set_var("HF_HOME", home.path());
    let ck = Checkpoint::resolve("acme/tiny-gemma").unwrap();
    assert_eq!(ck.dir, snap);
    let err = Checkpoint::resolve("acme/absent").unwrap_err().to_string();
    assert!(err.contains("models--acme--absent"), "{err}");
    std::env::set_var("HF_HUB_CACHE", home.path().join("hub"));
    std::env::set_var("HF_HOME", "/nonexistent");
    assert_eq!(Checkpoint::resolve("acme/tiny-gemma").unwrap().dir, snap);
    std::env::remove_var("HF_HUB_CACHE");
    std::env::remove_var("HF_HOME");

    let h1 = ck.content_hash().unwrap();
    assert_eq!(
        h1,
        Checkpoint::resolve(golden_dir().to_str().unwrap())
            .unwrap()
            .content_hash()
            .unwrap()
    );
    assert_eq!(h1.len(), 64);
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(snap.join("config.json")).unwrap()).unwrap();
    cfg["use_cache"] = false.into();
    std::fs::write(snap.join("config.json"), cfg.to_string()).unwrap();
    assert_ne!(h1, ck.content_hash().unwrap());
}

#[test]
fn chunked_loading_matches_whole_tensor_loading() {
    let ck = Checkpoint::resolve(golden_dir().to_str().unwrap()).unwrap();
    let reference = load_backbone(&ck, Device::Cpu, Kind::Float).unwrap();
    let want = reference.var_store().variables();
    // bf16 in the file too: conversion happens per chunk.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        golden_dir().join("config.json"),
        tmp.path().join("config.json"),
    )
    .unwrap();
    let conv: Vec<(String, Tensor)> = golden_tensors()
        .into_iter()
        .map(|(n, t)| (n, t.to_kind(Kind::BFloat16)))
        .collect();
    Tensor::write_safetensors(&conv, tmp.path().join("model.safetensors")).unwrap();
    let ck_bf16 = Checkpoint::resolve(tmp.path().to_str().unwrap()).unwrap();
    // 1 byte: one row per read; 1000 bytes: several rows and a short last chunk; huge: one read.
    for (ck, bf16) in [(&ck, false), (&ck_bf16, true)] {
        for chunk in [1usize, 1000, usize::MAX / 2] {
            let mut model = load_backbone(&ck, Device::Cpu, Kind::Float).unwrap();
            tch::no_grad(|| {
                for (_, mut v) in model.var_store().variables() {
                    let _ = v.fill_(0.0);
                }
            });
            ck.load_weights_chunked(model.var_store_mut(), chunk)
                .unwrap();
            let got = model.var_store().variables();
            assert_eq!(got.len(), want.len());
            for (name, w) in &want {
                let w = if bf16 {
                    w.to_kind(Kind::BFloat16).to_kind(Kind::Float)
                } else {
                    w.shallow_clone()
                };
                let d = (&got[name] - w).abs().max().double_value(&[]);
                assert!(
                    d == 0.0,
                    "{name} differs by {d} with chunk {chunk} (bf16 file: {bf16})"
                );
            }
        }
    }
}

#[test]
fn a_missing_backbone_says_how_to_obtain_it() {
    let cache = tempfile::tempdir().unwrap();
    std::env::set_var("HF_HUB_CACHE", cache.path());
    let e = Checkpoint::resolve("google/flan-t5-small")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("huggingface-cli download google/flan-t5-small"),
        "{e}"
    );
    assert!(e.contains("models--google--flan-t5-small"), "{e}");
    let e = Checkpoint::resolve("models/gemma-3-270m-absent/gemma-3-270m")
        .unwrap_err()
        .to_string();
    assert!(e.contains("make model"), "{e}");
}
