//! Device selection. CUDA support lives in `libtorch_cuda.so`, which the linker
//! drops because nothing references it directly; we open it at start-up instead of
//! linking it, so the same binary runs on CPU-only machines (where it is absent or
//! its CUDA dependencies are) and on CUDA machines.

use std::sync::Once;

static INIT: Once = Once::new();

/// Load libtorch's CUDA backend if it is loadable. Idempotent.
pub fn init_cuda() {
    INIT.call_once(|| {
        for name in [c"libtorch_cuda.so"] {
            // SAFETY: dlopen with a valid C string; the handle is intentionally leaked
            // so the library stays loaded for the life of the process.
            let _ = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
        }
    });
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("--device `{0}`: expected cpu, cuda or cuda:N")]
    Syntax(String),
    #[error("--device `{0}`: CUDA is not available here (libtorch_cuda could not be loaded or no GPU is visible)")]
    NoCuda(String),
    #[error("--device `{given}`: only {count} CUDA device(s) visible")]
    Index { given: String, count: usize },
}

/// Parse `--device`; `None` picks CUDA when available, else CPU.
pub fn resolve(arg: Option<&str>) -> Result<(tch::Device, String), DeviceError> {
    init_cuda();
    let count = if tch::Cuda::is_available() {
        tch::Cuda::device_count() as usize
    } else {
        0
    };
    match arg {
        None if count > 0 => Ok((tch::Device::Cuda(0), "cuda:0".into())),
        None | Some("cpu") => Ok((tch::Device::Cpu, "cpu".into())),
        Some(s) => {
            let idx = match s {
                "cuda" => 0,
                _ => s
                    .strip_prefix("cuda:")
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or_else(|| DeviceError::Syntax(s.into()))?,
            };
            if count == 0 {
                return Err(DeviceError::NoCuda(s.into()));
            }
            if idx >= count {
                return Err(DeviceError::Index {
                    given: s.into(),
                    count,
                });
            }
            Ok((tch::Device::Cuda(idx), format!("cuda:{idx}")))
        }
    }
}
