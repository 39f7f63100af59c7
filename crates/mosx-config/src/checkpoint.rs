//! A Hugging Face checkpoint folder: `config.json`, safetensors weights (one file or a
//! sharded index) and `tokenizer.json`; found by path or in the standard HF cache.
//!
//! Invariants:
//! * Only safetensors are ever read. A folder holding only pickled weights
//!   (`*.bin`, `*.pt`, `*.pth`, `*.ckpt`) is an error; nothing is unpickled.
//! * Only headers are read here (resolution, tensor names); loading the data into a
//!   `VarStore` is mosx-models' (`checkpoint::LoadWeights`, whose module note states how it
//!   reads), on the [`SafetensorsHeader`] parsed here.
//! * [`Checkpoint::content_hash`] is blake3 over `config.json`, `tokenizer.json` (when
//!   present) and the weight files in order, each prefixed by its file name and length.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use safetensors::tensor::Metadata;
use serde_json::Value;

use crate::model_error::CheckpointError;

/// Name of the single-file weights.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Name of the sharded-weights index.
pub const WEIGHTS_INDEX: &str = "model.safetensors.index.json";
/// Name of the model configuration.
pub const CONFIG_FILE: &str = "config.json";
/// Name of the tokenizer.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// The transformers classes (`config.json`'s `architectures`) whose checkpoints mosx-models
/// runs, with the `model_type` each implies; the `model_type`s here are exactly those the
/// backbone factory builds (a test there checks it).
pub const ARCHITECTURES: &[(&str, &str)] = &[
    ("T5ForConditionalGeneration", "t5"),
    ("Gemma3ForCausalLM", "gemma3_text"),
    ("Gemma3ForConditionalGeneration", "gemma3"),
    ("LlamaForCausalLM", "llama"),
    ("Qwen2ForCausalLM", "qwen2"),
    ("Qwen3ForCausalLM", "qwen3"),
    ("MistralForCausalLM", "mistral"),
];

/// Extensions of pickled checkpoints, which mosx refuses to read.
const PICKLE_EXTS: [&str; 4] = ["bin", "pt", "pth", "ckpt"];

/// A resolved checkpoint folder.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The folder (for a cached model, its snapshot folder).
    pub dir: PathBuf,
    /// Parsed `config.json`.
    pub config: Value,
    /// Safetensors weight files, in the order the index lists them (one when unsharded).
    pub weight_files: Vec<PathBuf>,
    /// `dir/tokenizer.json`; it need not exist (a tokenizer-less test model).
    pub tokenizer_file: PathBuf,
}

fn file_err(path: &Path, message: impl Into<String>) -> CheckpointError {
    CheckpointError::file(path, message)
}

fn tensor_err(path: &Path, tensor: &str, message: impl Into<String>) -> CheckpointError {
    CheckpointError::tensor(path, tensor, message)
}

/// The HF hub cache folder: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
pub fn hf_hub_cache() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HF_HUB_CACHE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("HF_HOME").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p).join("hub"));
    }
    std::env::var_os("HOME").map(|h| {
        PathBuf::from(h)
            .join(".cache")
            .join("huggingface")
            .join("hub")
    })
}

/// The snapshot folder of `org/name` in a hub cache: the one `refs/main` names, else the
/// most recently modified snapshot that holds a `config.json`.
fn cached_snapshot(cache: &Path, name: &str) -> Result<PathBuf, CheckpointError> {
    let repo = cache.join(format!("models--{}", name.replace('/', "--")));
    let snapshots = repo.join("snapshots");
    if let Ok(main) = std::fs::read_to_string(repo.join("refs").join("main")) {
        let dir = snapshots.join(main.trim());
        if dir.join(CONFIG_FILE).is_file() {
            return Ok(dir);
        }
    }
    let entries = std::fs::read_dir(&snapshots).map_err(|e| {
        file_err(
            &snapshots,
            format!(
                "`{name}` is neither a folder nor a model in the Hugging Face cache ({e}). {}",
                how_to_obtain(name)
            ),
        )
    })?;
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in entries.flatten() {
        let dir = entry.path();
        if !dir.join(CONFIG_FILE).is_file() {
            continue;
        }
        let mtime = entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        if best.as_ref().is_none_or(|(t, _)| mtime > *t) {
            best = Some((mtime, dir));
        }
    }
    best.map(|(_, d)| d).ok_or_else(|| {
        file_err(
            &snapshots,
            format!("no snapshot of `{name}` holds a {CONFIG_FILE}"),
        )
    })
}

