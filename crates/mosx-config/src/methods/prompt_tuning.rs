//! `prompt_tuning`'s config: L virtual tokens and how the soft prompt starts ([`Init`]).
//! Its `tokens` default and check are shared by every config with a soft prompt (`mos`,
//! `p_tuning`, `ifairlrs`, `up5`, `fairllm`). The method (Lester et al. 2021) is
//! mosx-methods' `methods::prompt_tuning`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{parse_config, Entry};
use crate::method_error::MethodError;

/// How a soft prompt starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// Embeddings of randomly sampled vocabulary tokens (Lester et al.'s best).
    Vocab,
    /// N(0, σ²) with σ the standard deviation of the backbone's token embeddings.
    Random,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Number of virtual tokens L.
    #[serde(default = "default_tokens")]
    pub tokens: i64,
    #[serde(default = "default_init")]
    pub init: Init,
}
pub(crate) fn default_tokens() -> i64 {
    16
}
fn default_init() -> Init {
    Init::Vocab
}
const FIELDS: &[&str] = &["tokens", "init"];

pub const ENTRY: Entry = Entry {
    name: "prompt_tuning",
    about: "L learnable prompt embeddings; frozen backbone",
    fields: FIELDS,
    normalize,
    default_lr: 3e-2,
    default_objective: crate::objective::Objective::Rec,
    modifies_backbone: false,
};

fn normalize(m: &Map<String, Value>) -> Result<Value, MethodError> {
    let (c, v) = parse_config::<Config>("prompt_tuning", FIELDS, m)?;
    check_tokens("prompt_tuning", c.tokens)?;
    Ok(v)
}

pub(crate) fn check_tokens(method: &str, tokens: i64) -> Result<(), MethodError> {
    if tokens < 1 {
        return Err(MethodError::config(
            method,
            "tokens",
            format!("must be at least 1, found {tokens}"),
        ));
    }
    Ok(())
}
