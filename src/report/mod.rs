//! Reports of a spec, rendered from the cache alone (never computing).
//!
//! Templates get one generic context built from the store: every stage of the plan
//! with its kind, key, params, sweep point and metrics, seed aggregates, the declared
//! comparisons (`declare`) tested with the seed as the unit (`compare`, METHOD.md §8) and
//! the spec's claims with verdicts (`claims`), so a template needs no Rust code of its own
//! (see `context`). Figures are named kinds that read artifacts.
//!
//! Invariants:
//! * Every file written ends with its provenance (`provenance`): a Markdown footer for
//!   templates, a `tEXt` chunk in PNGs and a trailing comment in SVGs.
//! * Every file is written through `mosx_report::output` (never through a symlink, parents
//!   resolved inside the project folder unless outside outputs are allowed, by a temporary
//!   file renamed into place), so a report is whole or absent, never half-written.

mod agreement;
mod claims;
pub mod compare;
mod context;
mod curves;
pub mod declare;
mod figures;
pub mod provenance;
pub mod stats;
pub mod sweep_table;

use std::path::{Path, PathBuf};

use mosx_spec::{ReportDecl, Spec, SpecError};
use mosx_store::{Store, StoreError};

use crate::plan::Plan;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    Render(#[from] mosx_report::ReportError),
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A report option that does not fit the spec (located at its field).
    #[error("{0}")]
    Spec(Box<SpecError>),
    #[error("report `{output}`: {message}")]
    Input { output: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<SpecError> for ReportError {
    fn from(e: SpecError) -> Self {
        ReportError::Spec(Box::new(e))
    }
}

/// Checks what the report options declare against the spec, without the store: every
/// `options.comparisons` / `options.compare` entry expands and names stages of the spec
/// (errors located at the field). Meant for plan time (`plan::reports::check_reports`);
/// rendering runs it too.
pub fn check_options(spec: &Spec) -> Result<(), SpecError> {
    for (index, decl) in spec.report.iter().enumerate() {
        if let ReportDecl::Template { options, .. } = decl {
            declare::entries(spec, index, options)?;
        }
    }
    Ok(())
}

/// Render every report of the spec; returns the files written. Unless `allow_outside`,
/// every file must resolve inside the project folder (the working directory); see
/// `mosx_report::output` for how files are written.
pub fn render_all(
    plan: &Plan,
    store: &dyn Store,
    allow_outside: bool,
) -> Result<Vec<PathBuf>, ReportError> {
    let cwd = std::env::current_dir().map_err(|source| ReportError::Io {
        path: ".".into(),
        source,
    })?;
    let root = (!allow_outside).then_some(cwd.as_path());
    let mut written = Vec::new();
    let dir = plan.project.templates.clone();
    for (index, decl) in plan.spec.report.iter().enumerate() {
        match decl {
            ReportDecl::Template {
                template,
                output,
                options,
            } => {
                let ctx = context::build(plan, store, index, options, output)?;
                let mut text = mosx_report::render_template(&dir, template, &ctx)?;
                let lines = provenance::lines(plan, store, Some((&dir, template)))?;
                text.push_str(&provenance::markdown_footer(&lines));
                let path = mosx_report::output::write(Path::new(output), root, text.as_bytes())
                    .map_err(mosx_report::ReportError::from)?;
                written.push(path);
            }
            ReportDecl::Figure {
                figure,
                stages,
                output,
                options,
            } => {
                let files = figures::render(plan, store, figure, stages, output, options)?;
                let mut lines = provenance::lines(plan, store, None)?;
                lines.insert(
                    0,
                    format!("figure {figure} of stages {}", stages.join(", ")),
                );
                let text = lines.join("\n");
                written.extend(mosx_report::write_figures(files, Some(&text), root)?);
            }
        }
    }
    Ok(written)
}
