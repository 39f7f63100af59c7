//! `prompt_tuning` (Lester et al. 2021): L learnable prompt embeddings in front of the
//! task tokens; the backbone stays frozen. Trainable: `L · d`.
//!
//! The module [`SoftPrompt`] is also the adapter of the fairness baselines (`ifairlrs`,
//! `up5`, `fairllm`), which add only their own objective to it.

use serde_json::Value;
use tch::{nn, Tensor};

pub use mosx_config::methods::prompt_tuning::{Config, Init};
use mosx_config::methods::typed;
use mosx_models::Backbone;

use crate::error::MethodError;
use crate::method::{Method, Setup};
use crate::soft_prompt::init_from_vocab;

/// `[L, d]` f32 soft prompt `<path>.prompt`, initialised by `init`.
#[derive(Debug)]
pub struct SoftPrompt {
    pub prompt: Tensor,
}

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

pub struct PromptTuning {
    soft: SoftPrompt,
}

pub(super) fn build(
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

impl Method for PromptTuning {
    fn name(&self) -> &'static str {
        "prompt_tuning"
    }
    fn soft_prompt(&self, _e: &Tensor, _m: &Tensor, _train: bool) -> Option<Tensor> {
        Some(self.soft.prompt.shallow_clone())
    }
}
