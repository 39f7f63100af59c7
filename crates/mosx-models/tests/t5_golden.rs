//! T5 against transformers 5.24 goldens (tools/golden_t5.py): first-decoder-step answer
//! logits and the pooled encoder state, for a tied-head v1.0 and an untied v1.1 model,
//! with and without a soft prompt prepended in `inputs_embeds` space.

use std::path::{Path, PathBuf};

use mosx_models::checkpoint::safetensors_has_tensor;
use mosx_models::checkpoint::Checkpoint;
use mosx_models::t5::T5;
use mosx_models::Backbone;
use serde_json::Value;
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-4;

fn golden_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn golden(name: &str) -> Value {
    let text = std::fs::read_to_string(golden_dir(name).join("golden.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn matrix_i64(v: &Value) -> Tensor {
    let rows: Vec<Vec<i64>> = serde_json::from_value(v.clone()).unwrap();
    let (r, c) = (rows.len() as i64, rows[0].len() as i64);
    Tensor::from_slice(&rows.concat()).view([r, c])
}

fn matrix_f32(v: &Value) -> Tensor {
    let rows: Vec<Vec<f32>> = serde_json::from_value(v.clone()).unwrap();
    let (r, c) = (rows.len() as i64, rows[0].len() as i64);
    Tensor::from_slice(&rows.concat()).view([r, c])
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
        .abs()
        .max()
        .double_value(&[])
}

struct Inputs {
    embeds: Tensor,
    mask: Tensor,
    embeds_p: Tensor,
    mask_p: Tensor,
}

fn inputs(model: &T5, g: &Value) -> Inputs {
    let ids = matrix_i64(&g["input_ids"]);
    let mask = matrix_i64(&g["attention_mask"]);
    let prompt = matrix_f32(&g["soft_prompt"]).to_kind(model.kind());
    let b = ids.size()[0];
    let p = prompt.size()[0];
    let embeds = model.embed(&ids);
    let embeds_p = Tensor::cat(
        &[
            prompt.unsqueeze(0).expand([b, -1, -1], false),
            embeds.shallow_clone(),
        ],
        1,
    );
    let mask_p = Tensor::cat(
        &[
            Tensor::ones([b, p], (Kind::Int64, Device::Cpu)),
            mask.shallow_clone(),
        ],
        1,
    );
    Inputs {
        embeds,
        mask,
        embeds_p,
        mask_p,
    }
}

fn answer_ids(g: &Value) -> Vec<i64> {
    serde_json::from_value(g["answer_ids"].clone()).unwrap()
}

/// Returns the max abs diffs (logits, logits with prompt, pooled, pooled with prompt).
fn check(name: &str) -> [f64; 4] {
    let g = golden(name);
    let ck = Checkpoint::from_dir(&golden_dir(name)).unwrap();
    let model = T5::load(&ck, Device::Cpu, Kind::Float).unwrap();
    let x = inputs(&model, &g);
    let ids = answer_ids(&g);
    let diffs = tch::no_grad(|| {
        [
            max_abs_diff(
                &model.answer_logits(&x.embeds, &x.mask, &ids, false),
                &matrix_f32(&g["answer_logits"]),
            ),
            max_abs_diff(
                &model.answer_logits(&x.embeds_p, &x.mask_p, &ids, false),
                &matrix_f32(&g["answer_logits_prompt"]),
            ),
            max_abs_diff(
                &model.pooled(&x.embeds, &x.mask, false),
                &matrix_f32(&g["pooled"]),
            ),
            max_abs_diff(
                &model.pooled(&x.embeds_p, &x.mask_p, false),
                &matrix_f32(&g["pooled_prompt"]),
            ),
        ]
    });
    eprintln!(
        "{name}: max |diff| logits {:.3e}, logits+prompt {:.3e}, pooled {:.3e}, pooled+prompt {:.3e}",
        diffs[0], diffs[1], diffs[2], diffs[3]
    );
    for (what, d) in [
        "answer_logits",
        "answer_logits_prompt",
        "pooled",
        "pooled_prompt",
    ]
    .iter()
    .zip(diffs)
    {
        assert!(d < TOL, "{name}: {what} differs from transformers by {d}");
    }
    diffs
}

#[test]
fn v1_0_tied_relu_matches_transformers() {
    check("t5_v1_0");
}

#[test]
fn v1_1_untied_gated_gelu_matches_transformers() {
    check("t5_v1_1");
}

#[test]
fn full_logits_row_matches_and_answer_logits_are_its_columns() {
    for name in ["t5_v1_0", "t5_v1_1"] {
        let g = golden(name);
        let ck = Checkpoint::from_dir(&golden_dir(name)).unwrap();
        let model = T5::load(&ck, Device::Cpu, Kind::Float).unwrap();
        let x = inputs(&model, &g);
        let start = Tensor::zeros([3, 1], (Kind::Int64, Device::Cpu));
        let full = tch::no_grad(|| model.full_logits(&x.embeds_p, &x.mask_p, &start, false))
            .squeeze_dim(1);
        let d = max_abs_diff(&full, &matrix_f32(&g["full_logits_prompt"]));
        eprintln!("{name}: full first-step logits max |diff| {d:.3e}");
        assert!(d < TOL, "{name}: full logits differ by {d}");
        let ids = answer_ids(&g);
        let gathered = full.index_select(1, &Tensor::from_slice(&ids));
        let answer = tch::no_grad(|| model.answer_logits(&x.embeds_p, &x.mask_p, &ids, false));
        assert!(max_abs_diff(&gathered, &answer) < 1e-5);
    }
}

#[test]
fn head_tying_follows_the_weight_files() {
    let v10 = golden_dir("t5_v1_0");
    let files = vec![v10.join("model.safetensors")];
    // save_pretrained (transformers 5) stores only `shared.weight` for a tied T5.
    assert!(safetensors_has_tensor(&files, "shared.weight").unwrap());
    assert!(!safetensors_has_tensor(&files, "lm_head.weight").unwrap());
    assert!(!safetensors_has_tensor(&files, "encoder.embed_tokens.weight").unwrap());
    assert!(!safetensors_has_tensor(&files, "decoder.embed_tokens.weight").unwrap());
    let m = T5::load(
        &Checkpoint::from_dir(&v10).unwrap(),
        Device::Cpu,
        Kind::Float,
    )
    .unwrap();
    assert!(!m.has_untied_head());
    assert!(m.config().scales_decoder_output());
    assert!(m
        .var_store()
        .variables()
        .keys()
        .all(|k| !k.contains("embed_tokens") && k != "lm_head.weight"));

    let v11 = golden_dir("t5_v1_1");
    let m = T5::load(
        &Checkpoint::from_dir(&v11).unwrap(),
        Device::Cpu,
        Kind::Float,
    )
    .unwrap();
    assert!(m.has_untied_head());
    assert!(!m.config().scales_decoder_output());
    // The cross-attention never owns a relative bias; only the first block of each stack does.
    let names: Vec<String> = m.var_store().variables().into_keys().collect();
    let mut biases: Vec<&String> = names
        .iter()
        .filter(|n| n.contains("relative_attention_bias"))
        .collect();
    biases.sort();
    assert_eq!(
        biases,
        [
            "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
            "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"
        ]
    );
}

#[test]
fn checkpoint_storing_tied_aliases_too_loads_the_same() {
    // Older save_pretrained wrote encoder/decoder.embed_tokens and lm_head as copies of
    // `shared`; they must be ignored (same logits), except that a stored lm_head unties.
    let name = "t5_v1_0";
    let g = golden(name);
    let src = golden_dir(name);
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(src.join("config.json"), dir.path().join("config.json")).unwrap();
    let named = Tensor::read_safetensors(src.join("model.safetensors")).unwrap();
    let shared = named
        .iter()
        .find(|(n, _)| n == "shared.weight")
        .unwrap()
        .1
        .shallow_clone();
    let mut all: Vec<(String, Tensor)> = named;
    for alias in ["encoder.embed_tokens.weight", "decoder.embed_tokens.weight"] {
        all.push((alias.to_string(), shared.copy()));
    }
    Tensor::write_safetensors(&all, dir.path().join("model.safetensors")).unwrap();
    let model = T5::load(
        &Checkpoint::from_dir(dir.path()).unwrap(),
        Device::Cpu,
        Kind::Float,
    )
    .unwrap();
    assert!(!model.has_untied_head());
    let x = inputs(&model, &g);
    let ids = answer_ids(&g);
    let got = tch::no_grad(|| model.answer_logits(&x.embeds_p, &x.mask_p, &ids, false));
    assert!(max_abs_diff(&got, &matrix_f32(&g["answer_logits_prompt"])) < TOL);
}

#[test]
fn bf16_smoke_is_finite_and_close_to_f32() {
    for name in ["t5_v1_0", "t5_v1_1"] {
        let g = golden(name);
        let ck = Checkpoint::from_dir(&golden_dir(name)).unwrap();
        let model = T5::load(&ck, Device::Cpu, Kind::BFloat16).unwrap();
        assert_eq!(model.kind(), Kind::BFloat16);
        assert!(model
            .var_store()
            .variables()
            .values()
            .all(|v| v.kind() == Kind::BFloat16));
        let x = inputs(&model, &g);
        let ids = answer_ids(&g);
        let logits = tch::no_grad(|| model.answer_logits(&x.embeds_p, &x.mask_p, &ids, false));
        // The head's logits are f32 whatever the weights (Backbone::head_logits), as for Gemma-3.
        assert_eq!(logits.kind(), Kind::Float);
        assert_eq!(logits.size(), [3, ids.len() as i64]);
        assert!(bool::try_from(logits.isfinite().all()).unwrap());
        let reference = matrix_f32(&g["answer_logits_prompt"]);
        let scale = reference.abs().max().double_value(&[]);
        let d = max_abs_diff(&logits, &reference);
        eprintln!("{name}: bf16 answer logits max |diff| {d:.3e} (logit scale {scale:.2})");
        assert!(d < 0.05 * scale.max(1.0), "{name}: bf16 off by {d}");
        let pooled = tch::no_grad(|| model.pooled(&x.embeds_p, &x.mask_p, false));
        let d = max_abs_diff(&pooled, &matrix_f32(&g["pooled_prompt"]));
        assert!(d < 0.1, "{name}: bf16 pooled off by {d}");
    }
}

#[test]
fn padding_does_not_change_real_rows() {
    // Extra right padding (any pad ids) leaves the logits and pooled state unchanged.
    let name = "t5_v1_1";
    let g = golden(name);
    let model = T5::load(
        &Checkpoint::from_dir(&golden_dir(name)).unwrap(),
        Device::Cpu,
        Kind::Float,
    )
    .unwrap();
    let ids = matrix_i64(&g["input_ids"]);
    let mask = matrix_i64(&g["attention_mask"]);
    let extra = Tensor::full([3, 5], 7, (Kind::Int64, Device::Cpu));
    let ids2 = Tensor::cat(&[&ids, &extra], 1);
    let mask2 = Tensor::cat(
        &[&mask, &Tensor::zeros([3, 5], (Kind::Int64, Device::Cpu))],
        1,
    );
    let a = answer_ids(&g);
    tch::no_grad(|| {
        let l1 = model.answer_logits(&model.embed(&ids), &mask, &a, false);
        let l2 = model.answer_logits(&model.embed(&ids2), &mask2, &a, false);
        assert!(max_abs_diff(&l1, &l2) < 1e-5);
        let p1 = model.pooled(&model.embed(&ids), &mask, false);
        let p2 = model.pooled(&model.embed(&ids2), &mask2, false);
        assert!(max_abs_diff(&p1, &p2) < 1e-5);
    });
}

#[test]
fn dropout_only_when_training() {
    let name = "t5_v1_0";
    let g = golden(name);
    let model = T5::load(
        &Checkpoint::from_dir(&golden_dir(name)).unwrap(),
        Device::Cpu,
        Kind::Float,
    )
    .unwrap();
    let x = inputs(&model, &g);
    let a = answer_ids(&g);
    tch::no_grad(|| {
        let e1 = model.answer_logits(&x.embeds, &x.mask, &a, false);
        let e2 = model.answer_logits(&x.embeds, &x.mask, &a, false);
        assert_eq!(max_abs_diff(&e1, &e2), 0.0);
        tch::manual_seed(0);
        let t1 = model.answer_logits(&x.embeds, &x.mask, &a, true);
        let t2 = model.answer_logits(&x.embeds, &x.mask, &a, true);
        assert!(
            max_abs_diff(&t1, &t2) > 1e-3,
            "dropout_rate 0.1 must make training passes differ"
        );
    });
}
