//! Loading a checkpoint's weights into a `VarStore`; resolving the checkpoint (folder or HF
//! cache, config, tokenizer and weight files, headers) is tch-free and lives in
//! `mosx_config::checkpoint`, re-exported here.
//!
//! Invariants:
//! * Only safetensors are ever read (see `mosx_config::checkpoint`).
//! * [`LoadWeights::load_weights`] fills every variable of a `VarStore` from the tensor of
//!   the same name; a missing tensor, a shape mismatch, an unsupported dtype or a file
//!   too short for its header is an error naming the file and the tensor. Tensors of the
//!   file that no variable asks for (e.g. an `lm_head.weight` tied to the embeddings) are
//!   ignored.
//! * Data is read tensor by tensor, each in chunks of whole rows (dim 0) of at most
//!   [`LOAD_CHUNK_BYTES`] (a single row may exceed it) copied into the variable, so peak
//!   memory is the model plus about two chunks, not two copies of the largest tensor (the
//!   262k-row embedding of Gemma-3); dtype is converted (f32 / bf16 / f16 / f64 in the file
//!   to the variable's kind).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorInfo;
use safetensors::Dtype;
use tch::{Kind, Tensor};

pub use mosx_config::checkpoint::*;
use mosx_config::CheckpointError;

use crate::error::ModelError;

/// Upper bound on the bytes read at once while loading a tensor (whole rows; see the module note).
pub const LOAD_CHUNK_BYTES: usize = 16 << 20;

fn file_err(path: &Path, message: impl Into<String>) -> ModelError {
    CheckpointError::file(path, message).into()
}

fn tensor_err(path: &Path, tensor: &str, message: impl Into<String>) -> ModelError {
    CheckpointError::tensor(path, tensor, message).into()
}

/// Weight loading for a resolved [`Checkpoint`] (a trait: `Checkpoint` is mosx-config's).
pub trait LoadWeights {
    /// Copies every variable of `vs` from the tensor of the same name in the weight files.
    fn load_weights(&self, vs: &mut tch::nn::VarStore) -> Result<(), ModelError>;

    /// [`LoadWeights::load_weights`] reading at most `chunk_bytes` (whole rows, at least one)
    /// at a time; the result does not depend on `chunk_bytes`.
    fn load_weights_chunked(
        &self,
        vs: &mut tch::nn::VarStore,
        chunk_bytes: usize,
    ) -> Result<(), ModelError>;
}

impl LoadWeights for Checkpoint {
    fn load_weights(&self, vs: &mut tch::nn::VarStore) -> Result<(), ModelError> {
        self.load_weights_chunked(vs, LOAD_CHUNK_BYTES)
    }

    fn load_weights_chunked(
        &self,
        vs: &mut tch::nn::VarStore,
        chunk_bytes: usize,
    ) -> Result<(), ModelError> {
        let (index, headers) = tensor_index(&self.weight_files)?;
        let mut names: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        check_present(self, &names, &index)?;
        let mut files: Vec<Option<File>> = self.weight_files.iter().map(|_| None).collect();
        tch::no_grad(|| -> Result<(), ModelError> {
            for (name, var) in names.iter_mut() {
                let (fi, info) = &index[name.as_str()];
                let src = Source {
                    header: &headers[*fi],
                    info,
                    name,
                };
                let kind = src.check(var)?;
                let path = &src.header.path;
                let file = match &mut files[*fi] {
                    Some(f) => f,
                    slot => {
                        slot.insert(File::open(path).map_err(|e| file_err(path, e.to_string()))?)
                    }
                };
                src.copy_into(file, var, kind, chunk_bytes)?;
            }
            Ok(())
        })
    }
}

/// Where each tensor name lies: the index of its file (the first file naming it) and its
/// header entry, beside the files' headers.
type TensorIndex = HashMap<String, (usize, TensorInfo)>;

/// Reads the headers of `weight_files` and indexes their tensors by name.
fn tensor_index(
    weight_files: &[PathBuf],
) -> Result<(TensorIndex, Vec<SafetensorsHeader>), ModelError> {
    let mut index = TensorIndex::new();
    let mut headers = Vec::with_capacity(weight_files.len());
    for (fi, path) in weight_files.iter().enumerate() {
        let header = SafetensorsHeader::read(path)?;
        for (name, info) in header.metadata.tensors() {
            index.entry(name).or_insert((fi, info.clone()));
        }
        headers.push(header);
    }
    Ok((index, headers))
}

/// Fails, naming the first (by name) and counting the others, when a variable has no
/// tensor in the checkpoint.
fn check_present(
    ck: &Checkpoint,
    names: &[(String, Tensor)],
    index: &TensorIndex,
) -> Result<(), ModelError> {
    let missing: Vec<&str> = names
        .iter()
        .filter(|(n, _)| !index.contains_key(n))
        .map(|(n, _)| n.as_str())
        .collect();
    let Some(first) = missing.first() else {
        return Ok(());
    };
    let more = if missing.len() > 1 {
        format!(" (and {} more missing)", missing.len() - 1)
    } else {
        String::new()
    };
    Err(tensor_err(
        &weights_label(ck),
        first,
        format!("missing from the checkpoint{more}"),
    ))
}

