//! `p_tuning`'s config: L virtual tokens, the encoder's hidden width and the encoder (a
//! 2-layer MLP by default, `lstm` for the P-tuning paper's LSTM before the MLP head). The
//! method (a prompt encoder over learnable input embeddings) is mosx-methods'
//! `methods::p_tuning`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::prompt_tuning::default_tokens;
use super::{parse_config, Entry};
use crate::method_error::MethodError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoder {
    Mlp,
    Lstm,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_tokens")]
    pub tokens: i64,
    /// Hidden width of the encoder.
    #[serde(default = "default_hidden")]
    pub hidden: i64,
    #[serde(default = "default_encoder")]
    pub encoder: Encoder,
}
fn default_hidden() -> i64 {
    128
}
fn default_encoder() -> Encoder {
    Encoder::Mlp
}
const FIELDS: &[&str] = &["tokens", "hidden", "encoder"];

pub const ENTRY: Entry = Entry {
    name: "p_tuning",
    about: "a prompt encoder (MLP or LSTM) produces the soft prompt; frozen backbone",
    fields: FIELDS,
    normalize,
    default_lr: 1e-3,
    default_objective: crate::objective::Objective::Rec,
    modifies_backbone: false,
};

fn normalize(m: &Map<String, Value>) -> Result<Value, MethodError> {
    let (c, v) = parse_config::<Config>("p_tuning", FIELDS, m)?;
    super::prompt_tuning::check_tokens("p_tuning", c.tokens)?;
    if c.hidden < 1 {
        return Err(MethodError::config(
            "p_tuning",
            "hidden",
            "must be at least 1",
        ));
    }
    Ok(v)
}
