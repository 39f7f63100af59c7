//! `p_tuning` (Liu et al. 2021): a prompt encoder maps L learnable input embeddings to the
//! soft prompt. Default encoder: a 2-layer MLP (d → hidden → d, ReLU); `encoder: lstm`
//! runs a 2-layer bidirectional LSTM (hidden per direction) before the MLP head, as the
//! P-tuning paper does. Frozen backbone.
//!
//! Trainable (MLP): `L·d + (d·h + h) + (h·d + d)`.

use serde_json::Value;
use tch::nn::{self, Module, RNN};
use tch::Tensor;

pub use mosx_config::methods::p_tuning::{Config, Encoder};
use mosx_config::methods::typed;
use mosx_models::Backbone;

use super::prompt_tuning::{initial_rows, Init};
use crate::error::MethodError;
use crate::method::{Method, Setup};

pub struct PTuning {
    inputs: Tensor,
    lstm: Option<nn::LSTM>,
    mlp: nn::Sequential,
}

pub(super) fn build(
    cfg: &Value,
    setup: &Setup,
    backbone: &mut dyn Backbone,
    root: &nn::Path,
) -> Result<Box<dyn Method>, MethodError> {
    let c: Config = typed("p_tuning", cfg)?;
    backbone.freeze_base();
    let d = setup.hidden;
    let seed = crate::batch::epoch_seed(setup.seed, 0, 31);
    let start = initial_rows(backbone, setup, c.tokens, Init::Vocab, seed);
    let inputs = root.var_copy("inputs", &start);
    let (lstm, mlp_in) = match c.encoder {
        Encoder::Mlp => (None, d),
        Encoder::Lstm => {
            let rc = nn::RNNConfig {
                num_layers: 2,
                bidirectional: true,
                batch_first: true,
                ..Default::default()
            };
            (Some(nn::lstm(root / "lstm", d, c.hidden, rc)), 2 * c.hidden)
        }
    };
    let mlp = nn::seq()
        .add(nn::linear(
            root / "mlp" / "0",
            mlp_in,
            c.hidden,
            Default::default(),
        ))
        .add_fn(|x| x.relu())
        .add(nn::linear(
            root / "mlp" / "2",
            c.hidden,
            d,
            Default::default(),
        ));
    Ok(Box::new(PTuning { inputs, lstm, mlp }))
}

impl Method for PTuning {
    fn name(&self) -> &'static str {
        "p_tuning"
    }
    fn soft_prompt(&self, _e: &Tensor, _m: &Tensor, _train: bool) -> Option<Tensor> {
        let x = match &self.lstm {
            Some(lstm) => lstm.seq(&self.inputs.unsqueeze(0)).0.squeeze_dim(0),
            None => self.inputs.shallow_clone(),
        };
        Some(self.mlp.forward(&x))
    }
}
