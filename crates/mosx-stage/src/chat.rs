//! Chat templates of instruction-tuned backbones (`prompt_format: chat`): the checkpoint's
//! Jinja `chat_template`, rendered with minijinja as transformers'
//! `apply_chat_template(messages, add_generation_prompt=True, tokenize=False)` renders it.
//!
//! Invariants:
//! * The template is the checkpoint's `chat_template.jinja` when the folder has one (as
//!   transformers reads it first), else `tokenizer_config.json`'s `chat_template` (a string,
//!   or a list of `{name, template}` of which the one named `default`); none is an error
//!   naming both places.
//! * The conversation is one user turn holding the task prompt; the template sees
//!   `messages`, `add_generation_prompt = true`, `bos_token` and `eos_token` (from
//!   `tokenizer_config.json`, a string or an added-token map; absent: empty) and
//!   `raise_exception(msg)`, in an environment set as transformers sets its own:
//!   `trim_blocks`, `lstrip_blocks`, loop controls, undefined names lenient (a template
//!   probes `message.tool_calls`), Python's string and dict methods (`.strip()`,
//!   `.startswith()`, `.items()`) through minijinja-contrib's `pycompat`.
//! * `strftime_now` is deliberately not provided: templates that would stamp today's date
//!   into the system turn (Llama 3.x) fall back to their fixed date, so a prompt and its
//!   cached score do not depend on the day the stage ran.
//! * The rendered text already holds the template's special tokens, so the worker encodes
//!   it without the tokenizer's post-processor (as `apply_chat_template(tokenize=True)`
//!   does), and reads the answer as the first token of the assistant turn: the bare word
//!   (`Yes`), not the space-prefixed form a plain prompt continues with.

use std::path::{Path, PathBuf};

use minijinja::{Environment, Error, ErrorKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use mosx_config::Checkpoint;

/// How a task prompt reaches the backbone (the `evaluate` and `train` parameter
/// `prompt_format`): as is (`plain`, the default) or wrapped in the checkpoint's chat
/// template (`chat`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptFormat {
    #[default]
    Plain,
    Chat,
}

/// The parameter's name.
pub const PROMPT_FORMAT: &str = "prompt_format";

/// Removes `prompt_format: plain` from normalised params, so the keys of specs that do not
/// use chat templates are those they had before the option existed.
pub fn drop_plain(params: &mut Value) {
    if let Some(o) = params.as_object_mut() {
        if o.get(PROMPT_FORMAT).and_then(Value::as_str) == Some("plain") {
            o.remove(PROMPT_FORMAT);
        }
    }
}

/// The format normalised params choose (`plain` when absent).
pub fn format_of(params: &Value) -> PromptFormat {
    match params.get(PROMPT_FORMAT).and_then(Value::as_str) {
        Some("chat") => PromptFormat::Chat,
        _ => PromptFormat::Plain,
    }
}

/// transformers' file of the template beside the weights.
pub const CHAT_TEMPLATE_FILE: &str = "chat_template.jinja";
/// The tokenizer config holding `chat_template`, `bos_token` and `eos_token`.
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";

/// Instructions one chat render may run (minijinja's fuel).
const CHAT_FUEL: u64 = 5_000_000;

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(
        "checkpoint {dir} has no chat template (neither {CHAT_TEMPLATE_FILE} nor a \
         `chat_template` in {TOKENIZER_CONFIG_FILE}); use `prompt_format: plain`"
    )]
    Missing { dir: PathBuf },
    #[error("chat template of {dir}: {message}")]
    Render { dir: PathBuf, message: String },
}

/// A checkpoint's chat template with the special tokens it reads.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    /// The file it was read from (a key file of the stages that use it).
    pub file: PathBuf,
    source: String,
    bos_token: String,
    eos_token: String,
    dir: PathBuf,
}

