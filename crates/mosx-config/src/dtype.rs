//! The floating dtype a backbone computes in, as specs and the CLI name it; its tch kind
//! (`mosx_models::factory::DtypeKind`) lives with the backbones.

use serde::{Deserialize, Serialize};

/// The floating dtype a backbone computes in, as specs and the CLI name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    F32,
    Bf16,
}