/// How a user gets a missing backbone (this machine may have no network).
fn how_to_obtain(name: &str) -> String {
    if name.trim_end_matches('/').ends_with("gemma-3-270m") {
        return "`make model` builds the offline Gemma-3-270M into models/gemma-3-270m".into();
    }
    format!(
        "To obtain it: on a machine with network, `huggingface-cli download {name}` (or \
         `huggingface_hub.snapshot_download(\"{name}\")`), then copy the cache folder \
         (`$HF_HOME/hub/models--{}`) here or point the spec's `vars.model` at a folder \
         holding config.json, model.safetensors and tokenizer.json; `make model` builds the \
         offline Gemma-3-270M",
        name.replace('/', "--")
    )
}

impl Checkpoint {
    /// A folder path, or `org/name` looked up in the Hugging Face hub cache.
    pub fn resolve(name_or_path: &str) -> Result<Checkpoint, CheckpointError> {
        let path = Path::new(name_or_path);
        if path.is_dir() {
            return Checkpoint::from_dir(path);
        }
        let looks_like_repo = name_or_path.split('/').count() == 2
            && !name_or_path.starts_with('.')
            && name_or_path.split('/').all(|s| !s.is_empty());
        if looks_like_repo {
            if let Some(cache) = hf_hub_cache() {
                let dir = cached_snapshot(&cache, name_or_path)?;
                return Checkpoint::from_dir(&dir);
            }
        }
        Err(file_err(
            path,
            format!(
                "not a checkpoint folder, nor an `org/name` in the Hugging Face cache. {}",
                how_to_obtain(name_or_path)
            ),
        ))
    }

    /// Reads `dir/config.json` and locates the weight files.
    pub fn from_dir(dir: &Path) -> Result<Checkpoint, CheckpointError> {
        let config_path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&config_path)
            .map_err(|e| file_err(&config_path, e.to_string()))?;
        let config: Value = serde_json::from_str(&text)
            .map_err(|e| file_err(&config_path, format!("invalid JSON: {e}")))?;
        if !config.is_object() {
            return Err(file_err(&config_path, "expected a JSON object"));
        }
        let weight_files = find_weight_files(dir)?;
        Ok(Checkpoint {
            dir: dir.to_path_buf(),
            config,
            weight_files,
            tokenizer_file: dir.join(TOKENIZER_FILE),
        })
    }

    /// Path of `config.json`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }

    /// The model type the backbone factory builds: `config.json`'s `model_type` when it is
    /// one of [`ARCHITECTURES`]' types; else the type of the first `architectures` class
    /// listed there (a fine-tune that renamed its `model_type` but kept, say,
    /// `LlamaForCausalLM`); else `model_type` as written (the factory names it unsupported).
    pub fn model_type(&self) -> Result<String, CheckpointError> {
        let err = |message: String| CheckpointError::Config {
            path: self.config_path(),
            field: "model_type".into(),
            message,
        };
        let written = match self.config.get("model_type") {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(other) => return Err(err(format!("expected a string, found {other}"))),
            None => None,
        };
        if let Some(t) = written.filter(|t| ARCHITECTURES.iter().any(|(_, m)| m == t)) {
            return Ok(t.to_string());
        }
        let classes = self.config.get("architectures").and_then(Value::as_array);
        let by_class = classes.into_iter().flatten().find_map(|c| {
            let c = c.as_str()?;
            ARCHITECTURES.iter().find(|(a, _)| *a == c).map(|(_, m)| *m)
        });
        match (by_class, written) {
            (Some(t), _) => Ok(t.to_string()),
            (None, Some(t)) => Ok(t.to_string()),
            (None, None) => Err(err(
                "missing, and no `architectures` class mosx knows".into()
            )),
        }
    }

    /// blake3 (hex) over config, tokenizer (if present) and weights.
    pub fn content_hash(&self) -> Result<String, CheckpointError> {
        let mut hasher = blake3::Hasher::new();
        let mut files = vec![self.config_path()];
        if self.tokenizer_file.is_file() {
            files.push(self.tokenizer_file.clone());
        }
        files.extend(self.weight_files.iter().cloned());
        for path in &files {
            let mut f = File::open(path).map_err(|e| file_err(path, e.to_string()))?;
            let len = f
                .metadata()
                .map_err(|e| file_err(path, e.to_string()))?
                .len();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            hasher.update(name.as_bytes());
            hasher.update(&[0]);
            hasher.update(&len.to_le_bytes());
            std::io::copy(&mut f, &mut hasher).map_err(|e| file_err(path, e.to_string()))?;
        }
        Ok(hasher.finalize().to_hex().to_string())
    }

    /// Names of every tensor in the weight files.
    pub fn tensor_names(&self) -> Result<std::collections::HashSet<String>, CheckpointError> {
        let mut out = std::collections::HashSet::new();
        for path in &self.weight_files {
            out.extend(
                SafetensorsHeader::read(path)?
                    .metadata
                    .tensors()
                    .into_keys(),
            );
        }
        Ok(out)
    }
}

