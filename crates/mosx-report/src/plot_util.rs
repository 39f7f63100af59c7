//! Shared figure plumbing: output paths (`<out_base>.png` / `.svg`), the colour palette, and
//! running one drawing routine on both backends. Figures are 960 x 560 pixels.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::ReportError;
use crate::fonts::ensure_fonts;

pub(crate) const SIZE: (u32, u32) = (960, 560);

/// Colour-blind-friendly qualitative palette (Okabe-Ito order).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn with_suffix(base: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = base.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A figure that can draw itself on any plotters backend.
pub(crate) trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Draw the same figure into `<out_base>.png` and `<out_base>.svg`; returns both paths.
pub(crate) fn render_both<F: Figure>(
    out_base: &Path,
    fig: &F,
) -> Result<Vec<PathBuf>, ReportError> {
    ensure_fonts()?;
    if let Some(dir) = out_base.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::OutputDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let png = with_suffix(out_base, ".png");
    let svg = with_suffix(out_base, ".svg");
    {
        let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
        fig.draw(&root).map_err(|message| ReportError::Draw {
            path: png.clone(),
            message,
        })?;
        root.present().map_err(|e| ReportError::Draw {
            path: png.clone(),
            message: e.to_string(),
        })?;
    }
    {
        let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
        fig.draw(&root).map_err(|message| ReportError::Draw {
            path: svg.clone(),
            message,
        })?;
        root.present().map_err(|e| ReportError::Draw {
            path: svg.clone(),
            message: e.to_string(),
        })?;
    }
    Ok(vec![png, svg])
}
