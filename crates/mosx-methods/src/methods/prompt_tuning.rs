//! `prompt_tuning` (Lester et al. 2021): L learnable prompt embeddings in front of the
//! task tokens; the backbone stays frozen. Trainable: `L · d`.
//!
//! The module [`SoftPrompt`] is also the adapter of the fairness baselines (`ifairlrs`,
//! `up5`, `fairllm`), which add only their own objective to it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
#[cfg(feature = "torch")]
use tch::{nn, Tensor};

#[cfg(feature = "torch")]
use mosx_models::Backbone;

#[cfg(feature = "torch")]
use super::typed;
use super::{parse_config, Entry};
use crate::error::MethodError;
#[cfg(feature = "torch")]
use crate::method::{Method, Setup};
#[cfg(feature = "torch")]
use crate::soft_prompt::init_from_vocab;

/// How a soft prompt starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// Embeddings of randomly sampled vocabulary tokens (Lester et al.'s best).
    Vocab,
    /// N(0, σ²) with σ the standard deviation of the backbone's token embeddings.
    Random,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Number of virtual tokens L.
    #[serde(default = "default_tokens")]
    pub tokens: i64,
    #[serde(default = "default_init")]
    pub init: Init,
}
pub(crate) fn default_tokens() -> i64 {
    16
}
fn default_init() -> Init {
    Init::Vocab
}
const FIELDS: &[&str] = &["tokens", "init"];

pub const ENTRY: Entry = Entry {
    name: "prompt_tuning",
    about: "L learnable prompt embeddings; frozen backbone",
    fields: FIELDS,
    normalize,
    #[cfg(feature = "torch")]
    build,
    default_lr: 3e-2,
    default_objective: crate::method::Objective::Rec,
    modifies_backbone: false,
};

fn normalize(m: &Map<String, Value>) -> Result<Value, MethodError> {
    let (c, v) = parse_config::<Config>("prompt_tuning", FIELDS, m)?;
    check_tokens("prompt_tuning", c.tokens)?;
    Ok(v)
}

pub(crate) fn check_tokens(method: &str, tokens: i64) -> Result<(), MethodError> {
    if tokens < 1 {
        return Err(MethodError::config(
            method,
            "tokens",
            format!("must be at least 1, found {tokens}"),
        ));
    }
    Ok(())
}

#[cfg(feature = "torch")]
/// `[L, d]` f32 soft prompt `<path>.prompt`, initialised by `init`.
#[derive(Debug)]
pub struct SoftPrompt {
    pub prompt: Tensor,
}

#[cfg(feature = "torch")]
impl SoftPrompt {
    pub fn new(
        path: &nn::Path,
        setup: &Setup,
        backbone: &dyn Backbone,
        tokens: i64,
        init: Init,
        stream: u64,
    ) -> SoftPrompt {
        let seed = crate::batch::epoch_seed(setup.seed, 0, stream);
        let start = initial_rows(backbone, setup, tokens, init, seed);
        let prompt = path.var_copy("prompt", &start);
        SoftPrompt { prompt }
    }
}

#[cfg(feature = "torch")]
/// `[n, d]` f32 initial rows for a soft prompt.
pub(crate) fn initial_rows(
    backbone: &dyn Backbone,
    setup: &Setup,
    n: i64,
    init: Init,
    seed: u64,
) -> Tensor {
    let rows = init_from_vocab(backbone, n, seed, setup.device);
    match init {
        Init::Vocab => rows,
        Init::Random => {
            let _g = tch::no_grad_guard();
            let sigma = rows.std(true).double_value(&[]).max(1e-3);
            tch::manual_seed(seed as i64 & i64::MAX);
            Tensor::randn([n, setup.hidden], (tch::Kind::Float, setup.device)) * sigma
        }
    }
}

#[cfg(feature = "torch")]
pub struct PromptTuning {
    soft: SoftPrompt,
}

#[cfg(feature = "torch")]
fn build(
    cfg: &Value,
    setup: &Setup,
    backbone: &mut dyn Backbone,
    root: &nn::Path,
) -> Result<Box<dyn Method>, MethodError> {
    let c: Config = typed("prompt_tuning", cfg)?;
    backbone.freeze_base();
    let soft = SoftPrompt::new(root, setup, backbone, c.tokens, c.init, 11);
    Ok(Box::new(PromptTuning { soft }))
}

#[cfg(feature = "torch")]
impl Method for PromptTuning {
    fn name(&self) -> &'static str {
        "prompt_tuning"
    }
    fn soft_prompt(&self, _e: &Tensor, _m: &Tensor, _train: bool) -> Option<Tensor> {
        Some(self.soft.prompt.shallow_clone())
    }
}
