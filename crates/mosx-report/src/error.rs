//! Typed errors of the report layer; each names the template, file or figure at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The templates directory is missing or unreadable.
    #[error("templates directory {}: {source}", path.display())]
    TemplatesDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Loading, compiling or rendering a template failed; `location` is `name:line` where the
    /// error occurred (this may be an included/imported template, not the one asked for).
    #[error("template {location} (rendering {requested}): {message}")]
    Template {
        requested: String,
        location: String,
        message: String,
    },
    /// Bad arguments to a figure function.
    #[error("figure {}: {message}", out_base.display())]
    InvalidFigure { out_base: PathBuf, message: String },
    /// plotters failed while drawing or writing a file.
    #[error("drawing {}: {message}", path.display())]
    Draw { path: PathBuf, message: String },
    /// Writing an output file was refused or failed.
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    /// The embedded font could not be registered with plotters.
    #[error("embedded font DejaVu Sans could not be registered: {0}")]
    Font(String),
}
