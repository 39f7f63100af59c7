//! Text tokenizer over a Hugging Face `tokenizer.json` (the `tokenizers` crate).
//!
//! Invariants:
//! * Ids are exactly those of the `tokenizers` library for the same file, hence those of
//!   transformers' fast tokenizer (special tokens such as Gemma's BOS are added by the
//!   file's post-processor when `add_special_tokens` is true).
//! * Batches are right-padded with the pad id: the tokenizer's padding id when the file
//!   sets one, else the id of `<pad>`, else 0; [`TextTokenizer::with_pad_id`] overrides it
//!   (e.g. with `config.json`'s `pad_token_id`).
//! * Answer ids ([`TextTokenizer::answer_ids`]): for an answer word `w` ("Yes"), the id
//!   is the first token of `" " + w` encoded without special tokens (a word that already
//!   starts with whitespace is used as is). The answer follows the prompt's last word, so
//!   it is the space-prefixed form a model generates there (Gemma: `" Yes"` = 8438,
//!   `" No"` = 2301; SentencePiece models such as T5 give `"▁Yes"` either way).

use std::path::{Path, PathBuf};

use tch::Tensor;
use tokenizers::Tokenizer;

use crate::backbone::TokenBatch;
use crate::error::{CheckpointError, ModelError};

/// A loaded `tokenizer.json`.
pub struct TextTokenizer {
    inner: Tokenizer,
    path: PathBuf,
    pad_id: i64,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("path", &self.path)
            .field("pad_id", &self.pad_id)
            .finish()
    }
}

impl TextTokenizer {
    /// Loads `path` (a `tokenizer.json`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<TextTokenizer, ModelError> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(CheckpointError::File {
                path: path.to_path_buf(),
                message: "tokenizer file not found".into(),
            }
            .into());
        }
        let inner = Tokenizer::from_file(path).map_err(|e| CheckpointError::File {
            path: path.to_path_buf(),
            message: format!("cannot load tokenizer: {e}"),
        })?;
        let pad_id = inner
            .get_padding()
            .map(|p| p.pad_id as i64)
            .or_else(|| inner.token_to_id("<pad>").map(i64::from))
            .unwrap_or(0);
        Ok(TextTokenizer {
            inner,
            path: path.to_path_buf(),
            pad_id,
        })
    }

    /// Replaces the pad id (e.g. by `config.json`'s `pad_token_id`).
    pub fn with_pad_id(mut self, pad_id: i64) -> TextTokenizer {
        self.pad_id = pad_id;
        self
    }

    /// The file this tokenizer was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Id used to right-pad batches.
    pub fn pad_id(&self) -> i64 {
        self.pad_id
    }

    /// Token ids of `text`.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<i64>, ModelError> {
        let enc =
            self.inner
                .encode(text, add_special_tokens)
                .map_err(|e| CheckpointError::File {
                    path: self.path.clone(),
                    message: format!("cannot encode {text:?}: {e}"),
                })?;
        Ok(enc.get_ids().iter().map(|&i| i64::from(i)).collect())
    }

    /// Encodes every text (with special tokens) into one right-padded batch.
    pub fn encode_batch(&self, texts: &[impl AsRef<str>]) -> Result<TokenBatch, ModelError> {
        let ids = texts
            .iter()
            .map(|t| self.encode(t.as_ref(), true))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(pad_batch(&ids, self.pad_id))
    }

    /// The id of one vocabulary token (`"<pad>"`, `"▁Yes"`), if it exists.
    pub fn token_id(&self, token: &str) -> Option<i64> {
        self.inner.token_to_id(token).map(i64::from)
    }

    /// The string of one id, if it exists.
    pub fn id_token(&self, id: i64) -> Option<String> {
        u32::try_from(id)
            .ok()
            .and_then(|i| self.inner.id_to_token(i))
    }

    /// `[id(yes), id(no)]` by the rule in the module note.
    pub fn answer_ids(&self, yes: &str, no: &str) -> Result<[i64; 2], ModelError> {
        Ok([self.answer_id(yes)?, self.answer_id(no)?])
    }

    /// `[id(yes), id(no)]` of the words as written (the first token of `yes` encoded without
    /// special tokens): the answer that opens an assistant turn after a chat template.
    pub fn bare_answer_ids(&self, yes: &str, no: &str) -> Result<[i64; 2], ModelError> {
        Ok([self.first_token(yes)?, self.first_token(no)?])
    }

    fn answer_id(&self, word: &str) -> Result<i64, ModelError> {
        let text = if word.starts_with(char::is_whitespace) {
            word.to_string()
        } else {
            format!(" {word}")
        };
        self.first_token(&text)
    }

    fn first_token(&self, word: &str) -> Result<i64, ModelError> {
        let ids = self.encode(word, false)?;
        ids.first().copied().ok_or_else(|| {
            CheckpointError::File {
                path: self.path.clone(),
                message: format!("answer word {word:?} encodes to no token"),
            }
            .into()
        })
    }
}

/// Right-pads `rows` with `pad_id` into a `[B, T]` batch (`T` = longest row, at least 1).
pub fn pad_batch(rows: &[Vec<i64>], pad_id: i64) -> TokenBatch {
    let t = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let b = rows.len();
    let mut ids = vec![pad_id; b * t];
    let mut mask = vec![0i64; b * t];
    for (r, row) in rows.iter().enumerate() {
        ids[r * t..r * t + row.len()].copy_from_slice(row);
        mask[r * t..r * t + row.len()]
            .iter_mut()
            .for_each(|m| *m = 1);
    }
    let shape = [b as i64, t as i64];
    TokenBatch {
        input_ids: Tensor::from_slice(&ids).reshape(shape),
        attention_mask: Tensor::from_slice(&mask).reshape(shape),
    }
}
