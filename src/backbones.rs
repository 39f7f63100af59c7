//! The backbone pool: a checkpoint is loaded once per process for each (folder, device,
//! dtype) and shared by every device stage that names it (`evaluate`, `train`).
//!
//! Invariant: a pooled backbone is never modified in place. Stages that change weights
//! (LoRA hooks, full fine-tuning) load a private copy with [`load_private`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mosx_models::checkpoint::Checkpoint;
use mosx_models::tokenizer::TextTokenizer;
use mosx_models::{load_backbone, Backbone, Dtype, ModelError};

/// A loaded backbone with its tokenizer.
pub type Loaded = Arc<Mutex<(Box<dyn Backbone>, TextTokenizer)>>;

static MODELS: Mutex<Option<HashMap<String, Loaded>>> = Mutex::new(None);

/// The shared, read-only backbone for `model` on `device` in `dtype`.
pub fn shared(model: &str, device: tch::Device, dtype: Dtype) -> Result<Loaded, ModelError> {
    let id = format!("{model}|{device:?}|{dtype:?}");
    let mut guard = MODELS.lock().unwrap_or_else(|e| e.into_inner());
    let cache = guard.get_or_insert_with(HashMap::new);
    if let Some(m) = cache.get(&id) {
        return Ok(m.clone());
    }
    let (bb, tok) = load_private(model, device, dtype)?;
    let m: Loaded = Arc::new(Mutex::new((bb, tok)));
    cache.insert(id, m.clone());
    Ok(m)
}

/// A fresh copy of `model`, owned by the caller (to hook adapters into or to train).
pub fn load_private(
    model: &str,
    device: tch::Device,
    dtype: Dtype,
) -> Result<(Box<dyn Backbone>, TextTokenizer), ModelError> {
    let ck = Checkpoint::resolve(model)?;
    let tok = TextTokenizer::from_file(&ck.tokenizer_file)?;
    let bb = load_backbone(&ck, device, dtype.kind())?;
    Ok((bb, tok))
}

/// The files of a checkpoint whose content enters a stage key, as (stable name, path):
/// `model/config.json`, `model/tokenizer.json` and every weight file.
pub fn checkpoint_files(model: &str) -> Result<Vec<(String, std::path::PathBuf)>, ModelError> {
    let ck = Checkpoint::resolve(model)?;
    let mut files = vec![
        ("model/config.json".to_string(), ck.dir.join("config.json")),
        (
            "model/tokenizer.json".to_string(),
            ck.tokenizer_file.clone(),
        ),
    ];
    for w in &ck.weight_files {
        let name = w
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        files.push((format!("model/{name}"), w.clone()));
    }
    Ok(files)
}