/// One tensor of a weight file: its header entry, its file's header and its name.
struct Source<'a> {
    header: &'a SafetensorsHeader,
    info: &'a TensorInfo,
    name: &'a str,
}

impl Source<'_> {
    fn err(&self, message: impl Into<String>) -> ModelError {
        tensor_err(&self.header.path, self.name, message)
    }

    fn shape(&self) -> Vec<i64> {
        self.info.shape.iter().map(|&d| d as i64).collect()
    }

    /// Checks the tensor against the variable `var` (same shape) and its file (a supported
    /// dtype, the data inside the file); returns the tch kind of its data.
    fn check(&self, var: &Tensor) -> Result<Kind, ModelError> {
        let want: Vec<i64> = var.size();
        let have = self.shape();
        if want != have {
            return Err(self.err(format!(
                "shape mismatch: checkpoint {have:?}, model expects {want:?}"
            )));
        }
        let kind = dtype_kind(self.info.dtype)
            .ok_or_else(|| self.err(format!("unsupported dtype {:?}", self.info.dtype)))?;
        let (_, end) = self.info.data_offsets;
        let abs_end = self.header.data_start + end as u64;
        if abs_end > self.header.file_len {
            return Err(self.err(format!(
                "file is truncated: tensor data ends at byte {abs_end}, file has {} bytes",
                self.header.file_len
            )));
        }
        Ok(kind)
    }

    /// Copies the tensor's data from `file` into `var`, in chunks of whole rows (dim 0; a
    /// 0-d tensor is one row) of at most `chunk_bytes` (at least one row each).
    fn copy_into(
        &self,
        file: &mut File,
        var: &Tensor,
        kind: Kind,
        chunk_bytes: usize,
    ) -> Result<(), ModelError> {
        let (start, end) = self.info.data_offsets;
        let total = end - start;
        let have = self.shape();
        let rows = have.first().map_or(1, |&r| r.max(0) as usize);
        if rows == 0 || total == 0 {
            return Ok(());
        }
        if total % rows != 0 {
            return Err(self.err(format!("{total} bytes do not split into {rows} rows")));
        }
        let row_bytes = total / rows;
        let per_chunk = (chunk_bytes / row_bytes).max(1);
        let mut r0 = 0;
        while r0 < rows {
            let n = per_chunk.min(rows - r0);
            let src = self
                .read_rows(file, kind, r0, n, row_bytes)?
                .f_to_kind(var.kind())
                .map_err(|e| self.err(e.to_string()))?;
            let mut dst = if have.is_empty() {
                var.shallow_clone()
            } else {
                var.narrow(0, r0 as i64, n as i64)
            };
            dst.f_copy_(&src).map_err(|e| self.err(e.to_string()))?;
            r0 += n;
        }
        Ok(())
    }

    /// Rows `r0..r0 + n` of the tensor (`row_bytes` each) read from `file`, in the file's
    /// `kind`.
    fn read_rows(
        &self,
        file: &mut File,
        kind: Kind,
        r0: usize,
        n: usize,
        row_bytes: usize,
    ) -> Result<Tensor, ModelError> {
        let (start, _) = self.info.data_offsets;
        let mut buf = vec![0u8; n * row_bytes];
        file.seek(SeekFrom::Start(
            self.header.data_start + (start + r0 * row_bytes) as u64,
        ))
        .and_then(|_| file.read_exact(&mut buf))
        .map_err(|e| self.err(format!("read failed: {e}")))?;
        let mut shape = self.shape();
        if let Some(first) = shape.first_mut() {
            *first = n as i64;
        }
        Tensor::f_from_data_size(&buf, &shape, kind).map_err(|e| self.err(e.to_string()))
    }
}

/// The file to name when a tensor is missing: the index when sharded, else the weights.
fn weights_label(ck: &Checkpoint) -> PathBuf {
    if ck.dir.join(WEIGHTS_INDEX).is_file() && ck.weight_files.len() != 1 {
        ck.dir.join(WEIGHTS_INDEX)
    } else {
        ck.weight_files
            .first()
            .cloned()
            .unwrap_or_else(|| ck.dir.join(WEIGHTS_FILE))
    }
}

/// The tch kind of a floating safetensors dtype (the only ones model weights use).
fn dtype_kind(d: Dtype) -> Option<Kind> {
    match d {
        Dtype::F32 => Some(Kind::Float),
        Dtype::BF16 => Some(Kind::BFloat16),
        Dtype::F16 => Some(Kind::Half),
        Dtype::F64 => Some(Kind::Double),
        _ => None,
    }
}
