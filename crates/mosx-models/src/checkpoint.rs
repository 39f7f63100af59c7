//! A Hugging Face checkpoint folder: `config.json`, safetensors weights (one file or a
//! sharded index) and `tokenizer.json`; found by path or in the standard HF cache.
//!
//! Invariants:
//! * Only safetensors are ever read. A folder holding only pickled weights
//!   (`*.bin`, `*.pt`, `*.pth`, `*.ckpt`) is an error; nothing is unpickled.
//! * [`Checkpoint::load_weights`] fills every variable of a `VarStore` from the tensor of
//!   the same name; a missing tensor, a shape mismatch, an unsupported dtype or a file
//!   too short for its header is an error naming the file and the tensor. Tensors of the
//!   file that no variable asks for (e.g. an `lm_head.weight` tied to the embeddings) are
//!   ignored.
//! * Data is read tensor by tensor, each in chunks of whole rows (dim 0) of at most
//!   [`LOAD_CHUNK_BYTES`] (a single row may exceed it) copied into the variable, so peak
//!   memory is the model plus about two chunks, not two copies of the largest tensor (the
//!   262k-row embedding of Gemma-3); dtype is converted (f32 / bf16 / f16 / f64 in the file
//!   to the variable's kind).
//! * [`Checkpoint::content_hash`] is blake3 over `config.json`, `tokenizer.json` (when
//!   present) and the weight files in order, each prefixed by its file name and length.

use std::collections::BTreeSet;
#[cfg(feature = "torch")]
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
#[cfg(feature = "torch")]
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use safetensors::tensor::Metadata;
#[cfg(feature = "torch")]
use safetensors::Dtype;
use serde_json::Value;
#[cfg(feature = "torch")]
use tch::{Kind, Tensor};

use crate::error::ModelError;

/// Name of the single-file weights.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Name of the sharded-weights index.
pub const WEIGHTS_INDEX: &str = "model.safetensors.index.json";
/// Name of the model configuration.
pub const CONFIG_FILE: &str = "config.json";
/// Name of the tokenizer.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// Upper bound on the bytes read at once while loading a tensor (whole rows; see the module note).
pub const LOAD_CHUNK_BYTES: usize = 16 << 20;

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

