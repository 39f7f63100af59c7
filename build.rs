//! Build provenance and code hashes of the planner (`mosx`).
//!
//! * mosx links no libtorch, in any build (its tch-free dependencies are mosx-config and the
//!   stage kernel, never mosx-models or mosx-methods); the stage worker `mosx-worker` does,
//!   with its own build script for the rpath and CUDA. `$LIBTORCH` is only read for its
//!   version.
//! * The git commit and dirty flag are recorded for the provenance of results.
//! * Code hashes: every workspace crate, every root-crate source file and every source file
//!   of the worker crate is hashed (`crates/mosx-stage/src/code_units.rs`, which the worker's
//!   build script runs too) into `$OUT_DIR/code_hashes.rs`,
//!   with each crate's workspace dependencies and the libtorch version (`$LIBTORCH`: the one
//!   the worker is built against), so stage keys cover the code each kind runs; with
//!   `Cargo.lock` and the compiler (`rustc -vV`) as two more units every kind runs.
use std::path::PathBuf;
use std::process::Command;

#[path = "crates/mosx-stage/src/code_units.rs"]
mod code_units;
#[path = "crates/mosx-stage/src/libtorch_version.rs"]
mod libtorch_version;

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    code_units::generate(&root);
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
