//! The backbone pool: a checkpoint is loaded once per worker process for each (folder,
//! device, dtype) and shared by every stage that names it (`evaluate`, `train`); a worker
//! takes a run's device stages one after another, so a backbone is loaded once per run.
//!
//! Invariant: a pooled backbone is never modified in place. Stages that change weights
//! (LoRA hooks, full fine-tuning) load a private copy with [`load_private`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mosx_models::checkpoint::Checkpoint;
use mosx_models::tokenizer::TextTokenizer;
use mosx_models::{load_backbone, Backbone, Dtype, DtypeKind, ModelError};

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

/// Runs `f` on the backbone for `model`: the shared one, or a private copy when `private`
/// (the method changes the backbone: LoRA hooks, full fine-tuning).
pub fn with_backbone<R>(
    model: &str,
    device: tch::Device,
    dtype: Dtype,
    private: bool,
    f: impl FnOnce(&mut dyn Backbone, &TextTokenizer) -> R,
) -> Result<R, ModelError> {
    if private {
        let (mut bb, tok) = load_private(model, device, dtype)?;
        return Ok(f(bb.as_mut(), &tok));
    }
    let loaded = shared(model, device, dtype)?;
    let mut guard = loaded.lock().unwrap_or_else(|e| e.into_inner());
    let (bb, tok) = &mut *guard;
    Ok(f(bb.as_mut(), tok))
}

/// What a method may know of the task (METHOD.md Eq. 6): the backbone's width and each
/// group's stereotype sentence, tokenized without special tokens.
pub fn method_setup(
    ds: &mosx_data::Dataset,
    backbone: &dyn Backbone,
    tok: &TextTokenizer,
    seed: u64,
    device: tch::Device,
) -> Result<mosx_methods::Setup, ModelError> {
    Ok(mosx_methods::Setup {
        hidden: backbone.hidden_size(),
        n_groups: ds.groups.len(),
        group_prompts: ds
            .groups
            .iter()
            .map(|g| tok.encode(&mosx_stage::prompt::profile_sentence(ds.kind, g), false))
            .collect::<Result<_, _>>()?,
        seed,
        device,
    })
}