fn read(path: &Path) -> Result<Option<String>, ChatError> {
    if !path.is_file() {
        return Ok(None);
    }
    std::fs::read_to_string(path)
        .map(Some)
        .map_err(|e| ChatError::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// A special token as `tokenizer_config.json` writes it: a string or `{content: ...}`.
fn token(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(m)) => m
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

/// `chat_template` of a tokenizer config: the string, or the `default` of a named list.
fn template_of(config: &Value) -> Option<String> {
    match config.get("chat_template")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(list) => list.iter().find_map(|t| {
            (t.get("name")?.as_str()? == "default")
                .then(|| t.get("template")?.as_str().map(str::to_string))?
        }),
        _ => None,
    }
}

impl ChatTemplate {
    /// The chat template of the checkpoint folder `dir` (see the module note).
    pub fn from_dir(dir: &Path) -> Result<ChatTemplate, ChatError> {
        let cpath = dir.join(TOKENIZER_CONFIG_FILE);
        let config: Value = match read(&cpath)? {
            Some(text) => serde_json::from_str(&text).map_err(|e| ChatError::File {
                path: cpath.clone(),
                message: format!("not JSON: {e}"),
            })?,
            None => Value::Null,
        };
        let jpath = dir.join(CHAT_TEMPLATE_FILE);
        let (file, source) = match read(&jpath)? {
            Some(s) => (jpath, s),
            None => match template_of(&config) {
                Some(s) => (cpath, s),
                None => {
                    return Err(ChatError::Missing {
                        dir: dir.to_path_buf(),
                    })
                }
            },
        };
        Ok(ChatTemplate {
            file,
            source,
            bos_token: token(config.get("bos_token")),
            eos_token: token(config.get("eos_token")),
            dir: dir.to_path_buf(),
        })
    }

    /// The chat template of the checkpoint `model` names (a folder or an HF cache name).
    pub fn of_model(model: &str) -> Result<ChatTemplate, ChatError> {
        let ck = Checkpoint::resolve(model).map_err(|e| ChatError::File {
            path: model.into(),
            message: e.to_string(),
        })?;
        ChatTemplate::from_dir(&ck.dir)
    }

    /// The text of a conversation of one user turn `prompt`, up to the start of the
    /// assistant's turn.
    pub fn render_user(&self, prompt: &str) -> Result<String, ChatError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_fuel(Some(CHAT_FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |msg: String| -> Result<String, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, msg))
        });
        let render_err = |e: Error| ChatError::Render {
            dir: self.dir.clone(),
            message: format!("{e:#}"),
        };
        let t = env.template_from_str(&self.source).map_err(render_err)?;
        t.render(minijinja::context! {
            messages => vec![minijinja::context! { role => "user", content => prompt }],
            add_generation_prompt => true,
            bos_token => &self.bos_token,
            eos_token => &self.eos_token,
        })
        .map_err(render_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (n, text) in files {
            std::fs::write(d.path().join(n), text).unwrap();
        }
        d
    }

    #[test]
    fn a_chatml_template_renders_the_user_turn_and_opens_the_assistant_turn() {
        let t = r#"{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'].strip() + '<|im_end|>\n' }}{% endfor %}
{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"#;
        let cfg = serde_json::json!({"chat_template": t, "eos_token": "<|im_end|>"});
        let d = folder(&[(TOKENIZER_CONFIG_FILE, &cfg.to_string())]);
        let c = ChatTemplate::from_dir(d.path()).unwrap();
        assert_eq!(
            c.render_user("  Is it liked? ").unwrap(),
            "<|im_start|>user\nIs it liked?<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn the_jinja_file_wins_and_a_named_list_gives_its_default() {
        let cfg = serde_json::json!({
            "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D{{ bos_token }}"}],
            "bos_token": {"content": "<s>", "lstrip": false}
        });
        let d = folder(&[(TOKENIZER_CONFIG_FILE, &cfg.to_string())]);
        assert_eq!(
            ChatTemplate::from_dir(d.path())
                .unwrap()
                .render_user("x")
                .unwrap(),
            "D<s>"
        );
        std::fs::write(d.path().join(CHAT_TEMPLATE_FILE), "J").unwrap();
        let c = ChatTemplate::from_dir(d.path()).unwrap();
        assert_eq!(c.render_user("x").unwrap(), "J");
        assert!(c.file.ends_with(CHAT_TEMPLATE_FILE));
    }

    #[test]
    fn raise_exception_and_a_missing_template_are_errors_naming_the_folder() {
        let cfg =
            serde_json::json!({"chat_template": "{{ raise_exception('roles must alternate') }}"});
        let d = folder(&[(TOKENIZER_CONFIG_FILE, &cfg.to_string())]);
        let e = ChatTemplate::from_dir(d.path())
            .unwrap()
            .render_user("x")
            .unwrap_err();
        assert!(e.to_string().contains("roles must alternate"), "{e}");
        let empty = folder(&[]);
        let e = ChatTemplate::from_dir(empty.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no chat template") && e.contains("prompt_format: plain"),
            "{e}"
        );
    }

    #[test]
    fn a_date_stamping_template_falls_back_to_its_fixed_date() {
        let t = "{% if strftime_now is defined %}{{ strftime_now('%d %b %Y') }}{% else %}26 Jul 2024{% endif %}";
        let d = folder(&[(CHAT_TEMPLATE_FILE, t)]);
        let c = ChatTemplate::from_dir(d.path()).unwrap();
        assert_eq!(c.render_user("x").unwrap(), "26 Jul 2024");
    }
}
