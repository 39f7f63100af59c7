//! Registers DejaVu Sans (bytes embedded by the `dejavu` crate) with plotters' ab_glyph text
//! renderer, once per process, under the family name [`FAMILY`].

use std::sync::OnceLock;

use plotters::style::{register_font, FontStyle};

use crate::error::ReportError;

/// Font family used by every figure.
pub(crate) const FAMILY: &str = "sans-serif";

static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();

pub(crate) fn ensure_fonts() -> Result<(), ReportError> {
    REGISTERED
        .get_or_init(|| {
            register_font(FAMILY, FontStyle::Normal, dejavu::sans::regular())
                .and_then(|()| register_font(FAMILY, FontStyle::Bold, dejavu::sans::bold()))
                .map_err(|_| "the TTF bytes did not parse".to_string())
        })
        .clone()
        .map_err(ReportError::Font)
}
