//! From a rendered task prompt to the backbone's token ids, and the answer ids read after
//! it, under the stage's `prompt_format` (one place for `train`, `evaluate` and `probe`).
//!
//! Invariants (see `mosx_stage::chat`): `plain` encodes the prompt with the tokenizer's
//! special tokens and reads the space-prefixed answer (`" Yes"`); `chat` renders the prompt
//! as one user turn of the checkpoint's chat template, encodes that text without the
//! post-processor (the template wrote its own special tokens) and reads the bare answer
//! (`"Yes"`), the first token of the assistant turn.

use mosx_models::tokenizer::TextTokenizer;
use mosx_stage::chat::{ChatTemplate, PromptFormat};

use crate::runners::RunError;

/// The tokenizer with the stage's prompt format.
pub struct Prompter<'a> {
    tok: &'a TextTokenizer,
    chat: Option<ChatTemplate>,
}

impl<'a> Prompter<'a> {
    /// The prompter of `model`'s tokenizer `tok` under `format` (reads the chat template).
    pub fn new(
        tok: &'a TextTokenizer,
        model: &str,
        format: PromptFormat,
    ) -> Result<Self, RunError> {
        let chat = match format {
            PromptFormat::Plain => None,
            PromptFormat::Chat => Some(ChatTemplate::of_model(model)?),
        };
        Ok(Prompter::with_chat(tok, chat))
    }

    /// The prompter of `tok` with the chat template `chat` (`None`: plain).
    pub fn with_chat(tok: &'a TextTokenizer, chat: Option<ChatTemplate>) -> Self {
        Prompter { tok, chat }
    }

    /// The token ids of the task prompt `text`.
    pub fn ids(&self, text: &str) -> Result<Vec<i64>, RunError> {
        Ok(match &self.chat {
            None => self.tok.encode(text, true)?,
            Some(c) => self.tok.encode(&c.render_user(text)?, false)?,
        })
    }

    /// `[id(Yes), id(No)]` as read after a prompt of this format.
    pub fn answer(&self) -> Result<[i64; 2], RunError> {
        Ok(match &self.chat {
            None => self.tok.answer_ids("Yes", "No")?,
            Some(_) => self.tok.bare_answer_ids("Yes", "No")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::path::Path;

    /// transformers' `apply_chat_template` on the tiny Qwen2 tokenizer and chat template
    /// (`tools/golden_chat.py`): the same text, the same ids, the same bare answer ids.
    #[test]
    fn chat_prompts_equal_transformers_apply_chat_template() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mosx-models/tests/golden/chat");
        let golden: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("golden.json")).unwrap())
                .unwrap();
        let tok = TextTokenizer::from_file(dir.join("tokenizer.json")).unwrap();
        let chat = ChatTemplate::from_dir(&dir).unwrap();
        let cases = golden["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 3);
        for c in cases {
            let prompt = c["prompt"].as_str().unwrap();
            assert_eq!(
                chat.render_user(prompt).unwrap(),
                c["text"].as_str().unwrap()
            );
        }
        let p = Prompter::with_chat(&tok, Some(chat));
        for c in cases {
            let want: Vec<i64> = serde_json::from_value(c["ids"].clone()).unwrap();
            assert_eq!(p.ids(c["prompt"].as_str().unwrap()).unwrap(), want);
        }
        let want: [i64; 2] = serde_json::from_value(golden["bare_answer_ids"].clone()).unwrap();
        assert_eq!(p.answer().unwrap(), want);
        // Plain prompts read the space-prefixed answer, a different token.
        let plain = Prompter::with_chat(&tok, None);
        assert_ne!(plain.answer().unwrap(), want);
    }

    /// The template `mosx tiny-model` writes is the one the golden was computed on.
    #[test]
    fn the_tiny_qwen_template_is_the_goldens() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mosx-models/tests/golden/chat");
        let cfg: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("tokenizer_config.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            cfg["chat_template"].as_str().unwrap(),
            mosx_models::tiny::TINY_CHAT_TEMPLATE
        );
    }
}
