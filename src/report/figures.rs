//! Named figures, each drawn in memory as PNG + SVG (stamped and written by the caller):
//! * `zscore_hist` (Fig. 3): histogram of item z-scores per group with the threshold line;
//!   reads `measure` stages.
//! * `fairness_sides` (Fig. 5): per stereotype group `g`, user side vs item side: |F(g,g)|
//!   (users of `g`, their own group's items) vs mean over user groups `a` of |F(a,g)| (how
//!   items of `g` are recommended to everyone), and the AUC over the points of users of `g`
//!   vs over the points whose target is in item group `g`; reads `metrics` stages.
//! * `target_sides` (Fig. 6): AUC, precision and recall of targets below the threshold
//!   (neutral: in no stereotype group, METHOD.md §7) vs above it for each group (the group's
//!   stereotyped items); reads `metrics` stages.
//! * `training_curves`: loss per step and validation AUC per epoch of `train` stages
//!   (`super::curves`).
//!
//! Bars are the mean over the stage's seeds with ±sd error bars; one figure per listed
//! stage (`<output>-<stage>` when several).

use serde_json::{Map, Value};

use mosx_data::Stereotypes;
use mosx_report::{HistogramSeries, Rendered};
use mosx_store::Store;

use mosx_fairness::EvalPoint;

use super::stats::{Loader, PointSet};
use super::ReportError;
use crate::plan::Plan;

pub const FIGURES: &[&str] = &[
    "zscore_hist",
    "fairness_sides",
    "target_sides",
    super::curves::NAME,
];

pub fn render(
    plan: &Plan,
    store: &dyn Store,
    figure: &str,
    stages: &[String],
    output: &str,
    options: &Map<String, Value>,
) -> Result<Vec<Rendered>, ReportError> {
    let err = |message: String| ReportError::Input {
        output: output.to_string(),
        message,
    };
    if figure == "fairness_sides" || figure == "target_sides" {
        return bars_figure(plan, store, figure, stages, output);
    }
    if figure == super::curves::NAME {
        return super::curves::render(plan, store, stages, output);
    }
    if figure != "zscore_hist" {
        return Err(err(format!(
            "unknown figure `{figure}`{}",
            mosx_spec::suggest(figure, FIGURES.iter().copied())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default()
        )));
    }
    let bins = options.get("bins").and_then(Value::as_u64).unwrap_or(40) as usize;
    let mut nodes = Vec::new();
    for s in stages {
        let found = plan.all_of(s);
        if found.is_empty() {
            return Err(err(format!("no stage `{s}` in the spec")));
        }
        nodes.extend(found);
    }
    let mut written = Vec::new();
    for i in &nodes {
        let n = &plan.graph[*i];
        if n.kind.name() != crate::stages::measure::NAME {
            return Err(err(format!(
                "`{}` is a `{}` stage; zscore_hist reads `measure` stages",
                n.name,
                n.kind.name()
            )));
        }
        let a = &crate::stages::artifacts::STEREOTYPES;
        let st: Stereotypes = a
            .decode(&store.artifact(&n.key, a.name)?)
            .map_err(|e| err(format!("{}: {e}", n.name)))?;
        let series: Vec<HistogramSeries> = st
            .groups
            .iter()
            .enumerate()
            .map(|(g, label)| HistogramSeries {
                label: label.clone(),
                values: st
                    .items
                    .iter()
                    .filter_map(|it| it.z.get(g).copied())
                    .filter(|z| z.is_finite())
                    .collect(),
            })
            .collect();
        let base = if nodes.len() == 1 {
            output.to_string()
        } else {
            format!("{output}-{}", file_safe(&n.name))
        };
        let title = format!(
            "{}: item z-scores by stereotype group (z* = {})",
            n.name, st.z_star
        );
        written.extend(mosx_report::zscore_histogram(
            &title,
            &series,
            &[st.z_star],
            bins,
            std::path::Path::new(&base),
        )?);
    }
    Ok(written)
}

fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' || c == '=' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Fig. 5 / Fig. 6 values of one seed's points: (categories, series name → value per category).
fn side_values(figure: &str, ps: &PointSet) -> (Vec<String>, Vec<(String, Vec<f64>)>) {
    let g = ps.groups.len();
    if figure == "fairness_sides" {
        let f = mosx_fairness::pairwise(&ps.points, g, ps.kind);
        let auc_of = |keep: &dyn Fn(&EvalPoint) -> bool| {
            let (s, l): (Vec<f64>, Vec<bool>) = ps
                .points
                .iter()
                .filter(|p| keep(p))
                .map(|p| (p.p_yes, p.label))
                .unzip();
            100.0 * mosx_fairness::auc(&s, &l)
        };
        let user_f: Vec<f64> = (0..g).map(|a| f[a][a].abs()).collect();
        let item_f: Vec<f64> = (0..g)
            .map(|b| {
                let xs: Vec<f64> = (0..g).map(|a| f[a][b].abs()).collect();
                if xs.iter().any(|x| x.is_nan()) {
                    f64::NAN
                } else {
                    xs.iter().sum::<f64>() / g as f64
                }
            })
            .collect();
        let user_auc: Vec<f64> = (0..g).map(|a| auc_of(&|p| p.user_group == a)).collect();
        let item_auc: Vec<f64> = (0..g).map(|b| auc_of(&|p| p.in_target_group(b))).collect();
        (
            ps.groups.clone(),
            vec![
                ("|F| user side".into(), user_f),
                ("|F| item side".into(), item_f),
                ("AUC user side".into(), user_auc),
                ("AUC item side".into(), item_auc),
            ],
        )
    } else {
        let sides = mosx_fairness::by_target_side(&ps.points, g);
        let cats = sides
            .iter()
            .map(|s| match s.group {
                None => "neutral (below z*)".to_string(),
                Some(b) => format!("{} (above z*)", ps.groups[b]),
            })
            .collect();
        (
            cats,
            vec![
                ("AUC".into(), sides.iter().map(|s| s.auc).collect()),
                (
                    "Precision".into(),
                    sides.iter().map(|s| s.precision).collect(),
                ),
                ("Recall".into(), sides.iter().map(|s| s.recall).collect()),
            ],
        )
    }
}

