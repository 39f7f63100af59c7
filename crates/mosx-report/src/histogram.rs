//! Fig. 3: histogram of item z-scores per series, with dashed vertical lines at the given
//! thresholds. NaN (and infinite) values are skipped; bins are equal-width over the range of the
//! remaining values and the thresholds; series are drawn as translucent overlapping bars.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::ReportError;
use crate::fonts::FAMILY;
use crate::plot_util::{color, draw_legend, render_both, Chart, Figure, Rendered};

/// One histogram series, e.g. the z-scores of all items for one stereotype group.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistogramSeries {
    pub label: String,
    pub values: Vec<f64>,
}

struct Histogram<'a> {
    title: &'a str,
    labels: Vec<&'a str>,
    counts: Vec<Vec<usize>>, // [series][bin]
    lo: f64,
    width: f64,
    thresholds: &'a [f64],
}

/// Draw `<out_base>.png` and `<out_base>.svg` in memory (write them with
/// [`crate::write_figures`]).
pub fn zscore_histogram(
    title: &str,
    series: &[HistogramSeries],
    thresholds: &[f64],
    bins: usize,
    out_base: &Path,
) -> Result<Vec<Rendered>, ReportError> {
    let bad = |message: String| ReportError::InvalidFigure {
        out_base: out_base.to_path_buf(),
        message,
    };
    if bins == 0 {
        return Err(bad("bins must be at least 1".into()));
    }
    if series.is_empty() {
        return Err(bad("no series given".into()));
    }
    if let Some(t) = thresholds.iter().find(|t| !t.is_finite()) {
        return Err(bad(format!("threshold {t} is not finite")));
    }
    let finite = || {
        series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .filter(|v| v.is_finite())
    };
    if finite().next().is_none() {
        return Err(bad("every series is empty after skipping NaN values".into()));
    }
    let mut lo = finite()
        .chain(thresholds.iter().copied())
        .fold(f64::INFINITY, f64::min);
    let mut hi = finite()
        .chain(thresholds.iter().copied())
        .fold(f64::NEG_INFINITY, f64::max);
    if hi - lo < 1e-12 {
        lo -= 0.5;
        hi += 0.5;
    }
    let width = (hi - lo) / bins as f64;
    let counts = series
        .iter()
        .map(|s| {
            let mut c = vec![0usize; bins];
            for v in s.values.iter().filter(|v| v.is_finite()) {
                let i = (((v - lo) / width).floor() as usize).min(bins - 1);
                c[i] += 1;
            }
            c
        })
        .collect();
    let fig = Histogram {
        title,
        labels: series.iter().map(|s| s.label.as_str()).collect(),
        counts,
        lo,
        width,
        thresholds,
    };
    render_both(out_base, &fig)
}

impl Figure for Histogram<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(e)?;
        let ymax = self.y_max();
        let mut chart = self.chart(root, ymax)?;
        for (si, (label, counts)) in self.labels.iter().zip(&self.counts).enumerate() {
            self.draw_series(&mut chart, color(si), label, counts)?;
        }
        for &t in self.thresholds {
            let style = BLACK.stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(t, 0.0), (t, ymax)],
                    8,
                    6,
                    style,
                ))
                .map_err(e)?
                .label(format!("threshold z* = {t}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)
    }
}

impl Histogram<'_> {
    /// Top of the y axis: the largest bin count (at least 1) plus 8%.
    fn y_max(&self) -> f64 {
        self.counts
            .iter()
            .flatten()
            .copied()
            .max()
            .unwrap_or(0)
            .max(1) as f64
            * 1.08
    }

    /// The chart over the bins' range and `0..ymax`, with its caption and mesh.
    fn chart<'a, DB: DrawingBackend>(
        &self,
        root: &'a DrawingArea<DB, Shift>,
        ymax: f64,
    ) -> Result<Chart<'a, DB>, String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let bins = self.counts.first().map_or(0, Vec::len);
        let hi = self.lo + self.width * bins as f64;
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FAMILY, 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(self.lo..hi, 0.0..ymax)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("z-score")
            .y_desc("items")
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 17))
            .light_line_style(WHITE.mix(0.0))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(e)?;
        Ok(chart)
    }

    /// One series: a translucent bar per non-empty bin (with the legend entry), then the
    /// bars' outlines.
    fn draw_series<DB: DrawingBackend>(
        &self,
        chart: &mut Chart<'_, DB>,
        c: RGBColor,
        label: &str,
        counts: &[usize],
    ) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let bars = counts
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| {
                let x0 = self.lo + self.width * i as f64;
                Rectangle::new(
                    [(x0, 0.0), (x0 + self.width, n as f64)],
                    c.mix(0.45).filled(),
                )
            });
        chart
            .draw_series(bars)
            .map_err(e)?
            .label(label)
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 16, y + 6)], c.mix(0.6).filled())
            });
        let outlines = counts
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| {
                let x0 = self.lo + self.width * i as f64;
                Rectangle::new([(x0, 0.0), (x0 + self.width, n as f64)], c.stroke_width(1))
            });
        chart.draw_series(outlines).map_err(e)?;
        Ok(())
    }
}
