//! The evaluated test point and the fairness variant. A point is recommended iff
//! `p_yes > THRESHOLD`; group indices are positions in the experiment's group list.

use serde::{Deserialize, Serialize};

/// Decision threshold on `p_yes`: a target is recommended iff `p_yes > THRESHOLD`.
pub const THRESHOLD: f64 = 0.5;

/// One scored test point (a user window with its target).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalPoint {
    /// `g(u)`: index of the user's stereotype group.
    pub user_group: usize,
    /// `I(t_u, b)` for each item group `b` (membership of the target item).
    pub target_groups: Vec<bool>,
    /// `P_u(b)` for each item group `b` (share of the history in group `b`, Eq. 3).
    pub history_share: Vec<f64>,
    /// Model probability of "Yes".
    pub p_yes: f64,
    /// Ground truth `y_u`.
    pub label: bool,
}

impl EvalPoint {
    /// `I(t_u, b)`; a missing entry is "not a member".
    pub fn in_target_group(&self, b: usize) -> bool {
        self.target_groups.get(b).copied().unwrap_or(false)
    }

    /// `P_u(b)`; a missing entry is 0.
    pub fn history(&self, b: usize) -> f64 {
        self.history_share.get(b).copied().unwrap_or(0.0)
    }

    /// Whether the model recommends the target (`p_yes > THRESHOLD`).
    pub fn recommended(&self) -> bool {
        self.p_yes > THRESHOLD
    }
}

/// How the recommended share is compared with the historical share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FairnessKind {
    /// `100 * (P_R - P_H) / P_H` (signed; the default, paper Eq. 1/5).
    #[default]
    Relative,
    /// `100 * |P_R - P_H|` (METHOD.md's `fairness: absolute` choice).
    Absolute,
}
