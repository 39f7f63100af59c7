//! Typed errors of the data layer. Invariant: every message names what the user must look
//! at: the file with its 1-based line and column (and the field name), the folder with the
//! files it should hold, or the two numbers that disagree.

use std::path::PathBuf;

/// Errors raised while reading, sampling, splitting or measuring a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The dataset folder, or some of its files, is missing.
    #[error(
        "dataset folder {dir} is missing {missing}: expected {expected}; `make data` fetches them"
    )]
    MissingFiles {
        dir: PathBuf,
        /// What is missing ("the folder" or a comma list of files).
        missing: String,
        /// The layouts/files the loader accepts.
        expected: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A row of a raw file could not be parsed.
    #[error("{file}:{line}:{column} (field `{field}`): {message}")]
    Malformed {
        file: PathBuf,
        /// 1-based line where the offending record starts.
        line: usize,
        /// 1-based column (field position) of the offending value.
        column: usize,
        field: String,
        message: String,
    },
    /// A stereotype group has fewer candidate windows than the requested ratio needs.
    #[error("group `{group}` has {available} windows of length {window} but the group ratio asks for {requested}")]
    NotEnoughWindows {
        group: String,
        requested: u64,
        available: u64,
        window: usize,
    },
    /// More windows are asked for than the dataset has (under `group_ratio: natural`).
    #[error("{requested} windows of length {window} were asked for but the dataset has only {available}")]
    TooFewWindows {
        requested: u64,
        available: u64,
        window: usize,
    },
    /// A stage's output would be empty (e.g. a ratings file with only its header line).
    #[error("{what} is empty: {detail}")]
    Empty { what: String, detail: String },
    /// A group name in an option is not a group of the dataset.
    #[error("unknown group `{name}` in {option}; the dataset's groups are {known:?}")]
    UnknownGroup {
        name: String,
        option: String,
        known: Vec<String>,
    },
    /// An option value is out of its domain.
    #[error("invalid option `{option}`: {message}")]
    InvalidOption { option: String, message: String },
    /// Two inputs disagree (e.g. a split that indexes past the sequences).
    #[error("inconsistent input: {0}")]
    Inconsistent(String),
}

impl DataError {
    pub(crate) fn invalid(option: &str, message: impl Into<String>) -> Self {
        DataError::InvalidOption {
            option: option.to_string(),
            message: message.into(),
        }
    }
}
