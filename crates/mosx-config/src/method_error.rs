//! Errors of a method's config (naming an unknown method, a bad or unknown field); each names
//! the method and the field at fault. They are what normalising a `train` stage's `method`
//! can fail with in the planner; mosx-methods' `MethodError` wraps this one (transparently:
//! the messages are these) beside the training layer's own.

/// Matched exhaustively by the planner, which maps each variant to a parameter error: a new
/// variant must say where it points.
#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    #[error("unknown method `{name}`{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownMethod {
        name: String,
        suggestion: Option<String>,
    },
    #[error("method `{method}`: {field}: {message}")]
    Config {
        method: String,
        field: String,
        message: String,
    },
}

impl MethodError {
    /// A [`MethodError::Config`] error.
    pub fn config(method: &str, field: &str, message: impl Into<String>) -> MethodError {
        MethodError::Config {
            method: method.into(),
            field: field.into(),
            message: message.into(),
        }
    }
}
