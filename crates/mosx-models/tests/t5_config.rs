//! T5 config parsing and relative-position buckets against hand-computed values.

use std::path::Path;

use mosx_models::t5::{relative_position_bucket, Activation, T5Config};
use mosx_models::{CheckpointError, ModelError};
use serde_json::json;
use tch::Tensor;

fn buckets(rel: &[i64], bidirectional: bool) -> Vec<i64> {
    let t = relative_position_bucket(&Tensor::from_slice(rel), bidirectional, 8, 16);
    Vec::<i64>::try_from(t).unwrap()
}

#[test]
fn bidirectional_buckets_by_hand() {
    // 8 buckets → 4 per direction, 2 exact; beyond: 2 + floor(ln(d/2) / ln(16/2) * 2), ≤ 3.
    // d=5: ln 2.5 / ln 8 * 2 = 0.88 → 2; d=6: ln 3 / ln 8 * 2 = 1.06 → 3; d ≥ 16 → 3.
    let rel = [0, -1, 1, -2, -5, -6, -15, -16, -100, 2, 5, 6, 100];
    assert_eq!(buckets(&rel, true), [0, 1, 5, 2, 2, 3, 3, 3, 3, 6, 6, 7, 7]);
}

#[test]
fn causal_buckets_by_hand() {
    // Future positions (rel > 0) fall in bucket 0; 4 exact; beyond: 4 + floor(ln(d/4)/ln 4 * 4), ≤ 7.
    // d=5: 0.64 → 4; d=6: 1.17 → 5; d=8: 2 → 6; d=11: 2.92 → 6; d=12: 3.17 → 7; d=16: 8 → 7.
    let rel = [3, 0, -1, -3, -4, -5, -6, -8, -11, -12, -16, -1000];
    assert_eq!(buckets(&rel, false), [0, 0, 1, 3, 4, 4, 5, 6, 6, 7, 7, 7]);
}

#[test]
fn flan_style_config() {
    let v = json!({
        "model_type": "t5", "d_model": 768, "d_kv": 64, "d_ff": 2048, "num_layers": 12,
        "num_heads": 12, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": false,
        "vocab_size": 32128, "eos_token_id": 1, "decoder_start_token_id": 0
    });
    let c = T5Config::from_json(&v, Path::new("config.json")).unwrap();
    assert_eq!(c.num_decoder_layers, 12);
    assert_eq!(c.relative_attention_num_buckets, 32);
    assert_eq!(c.relative_attention_max_distance, 128);
    assert_eq!(c.feed_forward().unwrap(), (Activation::GeluTanh, true));
    assert!(!c.scales_decoder_output());
    assert_eq!(c.inner_dim(), 768);
}

#[test]
fn transformers5_scale_flag_overrides_tie_flag() {
    // transformers 5 writes tie_word_embeddings: true for every T5 and records the scaling apart.
    let v =
        json!({"model_type": "t5", "tie_word_embeddings": true, "scale_decoder_outputs": false});
    assert!(!T5Config::from_json(&v, Path::new("c.json"))
        .unwrap()
        .scales_decoder_output());
    let v = json!({"model_type": "t5"});
    let c = T5Config::from_json(&v, Path::new("c.json")).unwrap();
    assert!(c.scales_decoder_output());
    assert_eq!(c.feed_forward().unwrap(), (Activation::Relu, false));
    let v = json!({"feed_forward_proj": "gated-silu", "eos_token_id": [1, 2]});
    let c = T5Config::from_json(&v, Path::new("c.json")).unwrap();
    assert_eq!(c.feed_forward().unwrap(), (Activation::Silu, true));
    assert_eq!(c.eos_token_id, [1, 2]);
}

#[test]
fn bad_fields_are_named() {
    let field_of = |v: serde_json::Value| match T5Config::from_json(&v, Path::new("x/config.json"))
    {
        Err(ModelError::Checkpoint(CheckpointError::Config { field, path, .. })) => {
            assert_eq!(path, Path::new("x/config.json"));
            field
        }
        other => panic!("expected a config error, got {other:?}"),
    };
    assert_eq!(field_of(json!({"d_model": "big"})), "d_model");
    assert_eq!(field_of(json!({"num_heads": 0})), "num_heads");
    assert_eq!(
        field_of(json!({"feed_forward_proj": "gated-gelu-x"})),
        "feed_forward_proj"
    );
    assert_eq!(
        field_of(json!({"feed_forward_proj": "tanh"})),
        "feed_forward_proj"
    );
    assert_eq!(field_of(json!({"model_type": "gemma3"})), "model_type");
    assert_eq!(field_of(json!({"dropout_rate": 1.5})), "dropout_rate");
    assert_eq!(
        field_of(json!({"vocab_size": 10, "decoder_start_token_id": 10})),
        "decoder_start_token_id"
    );
}
