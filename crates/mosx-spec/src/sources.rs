//! Table of the files a spec read, turning `Loc`s into `SpecError`s. Invariant: file paths are kept
//! exactly as the user gave them (extends targets joined onto the including file's directory),
//! never made absolute; index 0 is the top-level spec file. Once `matrix:` stages are expanded,
//! an error's field that names an expanded stage names its template and combination instead
//! (`crate::matrix::Labels`).

use std::path::{Path, PathBuf};

use crate::error::SpecError;
use crate::node::Loc;

/// Display name used for locations that come from `--set` arguments.
pub const SET_FILE: &str = "--set";

#[derive(Clone, Debug, Default)]
pub(crate) struct Sources {
    files: Vec<PathBuf>,
    labels: crate::matrix::Labels,
}

impl Sources {
    pub fn add(&mut self, path: PathBuf) -> u32 {
        self.files.push(path);
        (self.files.len() - 1) as u32
    }

    /// The labels of the expanded matrix stages, used by every later error.
    pub fn set_labels(&mut self, labels: crate::matrix::Labels) {
        self.labels = labels;
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    pub fn file(&self, src: u32) -> PathBuf {
        match self.files.get(src as usize) {
            Some(p) if src != Loc::SET => p.clone(),
            _ => PathBuf::from(SET_FILE),
        }
    }

    pub fn error(
        &self,
        loc: Loc,
        field: impl Into<String>,
        message: impl Into<String>,
        suggestion: Option<String>,
    ) -> SpecError {
        SpecError {
            file: self.file(loc.src),
            line: loc.line as usize,
            col: loc.col as usize,
            field: self.labels.field(field.into()),
            message: message.into(),
            suggestion,
        }
    }
}

/// An error about a whole file that has no position (e.g. it could not be read).
pub(crate) fn file_error(path: &Path, message: impl Into<String>) -> SpecError {
    SpecError {
        file: path.to_path_buf(),
        line: 0,
        col: 0,
        field: String::new(),
        message: message.into(),
        suggestion: None,
    }
}
