//! The choice of `L_rec`'s softmax, as a training config names it; the loss terms
//! themselves (METHOD.md §4-§6, on tensors) are mosx-methods' `losses`.

use serde::{Deserialize, Serialize};

/// Which softmax `L_rec` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RecLoss {
    /// Over the whole vocabulary (the label token's language-model loss).
    #[default]
    Vocab,
    /// Over (Yes, No) only.
    Pair,
}
