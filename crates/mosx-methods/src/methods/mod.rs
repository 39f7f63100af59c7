//! The methods' modules and their builders: every method is one file here holding its
//! module (the `build` fn and the `Method` impl), and one line in [`BUILDERS`]. Its serde
//! config, defaults, `normalize` and registry entry are tch-free and live in the file of the
//! same name in `mosx_config::methods` (one entry in [`REGISTRY`]), re-exported here; a test
//! checks that every registry entry has exactly one builder and every builder an entry.
//!
//! A method is named in a spec as a string (`method: mos`, all defaults) or a map with a
//! `name` (`method: { name: mos, experts: 2 }`); [`normalize`] turns either into the
//! canonical map with every default written out, which is what enters the stage key.

use serde_json::Value;
use tch::nn;

pub use mosx_config::methods::{names, parse_config, typed, Entry, REGISTRY};
use mosx_models::Backbone;

use crate::error::MethodError;
use crate::method::{Method, Setup};

pub mod fairllm;
pub mod full;
pub mod ifairlrs;
pub mod lora;
pub mod mos;
pub mod p_tuning;
pub mod prompt_tuning;
pub mod up5;

/// Builds a method from its canonical config, creating its variables under
/// `<method name>.` in the adapter store (or hooking into / unfreezing `backbone`).
pub type BuildFn =
    fn(&Value, &Setup, &mut dyn Backbone, &nn::Path) -> Result<Box<dyn Method>, MethodError>;

/// Every method's builder, by the name of its entry in [`REGISTRY`].
pub const BUILDERS: &[(&str, BuildFn)] = &[
    ("full", full::build),
    ("lora", lora::build),
    ("p_tuning", p_tuning::build),
    ("prompt_tuning", prompt_tuning::build),
    ("mos", mos::build),
    ("ifairlrs", ifairlrs::build),
    ("up5", up5::build),
    ("fairllm", fairllm::build),
];

/// The entry named `name`, or an error suggesting the closest name
/// ([`mosx_config::methods::entry`] with this layer's error).
pub fn entry(name: &str) -> Result<&'static Entry, MethodError> {
    Ok(mosx_config::methods::entry(name)?)
}

/// The canonical form of a method spec: `{name: ..., <every field with its default>}`
/// ([`mosx_config::methods::normalize`] with this layer's error).
pub fn normalize(spec: &Value) -> Result<Value, MethodError> {
    Ok(mosx_config::methods::normalize(spec)?)
}

/// The builder of the method named `name`.
fn builder(name: &str) -> Option<BuildFn> {
    BUILDERS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// Builds the method a canonical config names, its initial state a function of the
/// config and `setup.seed`.
pub fn build(
    config: &Value,
    setup: &Setup,
    backbone: &mut dyn Backbone,
    adapter: &nn::VarStore,
) -> Result<(Box<dyn Method>, &'static Entry), MethodError> {
    let name = config.get("name").and_then(Value::as_str).unwrap_or("");
    let e = entry(name)?;
    let build = builder(e.name).ok_or_else(|| {
        MethodError::config(e.name, "", "registered without a builder in mosx-methods")
    })?;
    let mut cfg = config.clone();
    if let Value::Object(m) = &mut cfg {
        m.remove("name");
    }
    // Layers draw their initial weights from torch's generator: seed it, so a method's
    // initial state is a function of its config and the setup's seed only.
    tch::manual_seed((crate::batch::epoch_seed(setup.seed, 0, 99) >> 1) as i64);
    Ok((
        build(&cfg, setup, backbone, &adapter.root().sub(e.name))?,
        e,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registry_entry_has_exactly_one_builder_and_every_builder_an_entry() {
        for e in REGISTRY {
            let n = BUILDERS.iter().filter(|(b, _)| *b == e.name).count();
            assert_eq!(n, 1, "method `{}` has {n} builders", e.name);
        }
        for (b, _) in BUILDERS {
            let n = REGISTRY.iter().filter(|e| e.name == *b).count();
            assert_eq!(n, 1, "builder `{b}` has {n} registry entries");
        }
    }
}
