//! Grouped bar chart (Fig. 5/6): one cluster per category, one bar per series inside it.
//! NaN values draw no bar (the cluster keeps the gap). The y range always includes 0, so
//! signed values (e.g. under-recommendation) go below the axis. With error bars (±sd over
//! seeds), each finite error draws a capped vertical line through its bar's top, and the y
//! range covers mean ± sd.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::ReportError;
use crate::fonts::FAMILY;
use crate::plot_util::{color, draw_legend, render_both, Chart, Figure, Rendered};

struct Bars<'a> {
    title: &'a str,
    categories: &'a [String],
    series: &'a [(String, Vec<f64>)],
    y_label: &'a str,
    /// Per series, one half-width per category (NaN: no error bar).
    errors: Option<&'a [Vec<f64>]>,
    y_lo: f64,
    y_hi: f64,
}

/// Draw `<out_base>.png` and `<out_base>.svg` in memory (write them with
/// [`crate::write_figures`]); each series must hold one value per category.
pub fn grouped_bars(
    title: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
    y_label: &str,
    out_base: &Path,
) -> Result<Vec<Rendered>, ReportError> {
    bars_impl(title, categories, series, None, y_label, out_base)
}

/// [`grouped_bars`] with error bars: `errors[s][c]` is the half-width (e.g. the sd over
/// seeds) of series `s` at category `c`.
pub fn grouped_bars_with_errors(
    title: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
    errors: &[Vec<f64>],
    y_label: &str,
    out_base: &Path,
) -> Result<Vec<Rendered>, ReportError> {
    if errors.len() != series.len() || errors.iter().any(|e| e.len() != categories.len()) {
        return Err(ReportError::InvalidFigure {
            out_base: out_base.to_path_buf(),
            message: "need one error per series and category".into(),
        });
    }
    bars_impl(title, categories, series, Some(errors), y_label, out_base)
}

fn bars_impl(
    title: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
    errors: Option<&[Vec<f64>]>,
    y_label: &str,
    out_base: &Path,
) -> Result<Vec<Rendered>, ReportError> {
    let bad = |message: String| ReportError::InvalidFigure {
        out_base: out_base.to_path_buf(),
        message,
    };
    if categories.is_empty() || series.is_empty() {
        return Err(bad("need at least one category and one series".into()));
    }
    if let Some((name, v)) = series.iter().find(|(_, v)| v.len() != categories.len()) {
        return Err(bad(format!(
            "series `{name}` has {} values for {} categories",
            v.len(),
            categories.len()
        )));
    }
    let err_at = |s: usize, c: usize| {
        errors
            .and_then(|e| e.get(s)?.get(c).copied())
            .filter(|e| e.is_finite())
            .unwrap_or(0.0)
            .abs()
    };
    let finite = || {
        series
            .iter()
            .enumerate()
            .flat_map(move |(s, (_, v))| {
                v.iter()
                    .enumerate()
                    .flat_map(move |(c, x)| [x - err_at(s, c), x + err_at(s, c)])
            })
            .filter(|x| x.is_finite())
    };
    let lo = finite().fold(0.0, f64::min);
    let hi = finite().fold(0.0, f64::max);
    let pad = ((hi - lo) * 0.1).max(1e-9);
    let fig = Bars {
        title,
        categories,
        series,
        y_label,
        errors,
        y_lo: if lo < 0.0 { lo - pad } else { 0.0 },
        y_hi: if hi > 0.0 || lo >= 0.0 { hi + pad } else { 0.0 },
    };
    render_both(out_base, &fig)
}

impl Figure for Bars<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(e)?;
        let n_cat = self.categories.len();
        let mut chart = self.chart(root)?;
        for si in 0..self.series.len() {
            self.draw_series(&mut chart, si)?;
        }
        if self.y_lo < 0.0 {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(0.0, 0.0), (n_cat as f64, 0.0)],
                    BLACK,
                )))
                .map_err(e)?;
        }
        self.draw_category_names(root, &chart)?;
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}

impl Bars<'_> {
    /// Width of one bar's slot within a cluster (the clusters span 0.8 of each category).
    fn slot(&self) -> f64 {
        0.8 / self.series.len() as f64
    }

    /// The chart with its caption and mesh; the x axis has no labels (the category names are
    /// drawn by [`Bars::draw_category_names`]).
    fn chart<'a, DB: DrawingBackend>(
        &self,
        root: &'a DrawingArea<DB, Shift>,
    ) -> Result<Chart<'a, DB>, String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FAMILY, 24))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..self.categories.len() as f64, self.y_lo..self.y_hi)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc(self.y_label)
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 17))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(e)?;
        Ok(chart)
    }

    /// Series `si`'s bars (one per finite value, with its legend entry) and error bars.
    fn draw_series<DB: DrawingBackend>(
        &self,
        chart: &mut Chart<'_, DB>,
        si: usize,
    ) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let (name, values) = &self.series[si];
        let slot = self.slot();
        let c = color(si);
        let rects = values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(ci, &v)| {
                let x0 = ci as f64 + 0.1 + slot * si as f64;
                Rectangle::new([(x0, 0.0), (x0 + slot * 0.92, v)], c.filled())
            });
        chart
            .draw_series(rects)
            .map_err(e)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], c.filled()));
        if let Some(errs) = self.errors.and_then(|e| e.get(si)) {
            self.draw_error_bars(chart, si, values, errs)?;
        }
        Ok(())
    }

    /// A capped vertical line `v ± err` through the top of each of series `si`'s bars that
    /// has a finite value and a finite, positive error.
    fn draw_error_bars<DB: DrawingBackend>(
        &self,
        chart: &mut Chart<'_, DB>,
        si: usize,
        values: &[f64],
        errs: &[f64],
    ) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let slot = self.slot();
        let cap = slot * 0.92 * 0.25;
        for (ci, (&v, &err)) in values.iter().zip(errs).enumerate() {
            if !(v.is_finite() && err.is_finite() && err > 0.0) {
                continue;
            }
            let xm = ci as f64 + 0.1 + slot * si as f64 + slot * 0.46;
            let (lo, hi) = (v - err, v + err);
            chart
                .draw_series([
                    PathElement::new(vec![(xm, lo), (xm, hi)], BLACK.stroke_width(2)),
                    PathElement::new(vec![(xm - cap, lo), (xm + cap, lo)], BLACK.stroke_width(2)),
                    PathElement::new(vec![(xm - cap, hi), (xm + cap, hi)], BLACK.stroke_width(2)),
                ])
                .map_err(e)?;
        }
        Ok(())
    }

    /// Category names under the axis, centred on each cluster (drawn on the root area, which
    /// is not clipped to the plotting area).
    fn draw_category_names<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        chart: &Chart<'_, DB>,
    ) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let style = TextStyle::from((FAMILY, 16).into_font()).color(&BLACK).pos(
            plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            ),
        );
        for (ci, cat) in self.categories.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(ci as f64 + 0.5, self.y_lo));
            root.draw(&Text::new(cat.as_str(), (px, py + 8), style.clone()))
                .map_err(e)?;
        }
        Ok(())
    }
}
