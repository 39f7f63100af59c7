//! Helpers shared by the golden tests of the decoder-only backbones: reading a
//! `golden.json` written by tools/golden_*.py, building a case's inputs (soft prompt
//! prepended when the case says so) and the largest differences over its cases.

use std::path::Path;

use mosx_models::backbone::Backbone;
use serde_json::Value;
use tch::{Device, Kind, Tensor};

/// `golden.json` of a golden folder.
pub fn golden_in(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("golden.json")).unwrap()).unwrap()
}

pub fn tensor_2d_i64(v: &Value) -> Tensor {
    let rows: Vec<Vec<i64>> = serde_json::from_value(v.clone()).unwrap();
    let (b, t) = (rows.len() as i64, rows[0].len() as i64);
    Tensor::from_slice(&rows.concat()).reshape([b, t])
}

pub fn tensor_2d_f32(v: &Value) -> Tensor {
    let rows: Vec<Vec<f32>> = serde_json::from_value(v.clone()).unwrap();
    let (b, t) = (rows.len() as i64, rows[0].len() as i64);
    Tensor::from_slice(&rows.concat()).reshape([b, t])
}

/// Inputs of one case: embeds (soft prompt prepended when the case says so) and mask.
pub fn inputs(model: &dyn Backbone, g: &Value, case: &Value) -> (Tensor, Tensor) {
    let ids = tensor_2d_i64(&case["input_ids"]).to_device(model.device());
    let mask = tensor_2d_i64(&case["attention_mask"]).to_device(model.device());
    let emb = model.embed(&ids);
    if case["soft_prompt"].as_bool().unwrap() {
        let soft = tensor_2d_f32(&g["soft_prompt"])
            .to_kind(model.kind())
            .to_device(model.device());
        let b = ids.size()[0];
        let l = soft.size()[0];
        let soft = soft.unsqueeze(0).expand([b, l, -1], false);
        let ones = Tensor::ones([b, l], (Kind::Int64, model.device()));
        (
            Tensor::cat(&[&soft, &emb], 1),
            Tensor::cat(&[&ones, &mask], 1),
        )
    } else {
        (emb, mask)
    }
}

pub fn answer_ids(g: &Value) -> Vec<i64> {
    serde_json::from_value(g["answer_ids"].clone()).unwrap()
}

/// Max |a - b| over all cases, for logits and pooled states.
pub fn max_diffs(model: &dyn Backbone, g: &Value, cases: &Value) -> (f64, f64) {
    let ids = answer_ids(g);
    let (mut dl, mut dp) = (0f64, 0f64);
    let _ng = tch::no_grad_guard();
    for case in cases.as_array().unwrap() {
        let (emb, mask) = inputs(model, g, case);
        let logits = model
            .answer_logits(&emb, &mask, &ids, false)
            .to_device(Device::Cpu);
        let want = tensor_2d_f32(&case["logits"]);
        assert_eq!(logits.size(), want.size());
        dl = dl.max((logits - want).abs().max().double_value(&[]));
        let pooled = model.pooled(&emb, &mask, false).to_device(Device::Cpu);
        let want = tensor_2d_f32(&case["pooled"]);
        assert_eq!(pooled.size(), want.size());
        dp = dp.max((pooled - want).abs().max().double_value(&[]));
    }
    (dl, dp)
}
