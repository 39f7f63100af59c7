//! Training curves: two panels side by side, the training loss per optimizer step (left) and
//! the validation AUC per epoch (right), one line per training run.
//!
//! Invariants:
//! * A [`CurveSeries`] is one named group of runs (e.g. one spec stage over its seeds): all
//!   its runs share one colour and one legend entry, so seeds read as a band of lines.
//! * Non-finite points are left out of a line (a NaN loss or an undefined AUC draws no
//!   point); a panel with no finite point still draws its axes over a unit range.
//! * Each panel's y range is the data's range padded by 5% (at least ±0.5 when flat); the x
//!   range starts at the first step / epoch drawn.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::ReportError;
use crate::fonts::FAMILY;
use crate::plot_util::{color, draw_legend, render_both, Chart, Figure, Rendered};

/// One training run: `(step, loss)` and `(epoch, valid AUC)` points.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Curve {
    pub loss: Vec<(f64, f64)>,
    pub valid_auc: Vec<(f64, f64)>,
}

/// A named group of runs drawn in one colour (e.g. one stage's seeds).
#[derive(Debug, Clone, PartialEq)]
pub struct CurveSeries {
    pub label: String,
    pub runs: Vec<Curve>,
}

struct Curves<'a> {
    title: &'a str,
    series: &'a [CurveSeries],
    auc_label: &'a str,
}

/// Draw `<out_base>.png` and `<out_base>.svg` in memory (write them with
/// [`crate::write_figures`]); `auc_label` names the right panel's y axis (e.g. its scale).
pub fn training_curves(
    title: &str,
    series: &[CurveSeries],
    auc_label: &str,
    out_base: &Path,
) -> Result<Vec<Rendered>, ReportError> {
    if series.is_empty() {
        return Err(ReportError::InvalidFigure {
            out_base: out_base.to_path_buf(),
            message: "no training run to draw".into(),
        });
    }
    let fig = Curves {
        title,
        series,
        auc_label,
    };
    render_both(out_base, &fig)
}

/// The finite points' x and y ranges, padded (see the module note).
fn ranges(points: impl Iterator<Item = (f64, f64)>) -> ((f64, f64), (f64, f64)) {
    let mut x = (f64::INFINITY, f64::NEG_INFINITY);
    let mut y = (f64::INFINITY, f64::NEG_INFINITY);
    for (a, b) in points.filter(|(a, b)| a.is_finite() && b.is_finite()) {
        x = (x.0.min(a), x.1.max(a));
        y = (y.0.min(b), y.1.max(b));
    }
    if !x.0.is_finite() {
        return ((0.0, 1.0), (0.0, 1.0));
    }
    if x.1 - x.0 < 1e-12 {
        x.1 = x.0 + 1.0;
    }
    let pad = ((y.1 - y.0) * 0.05).max(if y.1 - y.0 < 1e-12 { 0.5 } else { 0.0 });
    (x, (y.0 - pad, y.1 + pad))
}

impl Figure for Curves<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(e)?;
        let root = root.titled(self.title, (FAMILY, 22)).map_err(e)?;
        let panels = root.split_evenly((1, 2));
        let loss = |c: &Curve| c.loss.clone();
        let auc = |c: &Curve| c.valid_auc.clone();
        self.panel(&panels[0], "optimizer step", "train loss", &loss)?;
        self.panel(&panels[1], "epoch", self.auc_label, &auc)
    }
}

impl Curves<'_> {
    /// One panel: every run's line of the points `pick` takes from it.
    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        x_desc: &str,
        y_desc: &str,
        pick: &dyn Fn(&Curve) -> Vec<(f64, f64)>,
    ) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let all = self
            .series
            .iter()
            .flat_map(|s| s.runs.iter().flat_map(pick));
        let ((x0, x1), (y0, y1)) = ranges(all);
        let mut chart: Chart<'_, DB> = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 16))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(e)?;
        for (si, s) in self.series.iter().enumerate() {
            let c = color(si);
            for (ri, run) in s.runs.iter().enumerate() {
                let pts: Vec<(f64, f64)> = pick(run)
                    .into_iter()
                    .filter(|(a, b)| a.is_finite() && b.is_finite())
                    .collect();
                let drawn = chart
                    .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                    .map_err(e)?;
                if ri == 0 {
                    drawn.label(s.label.clone()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2))
                    });
                }
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
                    .map_err(e)?;
            }
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(losses: &[f64], aucs: &[f64]) -> Curve {
        Curve {
            loss: losses
                .iter()
                .enumerate()
                .map(|(i, &l)| (i as f64, l))
                .collect(),
            valid_auc: aucs
                .iter()
                .enumerate()
                .map(|(i, &a)| (i as f64, a))
                .collect(),
        }
    }

    #[test]
    fn ranges_skip_non_finite_points_and_pad_flat_ones() {
        let pts = vec![
            (0.0, 1.0),
            (1.0, f64::NAN),
            (2.0, 3.0),
            (f64::INFINITY, 9.0),
        ];
        let ((x0, x1), (y0, y1)) = ranges(pts.into_iter());
        assert_eq!((x0, x1), (0.0, 2.0));
        assert!((y0 - 0.9).abs() < 1e-12 && (y1 - 3.1).abs() < 1e-12);
        let ((_, _), (f0, f1)) = ranges(vec![(0.0, 2.0), (1.0, 2.0)].into_iter());
        assert_eq!((f0, f1), (1.5, 2.5));
        assert_eq!(ranges(std::iter::empty()), ((0.0, 1.0), (0.0, 1.0)));
    }

    #[test]
    fn draws_both_files_with_one_legend_entry_per_series() {
        let series = vec![
            CurveSeries {
                label: "series-pt".into(),
                runs: vec![
                    run(&[0.9, 0.7, 0.6], &[55.0, 60.0]),
                    run(&[1.0, 0.8], &[52.0]),
                ],
            },
            CurveSeries {
                label: "series-mos".into(),
                runs: vec![run(&[0.8, f64::NAN, 0.5], &[f64::NAN, 61.0])],
            },
        ];
        let files =
            training_curves("curves", &series, "valid AUC (x100)", Path::new("/tmp/c")).unwrap();
        let names: Vec<_> = files.iter().map(|f| f.path.display().to_string()).collect();
        assert_eq!(names, ["/tmp/c.png", "/tmp/c.svg"]);
        assert!(files[0].bytes.starts_with(b"\x89PNG"));
        let svg = String::from_utf8(files[1].bytes.clone()).unwrap();
        // Each label appears once per panel's legend: two series x two panels.
        assert_eq!(svg.matches("series-pt").count(), 2);
        assert_eq!(svg.matches("series-mos").count(), 2);
        assert!(svg.contains("optimizer step") && svg.contains("valid AUC (x100)"));
    }

    #[test]
    fn refuses_a_figure_without_runs() {
        let err = training_curves("t", &[], "auc", Path::new("/tmp/none")).unwrap_err();
        assert!(err.to_string().contains("no training run"), "{err}");
    }
}
