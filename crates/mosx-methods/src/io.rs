//! Named tensors to and from safetensors bytes, and crash-safe file writes.
//!
//! Invariants: f32, f64 and i64 tensors round-trip bit for bit (bf16 and f16 are widened
//! to f32 on the way out: trainable variables are f32 anyway); names are kept as given;
//! [`write_atomic`] writes a temp file, fsyncs it, renames it over the target and fsyncs
//! the folder, so a reader sees the old or the new file, never a torn one.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::Dtype;
use tch::{Device, Kind, Tensor};

use crate::error::MethodError;

fn adapter_err(name: &str, message: impl Into<String>) -> MethodError {
    MethodError::Adapter {
        name: name.into(),
        message: message.into(),
    }
}

/// Safetensors bytes of `named` (see the module note).
pub fn to_bytes(named: &[(String, Tensor)]) -> Result<Vec<u8>, MethodError> {
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::with_capacity(named.len());
    for (name, t) in named {
        let t = t.detach().to_device(Device::Cpu).contiguous();
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        let flat = t.flatten(0, -1);
        let (dtype, bytes) = match t.kind() {
            Kind::Int64 => {
                let v = Vec::<i64>::try_from(&flat)?;
                (Dtype::I64, v.iter().flat_map(|x| x.to_le_bytes()).collect())
            }
            Kind::Double => {
                let v = Vec::<f64>::try_from(&flat)?;
                (Dtype::F64, v.iter().flat_map(|x| x.to_le_bytes()).collect())
            }
            Kind::Float | Kind::BFloat16 | Kind::Half => {
                let v = Vec::<f32>::try_from(&flat.to_kind(Kind::Float))?;
                (Dtype::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect())
            }
            other => return Err(adapter_err(name, format!("cannot save a {other:?} tensor"))),
        };
        owned.push((name.clone(), dtype, shape, bytes));
    }
    let views: Vec<(String, TensorView<'_>)> = owned
        .iter()
        .map(|(n, d, s, b)| {
            TensorView::new(*d, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| adapter_err(n, e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    safetensors::serialize(views, &None).map_err(|e| adapter_err("*", e.to_string()))
}

/// Named tensors from safetensors bytes, on `device`, in the file's order.
pub fn from_bytes(bytes: &[u8], device: Device) -> Result<Vec<(String, Tensor)>, MethodError> {
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| adapter_err("*", format!("not a safetensors file: {e}")))?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let data = view.data();
        let t = match view.dtype() {
            Dtype::F32 => Tensor::from_slice(
                &data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect::<Vec<_>>(),
            ),
            Dtype::F64 => Tensor::from_slice(
                &data
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect::<Vec<_>>(),
            ),
            Dtype::I64 => Tensor::from_slice(
                &data
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect::<Vec<_>>(),
            ),
            other => return Err(adapter_err(&name, format!("unsupported dtype {other:?}"))),
        };
        out.push((name, t.view(shape.as_slice()).to_device(device)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Copies `saved` into the variables `vars` by name, under no_grad. Every variable must be
/// present with its shape, and every saved tensor must name a variable.
pub fn restore(vars: &[(String, Tensor)], saved: &[(String, Tensor)]) -> Result<(), MethodError> {
    let by_name: HashMap<&str, &Tensor> = saved.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let known: std::collections::HashSet<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    if let Some((extra, _)) = saved.iter().find(|(n, _)| !known.contains(n.as_str())) {
        return Err(adapter_err(
            extra,
            "saved, but the method has no such variable",
        ));
    }
    let _g = tch::no_grad_guard();
    for (name, var) in vars {
        let src = by_name
            .get(name.as_str())
            .ok_or_else(|| adapter_err(name, "missing from the saved adapter"))?;
        if src.size() != var.size() {
            return Err(adapter_err(
                name,
                format!("shape {:?} saved, {:?} expected", src.size(), var.size()),
            ));
        }
        let mut v = var.shallow_clone();
        v.copy_(&src.to_kind(var.kind()).to_device(var.device()));
    }
    Ok(())
}

/// Writes `bytes` to `path` crash-safely (see the module note).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), MethodError> {
    let err = |e: std::io::Error| MethodError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        f.write_all(bytes).map_err(err)?;
        f.sync_all().map_err(err)?;
    }
    std::fs::rename(&tmp, path).map_err(err)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