fn file_err(path: &Path, message: impl Into<String>) -> ModelError {
    ModelError::File {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn tensor_err(path: &Path, tensor: &str, message: impl Into<String>) -> ModelError {
    ModelError::Tensor {
        path: path.to_path_buf(),
        tensor: tensor.to_string(),
        message: message.into(),
    }
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
fn cached_snapshot(cache: &Path, name: &str) -> Result<PathBuf, ModelError> {
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
    pub fn resolve(name_or_path: &str) -> Result<Checkpoint, ModelError> {
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
    pub fn from_dir(dir: &Path) -> Result<Checkpoint, ModelError> {
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

    /// `config.json`'s `model_type`.
    pub fn model_type(&self) -> Result<String, ModelError> {
        match self.config.get("model_type") {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(ModelError::Config {
                path: self.config_path(),
                field: "model_type".into(),
                message: format!("expected a string, found {other}"),
            }),
            None => Err(ModelError::Config {
                path: self.config_path(),
                field: "model_type".into(),
                message: "missing".into(),
            }),
        }
    }

    /// blake3 (hex) over config, tokenizer (if present) and weights.
    pub fn content_hash(&self) -> Result<String, ModelError> {
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
    pub fn tensor_names(&self) -> Result<std::collections::HashSet<String>, ModelError> {
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

    /// Copies every variable of `vs` from the tensor of the same name in the weight files.
    #[cfg(feature = "torch")]
    pub fn load_weights(&self, vs: &mut tch::nn::VarStore) -> Result<(), ModelError> {
        self.load_weights_chunked(vs, LOAD_CHUNK_BYTES)
    }

    /// [`Checkpoint::load_weights`] reading at most `chunk_bytes` (whole rows, at least one)
    /// at a time; the result does not depend on `chunk_bytes`.
    #[cfg(feature = "torch")]
    pub fn load_weights_chunked(
        &self,
        vs: &mut tch::nn::VarStore,
        chunk_bytes: usize,
    ) -> Result<(), ModelError> {
        let mut index: HashMap<String, (usize, safetensors::tensor::TensorInfo)> = HashMap::new();
        let mut headers = Vec::with_capacity(self.weight_files.len());
        for (fi, path) in self.weight_files.iter().enumerate() {
            let header = SafetensorsHeader::read(path)?;
            for (name, info) in header.metadata.tensors() {
                index.entry(name).or_insert((fi, info.clone()));
            }
            headers.push(header);
        }
        let mut names: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let missing: Vec<&str> = names
            .iter()
            .filter(|(n, _)| !index.contains_key(n))
            .map(|(n, _)| n.as_str())
            .collect();
        if let Some(first) = missing.first() {
            let where_ = self.weights_label();
            let more = if missing.len() > 1 {
                format!(" (and {} more missing)", missing.len() - 1)
            } else {
                String::new()
            };
            return Err(tensor_err(
                &where_,
                first,
                format!("missing from the checkpoint{more}"),
            ));
        }
        let mut files: Vec<Option<File>> = self.weight_files.iter().map(|_| None).collect();
        tch::no_grad(|| -> Result<(), ModelError> {
            for (name, var) in names.iter_mut() {
                let (fi, info) = &index[name.as_str()];
                let header = &headers[*fi];
                let path = &header.path;
                let want: Vec<i64> = var.size();
                let have: Vec<i64> = info.shape.iter().map(|&d| d as i64).collect();
                if want != have {
                    return Err(tensor_err(
                        path,
                        name,
                        format!("shape mismatch: checkpoint {have:?}, model expects {want:?}"),
                    ));
                }
                let kind = dtype_kind(info.dtype).ok_or_else(|| {
                    tensor_err(path, name, format!("unsupported dtype {:?}", info.dtype))
                })?;
                let (start, end) = info.data_offsets;
                let abs_end = header.data_start + end as u64;
                if abs_end > header.file_len {
                    return Err(tensor_err(
                        path,
                        name,
                        format!("file is truncated: tensor data ends at byte {abs_end}, file has {} bytes", header.file_len),
                    ));
                }
                let file = match &mut files[*fi] {
                    Some(f) => f,
                    slot => {
                        slot.insert(File::open(path).map_err(|e| file_err(path, e.to_string()))?)
                    }
                };
                let total = end - start;
                // Rows along dim 0 (a 0-d tensor is one row); a chunk holds whole rows.
                let rows = have.first().map_or(1, |&r| r.max(0) as usize);
                if rows == 0 || total == 0 {
                    continue;
                }
                if total % rows != 0 {
                    return Err(tensor_err(
                        path,
                        name,
                        format!("{total} bytes do not split into {rows} rows"),
                    ));
                }
                let row_bytes = total / rows;
                let per_chunk = (chunk_bytes / row_bytes).max(1);
                let mut r0 = 0;
                while r0 < rows {
                    let n = per_chunk.min(rows - r0);
                    let mut buf = vec![0u8; n * row_bytes];
                    file.seek(SeekFrom::Start(
                        header.data_start + (start + r0 * row_bytes) as u64,
                    ))
                    .and_then(|_| file.read_exact(&mut buf))
                    .map_err(|e| tensor_err(path, name, format!("read failed: {e}")))?;
                    let mut shape = have.clone();
                    if let Some(first) = shape.first_mut() {
                        *first = n as i64;
                    }
                    let src = Tensor::f_from_data_size(&buf, &shape, kind)
                        .map_err(|e| tensor_err(path, name, e.to_string()))?;
                    drop(buf);
                    let src = src
                        .f_to_kind(var.kind())
                        .map_err(|e| tensor_err(path, name, e.to_string()))?;
                    let mut dst = if have.is_empty() {
                        var.shallow_clone()
                    } else {
                        var.narrow(0, r0 as i64, n as i64)
                    };
                    dst.f_copy_(&src)
                        .map_err(|e| tensor_err(path, name, e.to_string()))?;
                    r0 += n;
                }
            }
            Ok(())
        })
    }

    /// The file to name when a tensor is missing: the index when sharded, else the weights.
    #[cfg(feature = "torch")]
    fn weights_label(&self) -> PathBuf {
        if self.dir.join(WEIGHTS_INDEX).is_file() && self.weight_files.len() != 1 {
            self.dir.join(WEIGHTS_INDEX)
        } else {
            self.weight_files
                .first()
                .cloned()
                .unwrap_or_else(|| self.dir.join(WEIGHTS_FILE))
        }
    }
}

/// The weight files of a folder: `model.safetensors`, else those the sharded index lists.
fn find_weight_files(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
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
#[cfg_attr(not(feature = "torch"), allow(dead_code))]
struct SafetensorsHeader {
    path: PathBuf,
    metadata: Metadata,
    /// Byte offset of the data section (8 + header length).
    data_start: u64,
    file_len: u64,
}

impl SafetensorsHeader {
    fn read(path: &Path) -> Result<SafetensorsHeader, ModelError> {
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

/// The tch kind of a floating safetensors dtype (the only ones model weights use).
#[cfg(feature = "torch")]
fn dtype_kind(d: Dtype) -> Option<Kind> {
    match d {
        Dtype::F32 => Some(Kind::Float),
        Dtype::BF16 => Some(Kind::BFloat16),
        Dtype::F16 => Some(Kind::Half),
        Dtype::F64 => Some(Kind::Double),
        _ => None,
    }
}

/// Whether any of the safetensors files declares a tensor `name` (headers only are read).
pub fn safetensors_has_tensor(files: &[PathBuf], name: &str) -> Result<bool, ModelError> {
    const MAX_HEADER: u64 = 256 << 20;
    for path in files {
        let err = |m: String| ModelError::File {
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
