//! `SpecError`: one located spec problem. Invariant: `line`/`col` are 1-based positions in `file`
//! (the file of the extends chain that last wrote the offending key/value, `--set` for command-line
//! overrides where `col` is the 1-based position in the `--set` list); `line == 0` only when no
//! position exists (the top-level spec file itself could not be read).

use std::fmt;
use std::path::PathBuf;

/// A spec problem located at `file:line:col`, naming the dotted `field` path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    /// Dotted path in the merged document, e.g. `stages.ml_measure.params.z_star`; empty for the root.
    pub field: String,
    pub message: String,
    pub suggestion: Option<String>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.col)?;
        }
        f.write_str(": ")?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean `{s}`?)")?;
        }
        Ok(())
    }
}
