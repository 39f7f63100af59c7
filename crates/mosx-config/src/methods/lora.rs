//! `lora`'s config: rank 8, alpha 16 and dropout 0.05 by default; a rank of at least 1,
//! a dropout in [0, 1) (and, as every config, `alpha > 0`: `check_weights`). The method
//! (low-rank adapters on attention q and v, frozen base) is mosx-methods' `methods::lora`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{parse_config, Entry};
use crate::method_error::MethodError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_rank")]
    pub rank: i64,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default = "default_dropout")]
    pub dropout: f64,
}
fn default_rank() -> i64 {
    8
}
fn default_alpha() -> f64 {
    16.0
}
fn default_dropout() -> f64 {
    0.05
}
const FIELDS: &[&str] = &["rank", "alpha", "dropout"];

pub const ENTRY: Entry = Entry {
    name: "lora",
    about: "low-rank adapters on attention q and v; frozen backbone",
    fields: FIELDS,
    normalize,
    default_lr: 5e-4,
    default_objective: crate::objective::Objective::Rec,
    modifies_backbone: true,
};

fn normalize(m: &Map<String, Value>) -> Result<Value, MethodError> {
    let (c, v) = parse_config::<Config>("lora", FIELDS, m)?;
    if c.rank < 1 {
        return Err(MethodError::config("lora", "rank", "must be at least 1"));
    }
    if !(0.0..1.0).contains(&c.dropout) {
        return Err(MethodError::config("lora", "dropout", "must be in [0, 1)"));
    }
    Ok(v)
}
