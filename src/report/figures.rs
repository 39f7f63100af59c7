//! Named figures: `zscore_hist` (Fig. 3, histogram of item z-scores per group with
//! the threshold line).

use std::path::PathBuf;

use serde_json::{Map, Value};

use mosx_data::Stereotypes;
use mosx_report::HistogramSeries;
use mosx_store::Store;

use super::ReportError;
use crate::plan::Plan;

pub const FIGURES: &[&str] = &["zscore_hist"];

pub fn render(
    plan: &Plan,
    store: &dyn Store,
    figure: &str,
    stages: &[String],
    output: &str,
    options: &Map<String, Value>,
) -> Result<Vec<PathBuf>, ReportError> {
    let err = |message: String| ReportError::Input {
        output: output.to_string(),
        message,
    };
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
        if n.kind.name() != "measure" {
            return Err(err(format!(
                "`{}` is a `{}` stage; zscore_hist reads `measure` stages",
                n.name,
                n.kind.name()
            )));
        }
        let st: Stereotypes = bincode::deserialize(&store.artifact(&n.key, "stereotypes")?)
            .map_err(|e| err(format!("{}: cannot decode stereotypes: {e}", n.name)))?;
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
        if let Some(parent) = std::path::Path::new(&base)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|source| ReportError::Io {
                path: parent.into(),
                source,
            })?;
        }
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
