//! Link-time settings of the stage worker, the one mosx executable that links libtorch.
//!
//! * tch does not set an rpath, so the binary would need LD_LIBRARY_PATH to find libtorch; we
//!   embed the libtorch directory torch-sys built against (binaries and tests), so
//!   `mosx-worker` starts with an empty environment (`env -i`).
//! * CUDA is not linked here: `libtorch_cuda.so` is opened at start-up (`src/device.rs`), so
//!   one binary serves CPU-only and CUDA machines. With `MOSX_GPU=1` it is also linked
//!   (`--no-as-needed`), for builds that must fail loudly when the CUDA libraries are absent.
//! * Its code table (`$OUT_DIR/code_hashes.rs`, the kernel's `code_units::generate`, as the
//!   planner's build script writes its own from the same sources): the worker checks each
//!   job's code units against it.
//! * `MOSX_WORKER_LIBTORCH`: the version of that libtorch, which the worker reports in its
//!   hello and checks against the `libtorch` unit of the keys it is sent.

#[path = "../mosx-stage/src/code_units.rs"]
mod code_units;
#[path = "../mosx-stage/src/libtorch_version.rs"]
mod libtorch_version;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let root = std::path::Path::new(&manifest).join("../..");
    code_units::generate(&root.canonicalize().unwrap_or(root));
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=MOSX_GPU");
    let mut version = "unknown".to_string();
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{lib}");
        println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{lib}");
        if std::env::var("MOSX_GPU").as_deref() == Ok("1") {
            println!("cargo:rustc-link-arg-bins=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
        if let Some((v, file)) = std::path::Path::new(&lib)
            .parent()
            .and_then(libtorch_version::libtorch_version)
        {
            println!("cargo:rerun-if-changed={}", file.display());
            version = v;
        }
    }
    println!("cargo:rustc-env=MOSX_WORKER_LIBTORCH={version}");
}
