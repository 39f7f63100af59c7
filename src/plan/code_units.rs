//! Hashing of code units, shared by `build.rs` (which includes this file with `#[path]`) and
//! the tests that check the generated table against the sources.
//!
//! A unit is a workspace crate (`mosx-data`: every file under `crates/mosx-data/src/` plus its
//! `Cargo.toml`, in sorted relative-path order, each as path + length + contents) or a source
//! file of one of [`FILE_UNIT_DIRS`] (`src/stages/load.rs`,
//! `crates/mosx-worker/src/runners/train.rs`: its contents), or one of the two build units,
//! [`LOCK_UNIT`] (`Cargo.lock`) and [`RUSTC_UNIT`] (`rustc -vV`). The hash is blake3 hex.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Folders whose every file is a unit of its own: the root crate's sources, and the worker's,
/// which hold the runners of single stage kinds (a kind names the files it runs, so editing
/// one kind's runner does not make the other kinds' results stale).
pub const FILE_UNIT_DIRS: &[&str] = &["src", "crates/mosx-worker/src"];

/// The unit of the locked dependency versions: the hash of the workspace's `Cargo.lock`.
pub const LOCK_UNIT: &str = "Cargo.lock";

/// The unit of the compiler: the hash of `rustc -vV` (version, commit, host, LLVM), captured
/// by `build.rs` from the `rustc` cargo builds with. Like cargo's fingerprints, a new compiler
/// or a dependency update makes every result stale.
pub const RUSTC_UNIT: &str = "rustc";

/// blake3 hex of `bytes`.
pub fn hash_bytes(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Every regular file under `dir`, as paths relative to `root` with `/` separators, sorted.
pub fn files_under(root: &Path, dir: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let t = e.file_type()?;
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                let rel = e.path();
                let rel = rel.strip_prefix(root).unwrap_or(&rel);
                let s: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(s.join("/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The files a crate unit covers (relative to `root`): `crates/<dir>/Cargo.toml` and every
/// file under `crates/<dir>/src/`, sorted.
pub fn crate_files(root: &Path, dir: &str) -> std::io::Result<Vec<String>> {
    let mut files = files_under(root, &root.join("crates").join(dir).join("src"))?;
    files.push(format!("crates/{dir}/Cargo.toml"));
    files.sort();
    Ok(files)
}

/// blake3 hex over `path NUL len NUL contents` of each file, in the order given.
pub fn hash_files(root: &Path, files: &[String]) -> std::io::Result<String> {
    let mut h = blake3::Hasher::new();
    for f in files {
        let bytes = std::fs::read(root.join(f))?;
        h.update(f.as_bytes());
        h.update(&[0]);
        h.update(bytes.len().to_string().as_bytes());
        h.update(&[0]);
        h.update(&bytes);
    }
    Ok(h.finalize().to_hex().to_string())
}

/// blake3 hex of one file's contents.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    Ok(blake3::hash(&std::fs::read(path)?).to_hex().to_string())
}

/// The `name = "..."` of a Cargo.toml's `[package]` section.
pub fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_package = t == "[package]";
            continue;
        }
        if in_package {
            if let Some(rest) = t.strip_prefix("name") {
                let rest = rest.trim_start();
                if let Some(v) = rest.strip_prefix('=') {
                    return Some(v.trim().trim_matches('"').to_string());
                }
            }
        }
    }
    None
}

/// Dependencies named in a Cargo.toml's `[dependencies]` section that are in `known`.
pub fn workspace_deps(manifest: &str, known: &[String]) -> Vec<String> {
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in manifest.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_deps = t == "[dependencies]";
            continue;
        }
        if !in_deps {
            continue;
        }
        let name: String = t
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        if known.contains(&name) && !out.contains(&name) {
            out.push(name);
        }
    }
    out.sort();
    out
}
