//! `full`: every backbone weight trains (the paper's fine-tuned "LLM-RS"). The adapter
//! file then holds the whole backbone under its checkpoint names, so it loads like one.

use serde_json::Value;
use tch::{nn, Tensor};

pub use mosx_config::methods::full::Config;
use mosx_models::Backbone;

use crate::error::MethodError;
use crate::method::{named_variables, Method, Setup};

pub struct Full;

pub(super) fn build(
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
