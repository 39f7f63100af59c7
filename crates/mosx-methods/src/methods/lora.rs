//! `lora`: low-rank adapters on every attention q and v projection (rank 8, alpha 16,
//! dropout 0.05 by default), hooked into the backbone by its own `enable_lora`; the base
//! stays frozen. Trainable per layer: `r (d + q_out) + r (d + v_out)`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
#[cfg(feature = "torch")]
use tch::nn;

#[cfg(feature = "torch")]
use mosx_models::{Backbone, LoraConfig};

#[cfg(feature = "torch")]
use super::typed;
use super::{parse_config, Entry};
use crate::error::MethodError;
#[cfg(feature = "torch")]
use crate::method::{Method, Setup};

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
    #[cfg(feature = "torch")]
    build,
    default_lr: 5e-4,
    default_objective: crate::method::Objective::Rec,
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

#[cfg(feature = "torch")]
pub struct Lora;

#[cfg(feature = "torch")]
fn build(
    cfg: &Value,
    _setup: &Setup,
    backbone: &mut dyn Backbone,
    root: &nn::Path,
) -> Result<Box<dyn Method>, MethodError> {
    let c: Config = typed("lora", cfg)?;
    backbone.freeze_base();
    backbone.enable_lora(
        root,
        LoraConfig {
            rank: c.rank,
            alpha: c.alpha,
            dropout: c.dropout,
        },
    )?;
    Ok(Box::new(Lora))
}

#[cfg(feature = "torch")]
impl Method for Lora {
    fn name(&self) -> &'static str {
        "lora"
    }
}
