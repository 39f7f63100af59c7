//! `full`: every backbone weight trains (the paper's fine-tuned "LLM-RS"). The adapter
//! file then holds the whole backbone under its checkpoint names, so it loads like one.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
#[cfg(feature = "torch")]
use tch::{nn, Tensor};

#[cfg(feature = "torch")]
use mosx_models::Backbone;

use super::{parse_config, Entry};
use crate::error::MethodError;
#[cfg(feature = "torch")]
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
    #[cfg(feature = "torch")]
    build,
    default_lr: 1e-5,
    default_objective: crate::method::Objective::Rec,
    modifies_backbone: true,
};

fn normalize(m: &Map<String, Value>) -> Result<Value, MethodError> {
    parse_config::<Config>("full", FIELDS, m).map(|(_, v)| v)
}

#[cfg(feature = "torch")]
pub struct Full;

#[cfg(feature = "torch")]
fn build(
    _cfg: &Value,
    _setup: &Setup,
    backbone: &mut dyn Backbone,
    _root: &nn::Path,
) -> Result<Box<dyn Method>, MethodError> {
    backbone.var_store_mut().unfreeze();
    Ok(Box::new(Full))
}

#[cfg(feature = "torch")]
impl Method for Full {
    fn name(&self) -> &'static str {
        "full"
    }
    fn trainable(&self, backbone: &dyn Backbone, _adapter: &nn::VarStore) -> Vec<(String, Tensor)> {
        named_variables(backbone.var_store(), "")
    }
}
