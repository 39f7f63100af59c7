//! Shared figure plumbing: output paths (`<out_base>.png` / `.svg`), the colour palette, and
//! running one drawing routine on both backends, in memory. Figures are 960 x 560 pixels;
//! the files are written only through [`crate::output`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use image::codecs::png::PngEncoder;
use image::{ColorType, ImageEncoder};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::ReportError;
use crate::fonts::ensure_fonts;

pub(crate) const SIZE: (u32, u32) = (960, 560);

/// The chart of a figure: f64 on both axes.
pub(crate) type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The series legend of a figure, boxed, at `position`.
pub(crate) fn draw_legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((crate::fonts::FAMILY, 15))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

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

/// A figure file drawn in memory: where it goes and its bytes. Nothing is on disk until
/// [`Rendered::write`] (through [`crate::output`], like every output file).
#[derive(Debug, Clone)]
pub struct Rendered {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

impl Rendered {
    /// Adds provenance `text` to the bytes (a PNG `tEXt` chunk, an SVG comment).
    pub fn stamp(&mut self, text: &str) -> Result<(), ReportError> {
        match self.path.extension().and_then(|e| e.to_str()) {
            Some("png") => {
                self.bytes =
                    crate::stamp::stamp_png_bytes(&self.bytes, text).map_err(|message| {
                        ReportError::Draw {
                            path: self.path.clone(),
                            message,
                        }
                    })?
            }
            Some("svg") => {
                let svg = String::from_utf8_lossy(&self.bytes);
                self.bytes = crate::stamp::stamp_svg_text(&svg, text).into_bytes();
            }
            _ => {}
        }
        Ok(())
    }

    /// Writes the file; `root`: the folder it must stay inside, if any.
    pub fn write(&self, root: Option<&Path>) -> Result<PathBuf, ReportError> {
        Ok(crate::output::write(&self.path, root, &self.bytes)?)
    }
}

/// Writes every rendered file, each stamped with `stamp` if given; returns their paths.
pub fn write_figures(
    files: Vec<Rendered>,
    stamp: Option<&str>,
    root: Option<&Path>,
) -> Result<Vec<PathBuf>, ReportError> {
    let mut out = Vec::new();
    for mut f in files {
        if let Some(text) = stamp {
            f.stamp(text)?;
        }
        out.push(f.write(root)?);
    }
    Ok(out)
}

/// Draw the same figure as `<out_base>.png` and `<out_base>.svg`, in memory.
pub(crate) fn render_both<F: Figure>(
    out_base: &Path,
    fig: &F,
) -> Result<Vec<Rendered>, ReportError> {
    ensure_fonts()?;
    let png = with_suffix(out_base, ".png");
    let svg = with_suffix(out_base, ".svg");
    let draw_err = |path: &Path| {
        let path = path.to_path_buf();
        move |message: String| ReportError::Draw { path, message }
    };
    let mut rgb = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        fig.draw(&root).map_err(draw_err(&png))?;
        root.present().map_err(|e| draw_err(&png)(e.to_string()))?;
    }
    let mut png_bytes = Vec::new();
    PngEncoder::new(&mut png_bytes)
        .write_image(&rgb, SIZE.0, SIZE.1, ColorType::Rgb8)
        .map_err(|e| draw_err(&png)(e.to_string()))?;
    let mut svg_text = String::new();
    {
        let root = SVGBackend::with_string(&mut svg_text, SIZE).into_drawing_area();
        fig.draw(&root).map_err(draw_err(&svg))?;
        root.present().map_err(|e| draw_err(&svg)(e.to_string()))?;
    }
    Ok(vec![
        Rendered {
            path: png,
            bytes: png_bytes,
        },
        Rendered {
            path: svg,
            bytes: svg_text.into_bytes(),
        },
    ])
}
