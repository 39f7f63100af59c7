//! `p_tuning` (Liu et al. 2021): a prompt encoder maps L learnable input embeddings to the
//! soft prompt. Default encoder: a 2-layer MLP (d → hidden → d, ReLU); `encoder: lstm`
//! runs a 2-layer bidirectional LSTM (hidden per direction) before the MLP head, as the
//! P-tuning paper does. Frozen backbone.
//!
//! Trainable (MLP): `L·d + (d·h + h) + (h·d + d)`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
#[cfg(feature = "torch")]
use tch::nn::{self, Module, RNN};
#[cfg(feature = "torch")]
use tch::Tensor;

#[cfg(feature = "torch")]
use mosx_models::Backbone;

use super::prompt_tuning::default_tokens;
#[cfg(feature = "torch")]
use super::prompt_tuning::{initial_rows, Init};
#[cfg(feature = "torch")]
use super::typed;
use super::{parse_config, Entry};
use crate::error::MethodError;
#[cfg(feature = "torch")]
use crate::method::{Method, Setup};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoder {
    Mlp,
    Lstm,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_tokens")]
    pub tokens: i64,
    /// Hidden width of the encoder.
    #[serde(default = "default_hidden")]
    pub hidden: i64,
    #[serde(default = "default_encoder")]
    pub encoder: Encoder,
}
fn default_hidden() -> i64 {
    128
}
fn default_encoder() -> Encoder {
    Encoder::Mlp
}
const FIELDS: &[&str] = &["tokens", "hidden", "encoder"];

pub const ENTRY: Entry = Entry {
    name: "p_tuning",
    about: "a prompt encoder (MLP or LSTM) produces the soft prompt; frozen backbone",
    fields: FIELDS,
    normalize,
    #[cfg(feature = "torch")]
    build,
    default_lr: 1e-3,
    default_objective: crate::method::Objective::Rec,
    modifies_backbone: false,
};

fn normalize(m: &Map<String, Value>) -> Result<Value, MethodError> {
    let (c, v) = parse_config::<Config>("p_tuning", FIELDS, m)?;
    super::prompt_tuning::check_tokens("p_tuning", c.tokens)?;
    if c.hidden < 1 {
        return Err(MethodError::config(
            "p_tuning",
            "hidden",
            "must be at least 1",
        ));
    }
    Ok(v)
}

#[cfg(feature = "torch")]
pub struct PTuning {
    inputs: Tensor,
    lstm: Option<nn::LSTM>,
    mlp: nn::Sequential,
}

#[cfg(feature = "torch")]
fn build(
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

#[cfg(feature = "torch")]
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
