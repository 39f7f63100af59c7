//! The backbone files a stage key covers: a stage that runs a checkpoint on prompts of a
//! template (`evaluate`, `train`) has the content hashes of the checkpoint's files and of the
//! template in its key, never their paths.
//!
//! This is the tch-free part of the backbones: checkpoints are only *resolved* here (folder or
//! Hugging Face cache → config, tokenizer and weight files). Loading them, and the pool that
//! loads each one once per process, live in the stage worker (`mosx-worker`, `pool.rs`).

use mosx_config::checkpoint::Checkpoint;
use mosx_config::CheckpointError;

/// The files whose content enters the key of a stage that runs `model` on prompts of
/// `template`, as (stable name, path): `model/config.json`, `model/tokenizer.json`, every
/// weight file, the chat template's file when `chat` (`model/chat_template`; a checkpoint
/// without one is an error here, at plan time), and `template/NAME.j2` when the project has
/// it (else the built-in one, which the code hash covers).
pub fn key_files(
    model: &str,
    template: &str,
    chat: bool,
    project: &crate::project::Project,
) -> Result<Vec<(String, std::path::PathBuf)>, CheckpointError> {
    let mut files = checkpoint_files(model)?;
    if chat {
        let t =
            crate::chat::ChatTemplate::of_model(model).map_err(|e| CheckpointError::Config {
                path: model.into(),
                field: crate::chat::PROMPT_FORMAT.into(),
                message: e.to_string(),
            })?;
        files.push(("model/chat_template".to_string(), t.file));
    }
    let tpath = project.prompt_file(template);
    if tpath.exists() {
        files.push((format!("template/{template}.j2"), tpath));
    }
    Ok(files)
}

/// The files of a checkpoint whose content enters a stage key, as (stable name, path):
/// `model/config.json`, `model/tokenizer.json` and every weight file.
fn checkpoint_files(model: &str) -> Result<Vec<(String, std::path::PathBuf)>, CheckpointError> {
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
