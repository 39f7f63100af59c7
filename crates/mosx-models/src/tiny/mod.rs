//! Tiny random checkpoints with a word-level (Gemma-3, T5) or byte-level BPE (Llama family,
//! [`bpe`]) tokenizer, for tests, CI runs of whole specs
//! and users who want to try a pipeline in seconds: `config.json`, `model.safetensors` and
//! `tokenizer.json`, loadable like any Hugging Face folder.
//!
//! Invariants:
//! * The vocabulary is `<pad>` 0, `</s>` 1, `<bos>` 2, `<unk>` 3, then the given words in
//!   order (deduplicated); the tokenizer splits on whitespace and punctuation
//!   (`\w+|[^\w\s]+`) and adds `<bos>` in front (Gemma-3) or `</s>` at the end (T5), as the
//!   real tokenizers of those families do. The Llama family's byte-level BPE is described
//!   in [`bpe`].
//! * Weights are drawn from N(0, 0.02) (embeddings N(0, 1) for T5, as its initializer
//!   does) with the given seed; Gemma norms are 0 (their scale is `1 + w`), T5 and Llama
//!   norms 1.
//! * The Qwen2 and Qwen3 checkpoints are chat models, as the real ones: their tokenizer adds
//!   `<|im_start|>` and `<|im_end|>` (special, after the trained vocabulary) and their
//!   `tokenizer_config.json` carries [`TINY_CHAT_TEMPLATE`] (`prompt_format: chat`).
//! * The Llama-family configs exercise each family's flags: Llama-3 RoPE scaling and a
//!   tied head (llama), q/k/v biases (qwen2), per-head q/k norms with an explicit
//!   `head_dim` (qwen3), a sliding window and an untied head (mistral).

pub mod bpe;

use std::path::Path;

use serde_json::{json, Value};
use tch::{Device, Kind, Tensor};

use crate::backbone::Backbone;
use crate::error::{CheckpointError, ModelError};
use crate::gemma3::{Gemma3, Gemma3TextConfig};
use crate::llama::{Llama, LlamaConfig};
use crate::t5::{T5Config, T5};

/// The architecture of a tiny checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TinyArch {
    Gemma3,
    T5,
    Llama,
    Qwen2,
    Qwen3,
    Mistral,
}

impl TinyArch {
    /// A Llama-family architecture (byte-level BPE tokenizer, [`Llama`] weights).
    pub fn is_llama_family(self) -> bool {
        !matches!(self, TinyArch::Gemma3 | TinyArch::T5)
    }
}

pub(crate) const SPECIALS: [&str; 4] = ["<pad>", "</s>", "<bos>", "<unk>"];

fn file_err(path: &Path, e: impl std::fmt::Display) -> ModelError {
    CheckpointError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
    .into()
}

/// The config of a tiny model of `arch` with `vocab` tokens.
pub fn tiny_config(arch: TinyArch, vocab: i64) -> Value {
    match arch {
        TinyArch::Gemma3 => json!({
            "architectures": ["Gemma3ForCausalLM"],
            "model_type": "gemma3_text",
            "hidden_size": 32, "intermediate_size": 64, "head_dim": 8,
            "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2,
            "layer_types": ["sliding_attention", "full_attention"],
            "sliding_window": 512, "max_position_embeddings": 2048,
            "query_pre_attn_scalar": 8, "rms_norm_eps": 1e-6,
            "hidden_activation": "gelu_pytorch_tanh",
            "rope_parameters": {
                "full_attention": {"rope_theta": 1000000.0, "rope_type": "default"},
                "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"}
            },
            "final_logit_softcapping": null, "attn_logit_softcapping": null,
            "tie_word_embeddings": true,
            "pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2,
            "vocab_size": vocab, "dtype": "float32"
        }),
        TinyArch::T5 => json!({
            "architectures": ["T5ForConditionalGeneration"],
            "model_type": "t5",
            "d_model": 32, "d_ff": 64, "d_kv": 8, "num_heads": 4,
            "num_layers": 2, "num_decoder_layers": 2,
            "relative_attention_num_buckets": 8, "relative_attention_max_distance": 32,
            "feed_forward_proj": "gated-gelu", "dropout_rate": 0.0,
            "layer_norm_epsilon": 1e-6, "initializer_factor": 1.0,
            "tie_word_embeddings": false, "is_encoder_decoder": true,
            "decoder_start_token_id": 0, "pad_token_id": 0, "eos_token_id": 1,
            "vocab_size": vocab
        }),
        _ => llama_family_config(arch, vocab),
    }
}

