//! Which loss terms a training optimises (Table V's objectives), as specs name them.

use serde::{Deserialize, Serialize};

/// Which loss terms a training optimises (Table V's objectives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Objective {
    #[serde(rename = "rec")]
    Rec,
    #[serde(rename = "rec+fair")]
    RecFair,
    #[serde(rename = "rec+fair+div")]
    RecFairDiv,
}

impl Objective {
    pub fn fair(self) -> bool {
        matches!(self, Objective::RecFair | Objective::RecFairDiv)
    }
    pub fn div(self) -> bool {
        matches!(self, Objective::RecFairDiv)
    }
}
