//! The minijinja environment for report templates: path loader on the templates directory,
//! strict undefined behaviour, `trim_blocks` + `lstrip_blocks` (block tags leave no blank
//! lines), trailing newline kept, and the report filters (see `filters`).
//!
//! Invariant: a render runs at most [`REPORT_FUEL`] template instructions (minijinja's fuel),
//! so a template that loops forever (or nests loops far beyond any report) fails with an
//! error naming the template and line, instead of rendering forever.

use std::path::Path;

use minijinja::{path_loader, Environment, ErrorKind, UndefinedBehavior};

use crate::error::ReportError;
use crate::filters;

/// Template instructions one report render may run: a report over a 100,000-stage study
/// with loops over stages and metrics stays far below; a few seconds of work at most.
pub const REPORT_FUEL: u64 = 100_000_000;

/// A configured environment loading templates from `templates_dir`.
pub fn environment(templates_dir: &Path) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_loader(path_loader(templates_dir));
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.set_fuel(Some(REPORT_FUEL));
    filters::register(&mut env);
    env
}

/// Render template `name` (a path relative to `templates_dir`) with `context`.
pub fn render_template(
    templates_dir: &Path,
    name: &str,
    context: &serde_json::Value,
) -> Result<String, ReportError> {
    if let Err(source) = std::fs::read_dir(templates_dir) {
        return Err(ReportError::TemplatesDir {
            path: templates_dir.to_path_buf(),
            source,
        });
    }
    let env = environment(templates_dir);
    let tmpl = env
        .get_template(name)
        .map_err(|e| template_error(name, &e))?;
    tmpl.render(context).map_err(|e| template_error(name, &e))
}

/// Flatten a minijinja error (and its source chain) into a `ReportError::Template`.
fn template_error(requested: &str, err: &minijinja::Error) -> ReportError {
    let location = match (err.name(), err.line()) {
        (Some(n), Some(l)) => format!("{n}:{l}"),
        (Some(n), None) => n.to_string(),
        (None, _) => requested.to_string(),
    };
    if err.kind() == ErrorKind::OutOfFuel {
        return ReportError::Template {
            requested: requested.to_string(),
            location,
            message: format!(
                "ran out of fuel: more than {REPORT_FUEL} template instructions (a loop that does not end, or far more work than a report needs)"
            ),
        };
    }
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    ReportError::Template {
        requested: requested.to_string(),
        location,
        message,
    }
}
