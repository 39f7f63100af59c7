//! Shared helpers: a temp directory of written YAML files and shortcuts around `load`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use mosx_spec::{load, Spec, SpecError};

pub struct Dir {
    pub tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes `text` to `name` (sub-directories created) and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.tmp.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }
}

pub fn sets(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

pub fn ok(path: &Path, set: &[&str]) -> Spec {
    match load(path, &sets(set)) {
        Ok(s) => s,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

pub fn err(path: &Path, set: &[&str]) -> SpecError {
    match load(path, &sets(set)) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

/// (line, col, field) of an error, for compact assertions.
pub fn at(e: &SpecError) -> (usize, usize, &str) {
    (e.line, e.col, e.field.as_str())
}
