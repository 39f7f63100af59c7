//! `ifairlrs`'s config: L virtual tokens (item-side fairness: prompt tuning with per-sample
//! weights on `L_rec`). The method and its weights are mosx-methods' `methods::ifairlrs`.

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
}
const FIELDS: &[&str] = &["tokens"];

pub const ENTRY: Entry = Entry {
    name: "ifairlrs",
    about: "prompt tuning with item-group reweighting of each sample's loss",
    fields: FIELDS,
    normalize,
    default_lr: 3e-2,
    default_objective: crate::objective::Objective::Rec,
    modifies_backbone: false,
};

fn normalize(m: &Map<String, Value>) -> Result<Value, MethodError> {
    let (c, v) = parse_config::<Config>("ifairlrs", FIELDS, m)?;
    super::prompt_tuning::check_tokens("ifairlrs", c.tokens)?;
    Ok(v)
}
