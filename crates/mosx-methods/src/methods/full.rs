//! `full`: every backbone weight trains (the paper's fine-tuned "LLM-RS"). The adapter
//! file then holds the whole backbone under its checkpoint names, so it loads like one.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tch::{nn, Tensor};

use mosx_models::Backbone;

use super::{parse_config, Entry};
use crate::error::MethodError;
use crate::method::{named_variables, Method, Setup};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}
const FIELDS: &[&str] = &[];

pub const ENTRY: Entry = Entry {
    name: "full",
    about: "every backbone weight trains",
    fields: FIELDS,
    normalize,
    build,
    default_lr: 1e-5,
    default_objective: crate::method::Objective::Rec,
    modifies_backbone: true,
};

fn normalize(m: &Map<String, Value>) -> Result<Value, MethodError> {
    parse_config::<Config>("full", FIELDS, m).map(|(_, v)| v)
}

pub struct Full;

fn build(
    _cfg: &Value,
    _setup: &Setup,
    backbone: &mut dyn Backbone,
    _root: &nn::Path,
) -> Result<Box<dyn Method>, MethodError> {
    backbone.var_store_mut().unfreeze();
    Ok(Box::new(Full))
}

impl Method for Full {
    fn name(&self) -> &'static str {
        "full"
    }
    fn trainable(&self, backbone: &dyn Backbone, _adapter: &nn::VarStore) -> Vec<(String, Tensor)> {
        named_variables(backbone.var_store(), "")
    }
}
