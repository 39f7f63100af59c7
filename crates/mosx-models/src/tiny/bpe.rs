//! The byte-level BPE `tokenizer.json` of the tiny Llama-family checkpoints, trained with
//! the `tokenizers` library's own BPE trainer on the given words.
//!
//! Invariants:
//! * The vocabulary starts with the specials (`<pad>` 0, `</s>` 1, `<bos>` 2, `<unk>` 3),
//!   then the 256 byte symbols of GPT-2's byte-level alphabet, then the learned merges (at
//!   most [`MAX_VOCAB`] tokens in all), so any text encodes without an unknown token.
//! * Pre-tokenizer and decoder are `ByteLevel` without a prefix space (as Llama-3 and Qwen
//!   write them); words are trained both at the start of a text and after a space, so
//!   `" Yes"` is one token when "Yes" is among the words.
//! * `bos`: Llama and Mistral prepend `<bos>` through a `TemplateProcessing`
//!   post-processor; Qwen adds nothing.

use serde_json::{json, Value};
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use super::SPECIALS;
use crate::error::{CheckpointError, ModelError};

/// Upper bound on the vocabulary (specials, bytes and merges).
pub const MAX_VOCAB: usize = 4096;

fn bpe_err(e: impl std::fmt::Display) -> ModelError {
    CheckpointError::File {
        path: "tokenizer.json".into(),
        message: format!("cannot build the byte-level BPE tokenizer: {e}"),
    }
    .into()
}

/// The `tokenizer.json` (see the module note) trained on `words`.
pub fn byte_level_bpe(words: &[&str], bos: bool) -> Result<Value, ModelError> {
    let specials: Vec<AddedToken> = SPECIALS
        .iter()
        .map(|s| AddedToken::from(s.to_string(), true))
        .collect();
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(MAX_VOCAB)
        .min_frequency(0)
        .show_progress(false)
        .special_tokens(specials)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    let mut tok = Tokenizer::new(BPE::default());
    tok.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
    tok.with_decoder(Some(ByteLevel::default().add_prefix_space(false)));
    // Each word alone (its start-of-text form) and after a space (its "Ġ" form).
    let lines: Vec<String> = words.iter().map(|w| format!("{w} {w}")).collect();
    tok.train(&mut trainer, lines.iter()).map_err(bpe_err)?;
    let mut v: Value =
        serde_json::from_str(&tok.to_string(false).map_err(bpe_err)?).map_err(bpe_err)?;
    v["post_processor"] = if bos {
        let t = json!({"SpecialToken": {"id": "<bos>", "type_id": 0}});
        let a = json!({"Sequence": {"id": "A", "type_id": 0}});
        let b = json!({"Sequence": {"id": "B", "type_id": 0}});
        json!({
            "type": "TemplateProcessing", "single": [t, a], "pair": [t, a, b],
            "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}}
        })
    } else {
        Value::Null
    };
    Ok(v)
}
