//! The payload a `train` stage hands `evaluate` beside the trained parameters (artifact
//! `adapter`, safetensors): artifact `config`, JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What `evaluate` needs to rebuild a trained method.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainedConfig {
    /// The method's canonical config (with `name`).
    pub method: Value,
    /// Leaking points were dropped from train and valid; evaluate drops them from test too.
    pub drop_leaking: bool,
    pub trainable_params: i64,
    pub backbone_params: i64,
}
