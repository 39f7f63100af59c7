//! Device resolution: `--device` (a [`DeviceRequest`] the planner checked) against this
//! machine. CUDA support lives in `libtorch_cuda.so`, which the linker drops because nothing
//! references it directly; we open it at start-up instead of linking it, so the same binary
//! runs on CPU-only machines (where it is absent or its CUDA dependencies are) and on CUDA
//! machines.
//!
//! Invariant: [`resolve`] gives the device with its label (`cpu`, `cuda:N`), which is what the
//! planner shows and what stage rows record; the worker runs every job on that one device.

use std::sync::Once;

use mosx_stage::device::DeviceRequest;

static INIT: Once = Once::new();

/// Load libtorch's CUDA backend if it is loadable. Idempotent.
pub fn init_cuda() {
    INIT.call_once(|| {
        // SAFETY: dlopen with a valid C string; the handle is intentionally leaked so the
        // library stays loaded for the life of the process.
        let _ = unsafe {
            libc::dlopen(
                c"libtorch_cuda.so".as_ptr(),
                libc::RTLD_NOW | libc::RTLD_GLOBAL,
            )
        };
    });
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("--device `{0}`: CUDA is not available here (libtorch_cuda could not be loaded or no GPU is visible)")]
    NoCuda(String),
    #[error("--device `{given}`: only {count} CUDA device(s) visible")]
    Index { given: String, count: usize },
}

/// The device `req` names on this machine, with its label; `auto` picks CUDA device 0 when
/// CUDA is available, else the CPU.
pub fn resolve(req: DeviceRequest) -> Result<(tch::Device, String), DeviceError> {
    init_cuda();
    let count = if tch::Cuda::is_available() {
        tch::Cuda::device_count() as usize
    } else {
        0
    };
    match req {
        DeviceRequest::Auto if count > 0 => Ok((tch::Device::Cuda(0), "cuda:0".into())),
        DeviceRequest::Auto | DeviceRequest::Cpu => Ok((tch::Device::Cpu, "cpu".into())),
        DeviceRequest::Cuda(idx) => {
            if count == 0 {
                return Err(DeviceError::NoCuda(req.label()));
            }
            if idx >= count {
                return Err(DeviceError::Index {
                    given: req.label(),
                    count,
                });
            }
            Ok((tch::Device::Cuda(idx), format!("cuda:{idx}")))
        }
    }
}
