//! `lora`: low-rank adapters on every layer's projections named by `targets` (default
//! attention q and v; rank 8, alpha 16, dropout 0.05 by default), hooked into the backbone
//! by its own `enable_lora`; the base stays frozen. Trainable: `r · (in + out)` summed over
//! the adapted projections of every layer (for T5 every attention of both stacks, cross
//! included, and every feed-forward).

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
            targets: c.targets,
        },
    )?;
    Ok(Box::new(Lora))
}

impl Method for Lora {
    fn name(&self) -> &'static str {
        "lora"
    }
}
