//! Report rendering for mosx: Markdown tables from minijinja templates and figures (PNG + SVG)
//! drawn with plotters. This crate knows nothing of the store: callers pass plain values.
//!
//! Invariants:
//! * Undefined metric values (NaN, or JSON `null`) are shown as `-`, never as `0`.
//! * Templates render with strict undefined behaviour: a missing variable is an error naming
//!   the template and line.
//! * Each figure is written twice, `<out_base>.png` and `<out_base>.svg`, with the same layout;
//!   text uses DejaVu Sans embedded in the binary, so no system font is needed.

mod bars;
mod error;
mod filters;
mod fonts;
mod histogram;
mod internals;
mod plot_util;
mod stamp;
mod templates;

pub use bars::{grouped_bars, grouped_bars_with_errors};
pub use error::ReportError;
pub use filters::{format_pvalue, format_ratio, format_thousands};
pub use histogram::{zscore_histogram, HistogramSeries};
pub use stamp::{stamp_png, stamp_svg};
pub use templates::{environment, render_template};
