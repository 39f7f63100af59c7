//! Link-time settings for the mosx binary.
//!
//! tch does not set an rpath, so the binary would need LD_LIBRARY_PATH to find
//! libtorch; we embed the libtorch directory that torch-sys built against. CUDA is
//! not linked here: `libtorch_cuda.so` is opened at start-up (see `src/device.rs`),
//! so one binary serves CPU-only and CUDA machines.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}