/// The config of a tiny Llama-family model (see the module note).
fn llama_family_config(arch: TinyArch, vocab: i64) -> Value {
    let mut c = json!({
        "hidden_size": 32, "intermediate_size": 64,
        "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2,
        "max_position_embeddings": 2048, "rms_norm_eps": 1e-6, "hidden_act": "silu",
        "tie_word_embeddings": true,
        "pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2,
        "vocab_size": vocab, "dtype": "float32"
    });
    let (model_type, architecture, extra) = match arch {
        TinyArch::Llama => (
            "llama",
            "LlamaForCausalLM",
            json!({
                "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                    "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                    "original_max_position_embeddings": 64}
            }),
        ),
        TinyArch::Qwen2 => (
            "qwen2",
            "Qwen2ForCausalLM",
            json!({"rope_theta": 1000000.0}),
        ),
        TinyArch::Qwen3 => (
            "qwen3",
            "Qwen3ForCausalLM",
            json!({
                "head_dim": 16, "rope_theta": 1000000.0, "attention_bias": false
            }),
        ),
        _ => (
            "mistral",
            "MistralForCausalLM",
            json!({
                "rope_theta": 10000.0, "sliding_window": 16, "tie_word_embeddings": false
            }),
        ),
    };
    c["model_type"] = model_type.into();
    c["architectures"] = json!([architecture]);
    for (k, v) in extra.as_object().into_iter().flatten() {
        c[k] = v.clone();
    }
    c
}

/// The word-level `tokenizer.json` for `words` (see the module note).
pub fn tiny_tokenizer(arch: TinyArch, words: &[&str]) -> Value {
    let mut vocab = serde_json::Map::new();
    for (i, s) in SPECIALS.iter().enumerate() {
        vocab.insert((*s).into(), json!(i));
    }
    for w in words {
        if !vocab.contains_key(*w) {
            let id = vocab.len();
            vocab.insert((*w).into(), json!(id));
        }
    }
    let added: Vec<Value> = SPECIALS
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({"id": i, "content": s, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let (special, id) = match arch {
        TinyArch::T5 => ("</s>", 1),
        _ => ("<bos>", 2),
    };
    let tok = json!({"SpecialToken": {"id": special, "type_id": 0}});
    let a = json!({"Sequence": {"id": "A", "type_id": 0}});
    let b = json!({"Sequence": {"id": "B", "type_id": 0}});
    let (single, pair) = match arch {
        TinyArch::T5 => (json!([a, tok]), json!([a, b, tok])),
        _ => (json!([tok, a]), json!([tok, a, b])),
    };
    json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": {
            "type": "TemplateProcessing", "single": single, "pair": pair,
            "special_tokens": {special: {"id": special, "ids": [id], "tokens": [special]}}
        },
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}
    })
}

