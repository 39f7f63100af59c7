//! The architecture factory: a checkpoint's model type (`config.json`'s `model_type`, or the
//! type its `architectures` class implies: `Checkpoint::model_type`) picks the backbone.
//! Llama-family types (`llama`, which SmolLM2 and TinyLlama use too, `qwen2`, `qwen3`,
//! `mistral`) share one module. It sits above `checkpoint`, `t5`, `gemma3` and `llama`, which never import it, so the models'
//! imports form no loop.

use tch::{Device, Kind};

pub use mosx_config::Dtype;

use crate::backbone::Backbone;
use crate::checkpoint::Checkpoint;
use crate::error::{CheckpointError, ModelError};
use crate::llama::{Family, Llama, SUPPORTED};

/// The tch kind of a [`Dtype`] (a trait: `Dtype` is mosx-config's).
pub trait DtypeKind {
    /// The tch kind of the weights.
    fn kind(self) -> Kind;
}

impl DtypeKind for Dtype {
    fn kind(self) -> Kind {
        match self {
            Dtype::F32 => Kind::Float,
            Dtype::Bf16 => Kind::BFloat16,
        }
    }
}

/// Builds the backbone of the checkpoint's model type, with weights loaded.
pub fn load_backbone(
    ck: &Checkpoint,
    device: Device,
    kind: Kind,
) -> Result<Box<dyn Backbone>, ModelError> {
    let model_type = ck.model_type()?;
    match model_type.as_str() {
        "gemma3_text" | "gemma3" => Ok(Box::new(crate::gemma3::Gemma3::load(ck, device, kind)?)),
        "t5" => Ok(Box::new(crate::t5::T5::load(ck, device, kind)?)),
        t if Family::of(t).is_some() => Ok(Box::new(Llama::load(ck, device, kind)?)),
        other => Err(CheckpointError::Config {
            path: ck.config_path(),
            field: "model_type".into(),
            message: format!(
                "unsupported model_type \"{other}\" (supported: t5, gemma3_text, gemma3, {})",
                SUPPORTED.join(", ")
            ),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `model_type` the `architectures` table implies is one this factory builds.
    #[test]
    fn every_known_architecture_class_maps_to_a_built_type() {
        for (class, t) in mosx_config::checkpoint::ARCHITECTURES {
            let built = matches!(*t, "t5" | "gemma3_text" | "gemma3") || Family::of(t).is_some();
            assert!(
                built,
                "{class} implies {t}, which the factory does not build"
            );
        }
        for t in SUPPORTED {
            assert!(
                mosx_config::checkpoint::ARCHITECTURES
                    .iter()
                    .any(|(_, m)| m == &t),
                "{t} has no architectures class"
            );
        }
    }
}
