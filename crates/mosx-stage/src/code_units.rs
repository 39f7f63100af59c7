//! Hashing of code units, shared by the build scripts of the planner and of the worker (which
//! include this file with `#[path]`, each generating the table of its own binary with
//! [`generate`]: the same sources give both the same table) and by the tests that check the
//! generated table against the sources.
//!
//! A unit is a workspace crate (`mosx-data`: every file under `crates/mosx-data/src/` plus its
//! `Cargo.toml`, in sorted relative-path order, each as path + length + contents) or a source
//! file of one of [`FILE_UNIT_DIRS`] (`crates/mosx-kinds/src/load.rs`,
//! `crates/mosx-worker/src/runners/train.rs`: its contents), or one of the two build units,
//! [`LOCK_UNIT`] (`Cargo.lock`) and [`RUSTC_UNIT`] (`rustc -vV`). The hash is blake3 hex.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Folders whose every file is a unit of its own: the root crate's sources, the stage kinds'
/// (one kind per file) and the worker's, which hold the runners of single stage kinds (a kind names the files it runs, so editing
/// one kind's runner does not make the other kinds' results stale).
pub const FILE_UNIT_DIRS: &[&str] = &["src", "crates/mosx-kinds/src", "crates/mosx-worker/src"];

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

/// Build scripts (the planner's and the worker's, each for its own binary): writes
/// `$OUT_DIR/code_hashes.rs`, the table [`crate::code::CodeTable`] is made from. `root` is the
/// workspace root. Writes: `UNITS` (unit name → blake3 hex, sorted), `CRATE_DEPS`
/// (crate → its workspace dependencies) and `LIBTORCH_VERSION`.
pub fn generate(root: &Path) {
    let root = root.to_path_buf();
    let mut units: Vec<(String, String)> = Vec::new();
    // Workspace crates: (dir, package name, manifest).
    let mut crates: Vec<(String, String, String)> = Vec::new();
    let mut dirs: Vec<String> = std::fs::read_dir(root.join("crates"))
        .expect("read crates/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    for dir in dirs {
        let manifest_path = root.join("crates").join(&dir).join("Cargo.toml");
        let manifest = std::fs::read_to_string(&manifest_path).expect("read a crate manifest");
        let name = package_name(&manifest).unwrap_or_else(|| dir.clone());
        println!("cargo:rerun-if-changed={}", manifest_path.display());
        println!(
            "cargo:rerun-if-changed={}",
            root.join("crates").join(&dir).join("src").display()
        );
        let files = crate_files(&root, &dir).expect("list a crate's sources");
        let hash = hash_files(&root, &files).expect("hash a crate's sources");
        units.push((name.clone(), hash));
        crates.push((dir, name, manifest));
    }
    let names: Vec<String> = crates.iter().map(|c| c.1.clone()).collect();
    println!("cargo:rerun-if-changed={}", root.join("src").display());
    for dir in FILE_UNIT_DIRS {
        for f in files_under(&root, &root.join(dir)).expect("list a source folder") {
            let hash = hash_file(&root.join(&f)).expect("hash a source file");
            units.push((f, hash));
        }
    }
    // The build itself, as cargo's fingerprints cover it: the locked dependency versions and
    // the compiler.
    let lock = root.join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    units.push((
        LOCK_UNIT.to_string(),
        hash_file(&lock).expect("hash Cargo.lock"),
    ));
    units.push((RUSTC_UNIT.to_string(), rustc_hash()));
    units.sort();
    let mut out = String::from("// Generated by build.rs: code unit hashes.\n");
    out.push_str("pub static UNITS: &[(&str, &str)] = &[\n");
    for (n, h) in &units {
        out.push_str(&format!("    ({n:?}, {h:?}),\n"));
    }
    out.push_str("];\npub static CRATE_DEPS: &[(&str, &[&str])] = &[\n");
    for (_, name, manifest) in &crates {
        let deps = workspace_deps(manifest, &names);
        out.push_str(&format!("    ({name:?}, &{deps:?}),\n"));
    }
    out.push_str(&format!(
        "];\npub const LIBTORCH_VERSION: &str = {:?};\n",
        libtorch_version()
    ));
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("code_hashes.rs");
    if std::fs::read_to_string(&dest).ok().as_deref() != Some(out.as_str()) {
        std::fs::write(&dest, out).expect("write code_hashes.rs");
    }
}

/// blake3 of `$RUSTC -vV` (the compiler cargo builds with: version, commit hash and date,
/// host, LLVM version). A new compiler rebuilds everything, build scripts included.
fn rustc_hash() -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .arg("-vV")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .expect("run `rustc -vV`");
    hash_bytes(&out.stdout)
}

/// The version of the libtorch in `$LIBTORCH` (what torch-sys builds the worker against; the
/// worker checks at run time that the keys it is sent name its own), see
/// [`libtorch_version::libtorch_version`]; `unknown` without `$LIBTORCH`.
fn libtorch_version() -> String {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Ok(root) = std::env::var("LIBTORCH") else {
        return "unknown".to_string();
    };
    match super::libtorch_version::libtorch_version(Path::new(&root)) {
        Some((v, file)) => {
            println!("cargo:rerun-if-changed={}", file.display());
            v
        }
        None => "unknown".to_string(),
    }
}
