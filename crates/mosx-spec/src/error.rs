//! `SpecError`: one located spec problem. Invariant: `line`/`col` are 1-based positions in `file`
//! (the file of the extends chain that last wrote the offending key/value, `--set` for command-line
//! overrides where `col` is the 1-based position in the `--set` list); `line == 0` only when no
//! position exists (the top-level spec file itself could not be read). The field and message
//! are shown through [`printable`], so a key or value holding control characters cannot forge
//! a line of output.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

/// Whether `c` would change how a terminal shows the text around it: a control character
/// (C0, DEL, C1: NUL, newline, ESC, …) or an invisible formatting one (bidirectional overrides
/// and isolates such as U+202E, zero-width characters, the byte-order mark).
pub fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// `s` with each [`is_unprintable`] character escaped as Rust writes it (`\n`, `\0`,
/// `\u{202e}`), borrowed when there is none: how mosx shows names and values it did not
/// write itself (spec keys, names read from a store).
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unprintable) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unprintable(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

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
            write!(f, "{}: ", printable(&self.field))?;
        }
        f.write_str(&printable(&self.message))?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean `{}`?)", printable(s))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_escaped_and_the_rest_kept() {
        assert!(matches!(printable("ml_train-2 é 名"), Cow::Borrowed(_)));
        assert_eq!(printable("a\u{202E}b"), "a\\u{202e}b");
        assert_eq!(printable("x\ny\0"), "x\\ny\\0");
        assert_eq!(printable("\u{1b}[2J"), "\\u{1b}[2J");
        let e = SpecError {
            file: "s.yaml".into(),
            line: 1,
            col: 2,
            field: "stages.a\nFAKE".into(),
            message: "m\u{202E}".into(),
            suggestion: None,
        };
        assert_eq!(e.to_string(), "s.yaml:1:2: stages.a\\nFAKE: m\\u{202e}");
    }
}