/// Writes a tiny random checkpoint of `arch` into `dir` whose tokenizer knows `words`.
pub fn write_tiny(dir: &Path, arch: TinyArch, words: &[&str], seed: i64) -> Result<(), ModelError> {
    std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
    let mut tokenizer = if arch.is_llama_family() {
        let bos = matches!(arch, TinyArch::Llama | TinyArch::Mistral);
        bpe::byte_level_bpe(words, bos)?
    } else {
        tiny_tokenizer(arch, words)
    };
    let mut vocab = tokenizer["model"]["vocab"]
        .as_object()
        .map_or(0, |m| m.len()) as i64;
    if chat_tokenizer_config(arch).is_some() {
        vocab = add_special_tokens(&mut tokenizer, vocab, &CHAT_TOKENS);
    }
    let config = tiny_config(arch, vocab);
    let cpath = dir.join("config.json");
    let model: Box<dyn Backbone> = match arch {
        TinyArch::Gemma3 => {
            let cfg = Gemma3TextConfig::from_json(&config, &cpath)?;
            let vs = tch::nn::VarStore::new(Device::Cpu);
            Box::new(Gemma3::new(vs, cfg, vec!["model".into()]))
        }
        TinyArch::T5 => {
            let cfg = T5Config::from_json(&config, &cpath)?;
            Box::new(T5::new(cfg, true, Device::Cpu, Kind::Float)?)
        }
        _ => {
            let cfg = LlamaConfig::from_json(&config, &cpath)?.resolve(&cpath)?;
            Box::new(Llama::new(tch::nn::VarStore::new(Device::Cpu), cfg))
        }
    };
    tch::manual_seed(seed);
    let mut named: Vec<(String, Tensor)> = model.var_store().variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    {
        let _g = tch::no_grad_guard();
        for (name, t) in &mut named {
            let is_norm = name.contains("norm") || name.contains("layer_norm");
            let value = if is_norm {
                match arch {
                    TinyArch::Gemma3 => t.zeros_like(),
                    _ => t.ones_like(),
                }
            } else if arch == TinyArch::T5 && name == "shared.weight" {
                t.randn_like()
            } else {
                t.randn_like() * 0.02
            };
            t.copy_(&value);
        }
    }
    let wpath = dir.join("model.safetensors");
    Tensor::write_safetensors(&named, &wpath).map_err(|e| file_err(&wpath, e))?;
    let write = |name: &str, v: &Value| -> Result<(), ModelError> {
        let p = dir.join(name);
        let text = serde_json::to_string_pretty(v).map_err(|e| file_err(&p, e))?;
        std::fs::write(&p, text).map_err(|e| file_err(&p, e))
    };
    write("config.json", &config)?;
    if let Some(cfg) = chat_tokenizer_config(arch) {
        write("tokenizer_config.json", &cfg)?;
    }
    write("tokenizer.json", &tokenizer)
}

/// The turn markers of the tiny Qwen checkpoints' chat template (ChatML, as Qwen's).
pub const CHAT_TOKENS: [&str; 2] = ["<|im_start|>", "<|im_end|>"];

/// The tiny Qwen checkpoints' chat template: ChatML with a default system turn, written here
/// (not copied from a model card) to exercise what real templates use: a slice of
/// `messages`, Python's `.strip()`, `raise_exception`, whitespace control and the
/// generation prompt.
pub const TINY_CHAT_TEMPLATE: &str = "{%- if messages[0]['role'] == 'system' %}\
{%- set system = messages[0]['content'] %}{%- set turns = messages[1:] %}\
{%- else %}{%- set system = 'You rate movies and books.' %}{%- set turns = messages %}{%- endif %}
{{- '<|im_start|>system\n' + system.strip() + '<|im_end|>\n' }}
{%- for m in turns %}
  {%- if m.role not in ['user', 'assistant'] %}{{ raise_exception('unknown role ' + m.role) }}{% endif %}
  {{- '<|im_start|>' + m.role + '\n' + m.content.strip() + '<|im_end|>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}";

/// Appends `tokens` as special added tokens with ids from `next` on; gives the vocabulary
/// size after them.
fn add_special_tokens(tokenizer: &mut Value, next: i64, tokens: &[&str]) -> i64 {
    let added = tokenizer["added_tokens"].as_array_mut();
    let Some(added) = added else { return next };
    for (i, t) in tokens.iter().enumerate() {
        added.push(
            json!({"id": next + i as i64, "content": t, "single_word": false,
            "lstrip": false, "rstrip": false, "normalized": false, "special": true}),
        );
    }
    next + tokens.len() as i64
}

/// `tokenizer_config.json` with the chat template, for the architectures whose real
/// checkpoints are chat models (Qwen2, Qwen3); `None` for the others.
fn chat_tokenizer_config(arch: TinyArch) -> Option<Value> {
    matches!(arch, TinyArch::Qwen2 | TinyArch::Qwen3).then(|| {
        json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "chat_template": TINY_CHAT_TEMPLATE,
            "bos_token": null, "eos_token": CHAT_TOKENS[1], "pad_token": "<pad>",
            "unk_token": "<unk>", "clean_up_tokenization_spaces": false
        })
    })
}

/// The words of `text` as the tiny tokenizer splits it: runs of word characters and runs
/// of other non-space characters (`\w+|[^\w\s]+`).
pub fn words_of(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_word = false;
    for c in text.chars() {
        if c.is_whitespace() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let w = c.is_alphanumeric() || c == '_';
        if !cur.is_empty() && w != cur_word {
            out.push(std::mem::take(&mut cur));
        }
        cur_word = w;
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}
