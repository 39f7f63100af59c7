//! Report rendering for mosx: Markdown tables from minijinja templates and figures (PNG + SVG)
//! drawn with plotters. This crate knows nothing of the store: callers pass plain values.
//!
//! Invariants:
//! * Undefined metric values (NaN, or JSON `null`) are shown as `-`, never as `0`.
//! * Templates render with strict undefined behaviour: a missing variable is an error naming
//!   the template and line.
//! * Each figure is drawn twice, `<out_base>.png` and `<out_base>.svg`, with the same layout,
//!   in memory; text uses DejaVu Sans embedded in the binary, so no system font is needed.
//! * Every file is written through [`output`]: never through a symlink, parents resolved and
//!   kept inside the project folder when one is given, by a temporary file and a rename.

mod bars;
mod curves;
mod error;
mod filters;
mod fonts;
mod histogram;
mod internals;
pub mod output;
mod plot_util;
mod stamp;
mod templates;

pub use bars::{grouped_bars, grouped_bars_with_errors};
pub use curves::{training_curves, Curve, CurveSeries};
pub use error::ReportError;
pub use filters::{format_pvalue, format_ratio, format_thousands};
pub use histogram::{zscore_histogram, HistogramSeries};
pub use output::OutputError;
pub use plot_util::{write_figures, Rendered};
pub use templates::{environment, render_template, REPORT_FUEL};
