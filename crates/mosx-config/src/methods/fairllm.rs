//! `fairllm`'s config: L virtual tokens and `lambda` (the consistency penalty's weight,
//! >= 0). The method (user-side: prompt tuning penalising the divergence of the
//! predictions under every sensitive-attribute prompt) is mosx-methods' `methods::fairllm`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::prompt_tuning::default_tokens;
use super::{parse_config, Entry};
use crate::method_error::MethodError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_tokens")]
    pub tokens: i64,
    /// λ of the consistency penalty.
    #[serde(default = "default_lambda")]
    pub lambda: f64,
}
fn default_lambda() -> f64 {
    1.0
}
const FIELDS: &[&str] = &["tokens", "lambda"];

pub const ENTRY: Entry = Entry {
    name: "fairllm",
    about: "prompt tuning with a penalty on prediction gaps across stated profiles",
    fields: FIELDS,
    normalize,
    default_lr: 3e-2,
    default_objective: crate::objective::Objective::Rec,
    modifies_backbone: false,
};

fn normalize(m: &Map<String, Value>) -> Result<Value, MethodError> {
    let (c, v) = parse_config::<Config>("fairllm", FIELDS, m)?;
    super::prompt_tuning::check_tokens("fairllm", c.tokens)?;
    Ok(v)
}