fn input_error(output: &str, message: String) -> ReportError {
    ReportError::Input {
        output: output.to_string(),
        message,
    }
}

/// Fig. 5 / Fig. 6: one grouped bar chart per listed stage, mean ± sd over its seeds.
fn bars_figure(
    plan: &Plan,
    store: &dyn Store,
    figure: &str,
    stages: &[String],
    output: &str,
) -> Result<Vec<Rendered>, ReportError> {
    let mut loader = Loader::new(store);
    let mut written = Vec::new();
    for s in stages {
        let nodes = plan.all_of(s);
        if nodes.is_empty() {
            return Err(input_error(output, format!("no stage `{s}` in the spec")));
        }
        let bars = SeedBars::gather(plan, &mut loader, figure, &nodes)
            .map_err(|m| input_error(output, m))?;
        let base = if stages.len() == 1 {
            output.to_string()
        } else {
            format!("{output}-{}", file_safe(s))
        };
        let (title, y) = bars_title(figure, s, nodes.len());
        written.extend(mosx_report::grouped_bars_with_errors(
            &title,
            &bars.cats,
            &bars.means(),
            &bars.sds(),
            y,
            std::path::Path::new(&base),
        )?);
    }
    Ok(written)
}

/// One stage's bar values over its seeds: the categories, and per series the values of
/// each category, one per seed.
struct SeedBars {
    cats: Vec<String>,
    acc: Vec<(String, Vec<Vec<f64>>)>,
}

impl SeedBars {
    /// The side values of every seed (`nodes`, all `metrics` stages) of one stage; else why
    /// not.
    fn gather(
        plan: &Plan,
        loader: &mut Loader<'_>,
        figure: &str,
        nodes: &[petgraph::graph::NodeIndex],
    ) -> Result<SeedBars, String> {
        let mut bars = SeedBars {
            cats: Vec::new(),
            acc: Vec::new(),
        };
        for i in nodes {
            let n = &plan.graph[*i];
            if n.kind.name() != crate::stages::metrics::NAME {
                return Err(format!(
                    "`{}` is a `{}` stage; {figure} reads `metrics` stages",
                    n.name,
                    n.kind.name()
                ));
            }
            let ps = loader.points(plan, *i)?;
            bars.add(side_values(figure, &ps));
        }
        Ok(bars)
    }

    /// Adds one seed's values; the first seed sets the categories and series.
    fn add(&mut self, (c, series): (Vec<String>, Vec<(String, Vec<f64>)>)) {
        if self.cats.is_empty() {
            self.cats = c;
            self.acc = series
                .iter()
                .map(|(name, v)| (name.clone(), vec![Vec::new(); v.len()]))
                .collect();
        }
        for ((_, vals), (_, v)) in self.acc.iter_mut().zip(&series) {
            for (slot, x) in vals.iter_mut().zip(v) {
                slot.push(*x);
            }
        }
    }

    /// Per series, the mean over seeds of each category.
    fn means(&self) -> Vec<(String, Vec<f64>)> {
        self.acc
            .iter()
            .map(|(name, vals)| {
                (
                    name.clone(),
                    vals.iter().map(|v| mosx_stats::summary(v).mean).collect(),
                )
            })
            .collect()
    }

    /// Per series, the sd over seeds of each category (the error bars).
    fn sds(&self) -> Vec<Vec<f64>> {
        self.acc
            .iter()
            .map(|(_, vals)| vals.iter().map(|v| mosx_stats::summary(v).sd).collect())
            .collect()
    }
}

/// The title and y-axis label of a bar figure of `stage` over `seeds` seeds.
fn bars_title(figure: &str, stage: &str, seeds: usize) -> (String, &'static str) {
    if figure == "fairness_sides" {
        (
            format!("{stage}: user side vs item side (mean ± sd over {seeds} seed(s))"),
            "|F| and AUC (x100)",
        )
    } else {
        (
            format!("{stage}: targets below vs above z* (mean ± sd over {seeds} seed(s))"),
            "x100",
        )
    }
}
