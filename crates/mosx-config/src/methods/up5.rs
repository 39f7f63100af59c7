//! `up5`'s config: L virtual tokens, `lambda_adv` (the prompt's adversarial weight, >= 0)
//! and the discriminator's hidden width (user-side, counterfactually fair prompting). The
//! method is mosx-methods' `methods::up5`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::prompt_tuning::default_tokens;
use super::{parse_config, Entry};
use crate::method_error::MethodError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_tokens")]
    pub tokens: i64,
    /// λ_adv of the prompt's adversarial term.
    #[serde(default = "default_lambda")]
    pub lambda_adv: f64,
    /// Hidden width of the discriminator MLP.
    #[serde(default = "default_hidden")]
    pub hidden: i64,
}
fn default_lambda() -> f64 {
    10.0
}
fn default_hidden() -> i64 {
    128
}
const FIELDS: &[&str] = &["tokens", "lambda_adv", "hidden"];

pub const ENTRY: Entry = Entry {
    name: "up5",
    about: "prompt tuning against a user-group discriminator, alternating steps",
    fields: FIELDS,
    normalize,
    default_lr: 3e-2,
    default_objective: crate::objective::Objective::Rec,
    modifies_backbone: false,
};

fn normalize(m: &Map<String, Value>) -> Result<Value, MethodError> {
    let (c, v) = parse_config::<Config>("up5", FIELDS, m)?;
    super::prompt_tuning::check_tokens("up5", c.tokens)?;
    if c.hidden < 1 || !c.lambda_adv.is_finite() {
        return Err(MethodError::config(
            "up5",
            "hidden",
            "hidden ≥ 1 and a finite lambda_adv",
        ));
    }
    Ok(v)
}
