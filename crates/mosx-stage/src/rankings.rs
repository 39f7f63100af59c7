//! The payload of an `evaluate` stage under `protocol: ranking`: each candidate list (from a
//! `candidates` stage) with every candidate's `p_yes`, scored with the pointwise prompt of
//! the stage's setting and the candidate in place of the target.
//!
//! Invariants: `items[0]` is the point's target and `p_yes[k]` is the score of `items[k]`
//! (one per item); lists appear in the candidates' order.

use mosx_data::Tabular;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::prompt::Setting;

/// One scored candidate list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RankedCandidates {
    /// Index into the sampled sequences.
    pub index: u32,
    /// Item ids; `items[0]` is the target.
    pub items: Vec<u32>,
    /// `p_yes` per item.
    pub p_yes: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Rankings {
    pub setting: Setting,
    pub lists: Vec<RankedCandidates>,
}

/// One row per candidate: index, position (0: the target), item, target, p_yes.
impl Tabular for Rankings {
    fn columns(&self) -> Vec<String> {
        ["index", "position", "item", "target", "p_yes"]
            .map(String::from)
            .to_vec()
    }

    fn rows(&self) -> Box<dyn Iterator<Item = Vec<Value>> + '_> {
        Box::new(self.lists.iter().flat_map(|l| {
            l.items
                .iter()
                .zip(&l.p_yes)
                .enumerate()
                .map(move |(p, (&item, &s))| {
                    vec![
                        Value::from(l.index),
                        Value::from(p),
                        Value::from(item),
                        Value::from(p == 0),
                        Value::from(s),
                    ]
                })
        }))
    }
}