/// The weight files of a folder: `model.safetensors`, else those the sharded index lists.
fn find_weight_files(dir: &Path) -> Result<Vec<PathBuf>, CheckpointError> {
    let single = dir.join(WEIGHTS_FILE);
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index_path = dir.join(WEIGHTS_INDEX);
    if index_path.is_file() {
        let text = std::fs::read_to_string(&index_path)
            .map_err(|e| file_err(&index_path, e.to_string()))?;
        let index: Value = serde_json::from_str(&text)
            .map_err(|e| file_err(&index_path, format!("invalid JSON: {e}")))?;
        let map = index
            .get("weight_map")
            .and_then(Value::as_object)
            .ok_or_else(|| file_err(&index_path, "no `weight_map` object"))?;
        let mut seen = BTreeSet::new();
        let mut files = Vec::new();
        for (tensor, file) in map {
            let file = file.as_str().ok_or_else(|| {
                tensor_err(&index_path, tensor, "weight_map value is not a file name")
            })?;
            if seen.insert(file.to_string()) {
                let p = dir.join(file);
                if !p.is_file() {
                    return Err(tensor_err(
                        &index_path,
                        tensor,
                        format!("shard {} does not exist", p.display()),
                    ));
                }
                files.push(p);
            }
        }
        if files.is_empty() {
            return Err(file_err(&index_path, "empty `weight_map`"));
        }
        return Ok(files);
    }
    let pickles: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.extension()
                        .and_then(|x| x.to_str())
                        .is_some_and(|x| PICKLE_EXTS.contains(&x))
                })
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    if pickles.is_empty() {
        Err(file_err(
            &single,
            format!("no {WEIGHTS_FILE} or {WEIGHTS_INDEX} in {}", dir.display()),
        ))
    } else {
        Err(file_err(
            &single,
            format!(
                "missing; the folder has only pickled weights ({}), which mosx never reads: only safetensors are supported",
                pickles.join(", ")
            ),
        ))
    }
}

/// The parsed header of one safetensors file (its offsets are read by the loader only).
pub struct SafetensorsHeader {
    pub path: PathBuf,
    pub metadata: Metadata,
    /// Byte offset of the data section (8 + header length).
    pub data_start: u64,
    pub file_len: u64,
}

impl SafetensorsHeader {
    /// Reads and parses the header of the safetensors file `path` (never its data).
    pub fn read(path: &Path) -> Result<SafetensorsHeader, CheckpointError> {
        let mut f = File::open(path).map_err(|e| file_err(path, e.to_string()))?;
        let file_len = f
            .metadata()
            .map_err(|e| file_err(path, e.to_string()))?
            .len();
        let mut len8 = [0u8; 8];
        f.read_exact(&mut len8).map_err(|_| {
            file_err(
                path,
                format!("truncated safetensors file: {file_len} bytes, no header"),
            )
        })?;
        let n = u64::from_le_bytes(len8);
        if n > 100_000_000 || 8 + n > file_len {
            return Err(file_err(
                path,
                format!("truncated or invalid safetensors file: header of {n} bytes declared, file has {file_len} bytes"),
            ));
        }
        let mut header = vec![0u8; n as usize];
        f.read_exact(&mut header)
            .map_err(|e| file_err(path, format!("reading the header: {e}")))?;
        let metadata: Metadata = serde_json::from_slice(&header)
            .map_err(|e| file_err(path, format!("invalid safetensors header: {e}")))?;
        Ok(SafetensorsHeader {
            path: path.to_path_buf(),
            metadata,
            data_start: 8 + n,
            file_len,
        })
    }
}

/// Whether any of the safetensors files declares a tensor `name` (headers only are read).
pub fn safetensors_has_tensor(files: &[PathBuf], name: &str) -> Result<bool, CheckpointError> {
    const MAX_HEADER: u64 = 256 << 20;
    for path in files {
        let err = |m: String| CheckpointError::File {
            path: path.clone(),
            message: m,
        };
        let mut f = File::open(path).map_err(|e| err(e.to_string()))?;
        let mut len = [0u8; 8];
        f.read_exact(&mut len)
            .map_err(|e| err(format!("cannot read the safetensors header length: {e}")))?;
        let n = u64::from_le_bytes(len);
        if n > MAX_HEADER {
            return Err(err(format!(
                "safetensors header of {n} bytes is implausibly large"
            )));
        }
        let mut buf = vec![0u8; n as usize];
        f.read_exact(&mut buf)
            .map_err(|e| err(format!("truncated safetensors header: {e}")))?;
        let header: Value = serde_json::from_slice(&buf)
            .map_err(|e| err(format!("invalid safetensors header JSON: {e}")))?;
        if header.get(name).is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}
