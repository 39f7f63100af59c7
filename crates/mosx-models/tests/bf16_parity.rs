//! Mixed precision on the tiny Gemma-3 of the goldens (6 layers, d 64, sliding and full
//! attention, right-padded batches with and without a soft prompt): bf16 against f32 on the
//! same weights, with bounds derived from the rounding, not tuned to pass.
//!
//! The f32 reference runs the bf16 model's own weights (the f32 checkpoint rounded to bf16,
//! then widened), so the only difference is the rounding of activations. Derivation:
//! * bf16 keeps 8 significant bits: rounding to nearest changes a value by a relative
//!   `u = 2^-8` at most.
//! * The bf16 path rounds a layer's activations at `R = 20` sites (input norm; q, k, v;
//!   q-norm, k-norm; the two RoPE products and their sum; attention output; o_proj; post-
//!   attention norm; residual; pre-feed-forward norm; gate, GELU, up, product; down; post-
//!   feed-forward norm; residual — the residual sum counted once), plus 2 before the first
//!   layer (the embedding scale and the soft prompt's cast). To first order, with each
//!   site's perturbation passed on with gain at most 1 (the residual stream carries it,
//!   RMSNorm removes scale), the final state's relative error is at most
//!   `n u` with `n = R L + 2` sites, so `|Δz| ≤ n u ‖h‖ ‖w_a‖` for an answer logit
//!   `z = h · w_a` (the head itself is f32: `h` is the f32 final-normed state, `w_a` the
//!   answer row).
//! * p(Yes) = σ(z_yes − z_no) is 1/4-Lipschitz, so `|Δp| ≤ (|Δz_yes| + |Δz_no|) / 4`; both
//!   are checked against the measured logit differences (exact consequences) and the
//!   first-order bound.

use std::path::{Path, PathBuf};

use mosx_models::checkpoint::Checkpoint;
use mosx_models::{load_backbone, Backbone};
use serde_json::Value;
use tch::{Device, Kind, Tensor};

/// bf16's unit roundoff (8 significant bits, round to nearest).
const U: f64 = 1.0 / 256.0;
/// Rounding sites per decoder layer on the bf16 path (see the module note).
const SITES_PER_LAYER: f64 = 20.0;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/gemma3")
}

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string(golden_dir().join("golden.json")).unwrap())
        .unwrap()
}

fn tensor_i64(v: &Value) -> Tensor {
    let rows: Vec<Vec<i64>> = serde_json::from_value(v.clone()).unwrap();
    let (b, t) = (rows.len() as i64, rows[0].len() as i64);
    Tensor::from_slice(&rows.concat()).reshape([b, t])
}

fn tensor_f32(v: &Value) -> Tensor {
    let rows: Vec<Vec<f32>> = serde_json::from_value(v.clone()).unwrap();
    let (b, t) = (rows.len() as i64, rows[0].len() as i64);
    Tensor::from_slice(&rows.concat()).reshape([b, t])
}

fn load(kind: Kind) -> Box<dyn Backbone> {
    let ck = Checkpoint::resolve(golden_dir().to_str().unwrap()).unwrap();
    load_backbone(&ck, Device::Cpu, kind).unwrap()
}

/// The f32 model with every weight rounded to bf16 (what the bf16 model holds).
fn f32_on_bf16_weights() -> Box<dyn Backbone> {
    let mut m = load(Kind::Float);
    let _g = tch::no_grad_guard();
    for (_, mut v) in m.var_store_mut().variables() {
        let r = v.to_kind(Kind::BFloat16).to_kind(Kind::Float);
        v.copy_(&r);
    }
    m
}

/// Embeddings (soft prompt prepended, cast to the model's kind, when the case has one) and mask.
fn inputs(model: &dyn Backbone, g: &Value, case: &Value) -> (Tensor, Tensor) {
    let ids = tensor_i64(&case["input_ids"]);
    let mask = tensor_i64(&case["attention_mask"]);
    let emb = model.embed(&ids);
    if !case["soft_prompt"].as_bool().unwrap() {
        return (emb, mask);
    }
    let soft = tensor_f32(&g["soft_prompt"]).to_kind(model.kind());
    let (b, l) = (ids.size()[0], soft.size()[0]);
    let soft = soft.unsqueeze(0).expand([b, l, -1], false);
    let ones = Tensor::ones([b, l], (Kind::Int64, Device::Cpu));
    (
        Tensor::cat(&[&soft, &emb], 1),
        Tensor::cat(&[&ones, &mask], 1),
    )
}

