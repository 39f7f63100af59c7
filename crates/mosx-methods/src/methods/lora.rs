//! `lora`: low-rank adapters on every attention q and v projection (rank 8, alpha 16,
//! dropout 0.05 by default), hooked into the backbone by its own `enable_lora`; the base
//! stays frozen. Trainable per layer: `r (d + q_out) + r (d + v_out)`.

use serde_json::Value;
use tch::nn;

pub use mosx_config::methods::lora::Config;
use mosx_config::methods::typed;
use mosx_models::{Backbone, LoraConfig};

use crate::error::MethodError;
use crate::method::{Method, Setup};

pub struct Lora;

pub(super) fn build(
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

impl Method for Lora {
    fn name(&self) -> &'static str {
        "lora"
    }
}
