//! TextTokenizer on a small hand-written `tokenizer.json` (SentencePiece-style Metaspace,
//! a BOS post-processor), and right-padding of batches.

use mosx_models::tokenizer::{pad_batch, TextTokenizer};

const TOKENIZER: &str = r#"{
  "version": "1.0", "truncation": null, "padding": null,
  "added_tokens": [
    {"id": 0, "content": "<pad>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 1, "content": "<bos>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
  ],
  "normalizer": null,
  "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": true},
  "post_processor": {
    "type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
    "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
    "special_tokens": {"<bos>": {"id": "<bos>", "ids": [1], "tokens": ["<bos>"]}}
  },
  "decoder": null,
  "model": {"type": "WordLevel", "unk_token": "<unk>",
    "vocab": {"<pad>": 0, "<bos>": 1, "\u2581Yes": 2, "\u2581No": 3, "Yes": 4, "\u2581hi": 5, "<unk>": 6, "\u2581Amélie": 7}}
}"#;

fn tokenizer() -> (tempfile::TempDir, TextTokenizer) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tokenizer.json");
    std::fs::write(&path, TOKENIZER).unwrap();
    let tok = TextTokenizer::from_file(&path).unwrap();
    (tmp, tok)
}

#[test]
fn encodes_with_and_without_special_tokens() {
    let (_t, tok) = tokenizer();
    assert_eq!(tok.encode("hi Yes", true).unwrap(), vec![1, 5, 2]);
    assert_eq!(tok.encode("hi Yes", false).unwrap(), vec![5, 2]);
    assert_eq!(tok.encode("Amélie No", false).unwrap(), vec![7, 3]);
    assert_eq!(tok.encode("zzz", false).unwrap(), vec![6]);
    assert_eq!(tok.token_id("\u{2581}Yes"), Some(2));
    assert_eq!(tok.token_id("absent"), None);
    assert_eq!(tok.pad_id(), 0);
}

#[test]
fn answer_ids_take_the_space_prefixed_first_token() {
    let (_t, tok) = tokenizer();
    assert_eq!(tok.answer_ids("Yes", "No").unwrap(), [2, 3]);
    assert_eq!(tok.answer_ids(" Yes", " No").unwrap(), [2, 3]);
}

#[test]
fn batches_are_right_padded() {
    let (_t, tok) = tokenizer();
    let b = tok.encode_batch(&["hi Yes No", "No"]).unwrap();
    assert_eq!(b.input_ids.size(), vec![2, 4]);
    let ids: Vec<i64> = Vec::try_from(b.input_ids.flatten(0, -1)).unwrap();
    let mask: Vec<i64> = Vec::try_from(b.attention_mask.flatten(0, -1)).unwrap();
    assert_eq!(ids, vec![1, 5, 2, 3, 1, 3, 0, 0]);
    assert_eq!(mask, vec![1, 1, 1, 1, 1, 1, 0, 0]);
    let tok = tok.with_pad_id(9);
    let b = pad_batch(&[vec![4], vec![]], tok.pad_id());
    let ids: Vec<i64> = Vec::try_from(b.input_ids.flatten(0, -1)).unwrap();
    assert_eq!(ids, vec![4, 9]);
}

#[test]
fn invalid_tokenizer_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tokenizer.json");
    std::fs::write(&path, "{not json").unwrap();
    let err = TextTokenizer::from_file(&path).unwrap_err().to_string();
    assert!(
        err.contains("tokenizer.json") && err.contains("cannot load tokenizer"),
        "{err}"
    );
}