/// Per case: (max |Δz|, the first-order bound, max |Δp(Yes)|, max (|Δz_yes| + |Δz_no|) / 4).
fn compare(g: &Value) -> Vec<(f64, f64, f64, f64)> {
    let (r32, r16) = (f32_on_bf16_weights(), load(Kind::BFloat16));
    let ids: Vec<i64> = serde_json::from_value(g["answer_ids"].clone()).unwrap();
    let ids = &ids[..2];
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(golden_dir().join("config.json")).unwrap())
            .unwrap();
    let layers = config["num_hidden_layers"].as_f64().unwrap();
    let n_sites = SITES_PER_LAYER * layers + 2.0;
    let w = r32
        .var_store()
        .variables()
        .into_iter()
        .find(|(n, _)| n.ends_with("embed_tokens.weight"))
        .unwrap()
        .1
        .index_select(0, &Tensor::from_slice(ids));
    let w_norm = w.norm_scalaropt_dim(2, [1], false).max().double_value(&[]);
    let _ng = tch::no_grad_guard();
    let mut out = Vec::new();
    for case in g["cases"].as_array().unwrap() {
        let (e32, m32) = inputs(r32.as_ref(), g, case);
        let (e16, m16) = inputs(r16.as_ref(), g, case);
        let st = r32.answer_state(&e32, &m32, false, false);
        let h_norm = st
            .hidden
            .norm_scalaropt_dim(2, [1], false)
            .max()
            .double_value(&[]);
        let z32 = r32.head_logits(&st.hidden, Some(ids));
        let z16 = r16.answer_logits(&e16, &m16, ids, false);
        assert_eq!(z16.kind(), Kind::Float, "answer logits are f32 in bf16 too");
        let dz = (&z16 - &z32).abs();
        let p = |z: &Tensor| z.softmax(-1, Kind::Double).select(1, 0);
        let dp = (p(&z16) - p(&z32)).abs().max().double_value(&[]);
        let lip = (dz.sum_dim_intlist(1, false, Kind::Double) / 4.0)
            .max()
            .double_value(&[]);
        out.push((
            dz.max().double_value(&[]),
            n_sites * U * h_norm * w_norm,
            dp,
            lip,
        ));
    }
    out
}

#[test]
fn bf16_answer_logits_stay_within_the_first_order_rounding_bound() {
    let g = golden();
    for (i, (dz, bound, _, _)) in compare(&g).into_iter().enumerate() {
        println!(
            "case {i}: max |Δz| {dz:.3e}, bound {bound:.3e} ({:.1}% of it)",
            100.0 * dz / bound
        );
        assert!(
            dz > 0.0,
            "case {i}: bf16 changed nothing: is it running in f32?"
        );
        assert!(
            dz <= bound,
            "case {i}: |Δz| {dz} above the rounding bound {bound}"
        );
    }
}

#[test]
fn bf16_p_yes_moves_at_most_a_quarter_of_the_logit_change() {
    let g = golden();
    for (i, (dz, bound, dp, lip)) in compare(&g).into_iter().enumerate() {
        println!(
            "case {i}: max |Δp(Yes)| {dp:.3e} <= {lip:.3e} <= {:.3e}",
            bound / 2.0
        );
        assert!(
            dp <= lip + 1e-12,
            "case {i}: |Δp| {dp} above (|Δz_yes| + |Δz_no|) / 4 = {lip}"
        );
        assert!(lip <= dz / 2.0 + 1e-12 && dp <= bound / 2.0, "case {i}");
    }
}

#[test]
fn bf16_keeps_the_answer_state_and_pooled_state_in_f32() {
    let g = golden();
    let m = load(Kind::BFloat16);
    let case = &g["cases"][0];
    let (e, mask) = inputs(m.as_ref(), &g, case);
    let _ng = tch::no_grad_guard();
    let st = m.answer_state(&e, &mask, false, true);
    assert_eq!(st.hidden.kind(), Kind::Float);
    assert_eq!(st.pooled.unwrap().kind(), Kind::Float);
    assert_eq!(m.head_logits(&st.hidden, None).kind(), Kind::Float);
}
