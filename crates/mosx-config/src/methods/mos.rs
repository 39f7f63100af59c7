//! `mos`'s config (Mixture-of-Stereotypes, METHOD.md §5): E experts of L tokens, the
//! routing (top-1 by default) and its K, the reweighting layer and the renormalisation
//! ablation. K must lie in `1..=E`. The method, whose module note states the routing
//! invariants, is mosx-methods' `methods::mos`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::prompt_tuning::{default_tokens, Init};
use super::{parse_config, Entry};
use crate::method_error::MethodError;

/// How experts are chosen from the router's probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Routing {
    /// The single most probable expert (default).
    Top1,
    /// The two most probable experts.
    Top2,
    /// `k` experts sampled without replacement while training; top-`k` at evaluation.
    Stochastic,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Number of prompt experts E.
    #[serde(default = "default_experts")]
    pub experts: i64,
    /// Tokens per expert L.
    #[serde(default = "default_tokens")]
    pub tokens: i64,
    #[serde(default = "default_routing")]
    pub routing: Routing,
    /// K for `stochastic` routing (top1/top2 fix K themselves).
    #[serde(default = "default_k")]
    pub k: i64,
    /// The reweighting layer (Eq. 9); `false` is the ablation that averages the groups.
    #[serde(default = "default_true")]
    pub reweighting: bool,
    /// Divide the kept router probabilities by their sum (an ablation; for K = 1 it makes
    /// every kept value 1, so the router gets no gradient).
    #[serde(default)]
    pub renormalize: bool,
    #[serde(default = "default_init")]
    pub init: Init,
}
fn default_experts() -> i64 {
    4
}
fn default_routing() -> Routing {
    Routing::Top1
}
fn default_k() -> i64 {
    1
}
fn default_true() -> bool {
    true
}
fn default_init() -> Init {
    Init::Vocab
}
const FIELDS: &[&str] = &[
    "experts",
    "tokens",
    "routing",
    "k",
    "reweighting",
    "renormalize",
    "init",
];

pub const ENTRY: Entry = Entry {
    name: "mos",
    about: "Mixture-of-Stereotypes: routed prompt experts with fairness and diversity losses",
    fields: FIELDS,
    normalize,
    default_lr: 3e-2,
    default_objective: crate::objective::Objective::RecFairDiv,
    modifies_backbone: false,
};

impl Config {
    /// The K of the routing.
    pub fn top_k(&self) -> i64 {
        match self.routing {
            Routing::Top1 => 1,
            Routing::Top2 => 2,
            Routing::Stochastic => self.k,
        }
    }
}

fn normalize(m: &Map<String, Value>) -> Result<Value, MethodError> {
    let (c, v) = parse_config::<Config>("mos", FIELDS, m)?;
    super::prompt_tuning::check_tokens("mos", c.tokens)?;
    if c.experts < 1 {
        return Err(MethodError::config("mos", "experts", "must be at least 1"));
    }
    if c.top_k() < 1 || c.top_k() > c.experts {
        return Err(MethodError::config(
            "mos",
            if c.routing == Routing::Stochastic {
                "k"
            } else {
                "routing"
            },
            format!(
                "K = {} must be in 1..={} (the number of experts)",
                c.top_k(),
                c.experts
            ),
        ));
    }
    Ok(v)
}
