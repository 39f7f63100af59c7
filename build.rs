//! Link-time settings and build provenance for the mosx binary.
//!
//! * tch does not set an rpath, so the binary would need LD_LIBRARY_PATH to find
//!   libtorch; we embed the libtorch directory torch-sys built against.
//! * CUDA is not linked here: `libtorch_cuda.so` is opened at start-up
//!   (`src/device.rs`), so one binary serves CPU-only and CUDA machines. With
//!   `MOSX_GPU=1` it is also linked (`--no-as-needed`), for builds that must fail
//!   loudly when the CUDA libraries are absent.
//! * The git commit and dirty flag are recorded for the provenance of results.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=MOSX_GPU");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{lib}");
        println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{lib}");
        if std::env::var("MOSX_GPU").as_deref() == Ok("1") {
            println!("cargo:rustc-link-arg-bins=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/index");
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success());
    let commit = commit
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    println!("cargo:rustc-env=MOSX_GIT_COMMIT={commit}");
    println!(
        "cargo:rustc-env=MOSX_GIT_DIRTY={}",
        if dirty { "1" } else { "0" }
    );
}
