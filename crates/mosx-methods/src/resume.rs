//! The resume folder of a training: after every epoch the trainable parameters, the best
//! parameters so far, the optimizer state and the log (`state.json` naming one
//! `epoch-<E>.safetensors` file with `param/`, `best/` and `optim/` tensors).
//!
//! Invariants: each file is written fsynced then renamed ([`write_atomic`]), the state last,
//! so a reader sees either the previous epoch's state or the new one; tensors of older
//! epochs are removed only once the state names the new file. A resumed training continues
//! after the state's epoch with the state's step, patience counter and log.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::error::MethodError;
use crate::io::{from_bytes, restore, to_bytes, write_atomic};
use crate::log::TrainLog;
use crate::optim::Optimizer;
use crate::trainer::TrainerState;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ResumeState {
    /// Last finished epoch.
    pub epoch: usize,
    pub step: usize,
    pub bad_epochs: usize,
    pub log: TrainLog,
    /// File (in the same folder) holding `param/`, `best/` and `optim/` tensors.
    tensors: String,
}

const STATE_FILE: &str = "state.json";

/// Writes `state`, the state after epoch `epoch`, to `dir`.
pub(crate) fn save(dir: &Path, epoch: usize, state: &TrainerState) -> Result<(), MethodError> {
    let TrainerState {
        params,
        best,
        opt,
        step,
        bad_epochs,
        log,
    } = state;
    let mut named: Vec<(String, Tensor)> = Vec::new();
    named.extend(
        params
            .iter()
            .map(|(n, t)| (format!("param/{n}"), t.shallow_clone())),
    );
    named.extend(
        best.iter()
            .map(|(n, t)| (format!("best/{n}"), t.shallow_clone())),
    );
    named.extend(
        opt.state()
            .into_iter()
            .map(|(n, t)| (format!("optim/{n}"), t)),
    );
    let file = format!("epoch-{epoch}.safetensors");
    write_atomic(&dir.join(&file), &to_bytes(&named)?)?;
    let state = ResumeState {
        epoch,
        step: *step,
        bad_epochs: *bad_epochs,
        log: log.clone(),
        tensors: file.clone(),
    };
    let json = serde_json::to_vec(&state).map_err(|e| MethodError::File {
        path: dir.join(STATE_FILE),
        message: e.to_string(),
    })?;
    write_atomic(&dir.join(STATE_FILE), &json)?;
    // Older epochs' tensors are superseded once the state names the new file.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("epoch-") && name != file {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// Loads the state in `dir`, if any, into `params`, `best` and `opt`; returns it.
pub(crate) fn resume(
    dir: &Path,
    params: &[(String, Tensor)],
    best: &[(String, Tensor)],
    opt: &mut Optimizer,
    device: tch::Device,
) -> Result<Option<ResumeState>, MethodError> {
    let Some((state, tensors)) = load(dir, device)? else {
        return Ok(None);
    };
    let pick = |prefix: &str| -> Vec<(String, Tensor)> {
        tensors
            .iter()
            .filter_map(|(n, t)| {
                n.strip_prefix(prefix)
                    .map(|k| (k.to_string(), t.shallow_clone()))
            })
            .collect()
    };
    restore(params, &pick("param/"))?;
    restore(best, &pick("best/"))?;
    let optim: HashMap<String, Tensor> = pick("optim/").into_iter().collect();
    opt.load_state(&optim)?;
    Ok(Some(state))
}

fn load(
    dir: &Path,
    device: tch::Device,
) -> Result<Option<(ResumeState, Vec<(String, Tensor)>)>, MethodError> {
    let path = dir.join(STATE_FILE);
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(None);
    };
    let state: ResumeState = serde_json::from_slice(&bytes).map_err(|e| MethodError::File {
        path: path.clone(),
        message: format!("unreadable resume state: {e}"),
    })?;
    let tpath = dir.join(&state.tensors);
    let tbytes = std::fs::read(&tpath).map_err(|e| MethodError::File {
        path: tpath.clone(),
        message: e.to_string(),
    })?;
    Ok(Some((state, from_bytes(&tbytes, device)?)))
}
