//! The architecture factory: a checkpoint's `model_type` picks the backbone to build.
//! It sits above `checkpoint`, `t5` and `gemma3`, which never import it, so the models'
//! imports form no loop.

use serde::{Deserialize, Serialize};
#[cfg(feature = "torch")]
use tch::{Device, Kind};

#[cfg(feature = "torch")]
use crate::backbone::Backbone;
#[cfg(feature = "torch")]
use crate::checkpoint::Checkpoint;
#[cfg(feature = "torch")]
use crate::error::ModelError;

/// The floating dtype a backbone computes in, as specs and the CLI name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    F32,
    Bf16,
}

#[cfg(feature = "torch")]
impl Dtype {
    /// The tch kind of the weights.
    pub fn kind(self) -> Kind {
        match self {
            Dtype::F32 => Kind::Float,
            Dtype::Bf16 => Kind::BFloat16,
        }
    }
}

/// Builds the backbone `config.json`'s `model_type` names, with weights loaded.
#[cfg(feature = "torch")]
pub fn load_backbone(
    ck: &Checkpoint,
    device: Device,
    kind: Kind,
) -> Result<Box<dyn Backbone>, ModelError> {
    let model_type = ck.model_type()?;
    match model_type.as_str() {
        "gemma3_text" | "gemma3" => Ok(Box::new(crate::gemma3::Gemma3::load(ck, device, kind)?)),
        "t5" => Ok(Box::new(crate::t5::T5::load(ck, device, kind)?)),
        other => Err(ModelError::Config {
            path: ck.config_path(),
            field: "model_type".into(),
            message: format!(
                "unsupported model_type \"{other}\" (supported: t5, gemma3_text, gemma3)"
            ),
        }),
    }
}
