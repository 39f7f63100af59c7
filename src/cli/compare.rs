//! `mosx compare SPEC`: the sweep's points (or a search's trials) side by side, from the
//! store alone (never computing): the parameters that differ, the chosen metrics as
//! mean ± sd over the replicates, failed and pending rows marked (`report::sweep_table`);
//! for a search, then each group's best trial.

use std::io::Write;
use std::path::PathBuf;

use super::common::{self, StoreArgs, UsageError};
use super::EXIT_OK;
use crate::report::sweep_table::{self, Cell, Table};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Md,
    Csv,
    Json,
}

#[derive(clap::Args)]
#[command(
    about = "Compare a sweep's points or a search's trials from the cache (never computes)",
    after_help = "Examples:\n  mosx compare experiments/search.yaml\n  mosx compare spec.yaml --metrics ml_metrics.auc,F --sort auc --only-changed --format csv\n\nMETRIC is STAGE.METRIC, or a metric name of the search's objective stage or of the one stage writing it."
)]
pub struct CompareArgs {
    pub spec: PathBuf,
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
    /// Show only the parameters whose value differs between rows.
    #[arg(long)]
    pub only_changed: bool,
    /// Metrics to show, comma-separated (default: a search's objective).
    #[arg(long, value_delimiter = ',', value_name = "METRIC,...")]
    pub metrics: Vec<String>,
    /// Sort rows by this metric (one of --metrics, added if missing), best first.
    #[arg(long, value_name = "METRIC")]
    pub sort: Option<String>,
    #[arg(long, value_enum, default_value = "md")]
    pub format: Format,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(a: CompareArgs) -> anyhow::Result<i32> {
    let spec = mosx_spec::load(&a.spec, &a.sets)?;
    let Some(store) = common::existing_store(&a.store)? else {
        return Err(UsageError(format!("no store at {}", common::location(&a.store)?)).into());
    };
    let (plan, search) = common::replay(spec, Some(&*store), true)?;
    let objective = plan.spec.search.as_ref().map(|s| &s.objective);
    let mut names = a.metrics.clone();
    if names.is_empty() {
        match objective {
            Some(o) => names.push(format!("{}.{}", o.stage, o.metric)),
            None => {
                return Err(
                    UsageError("give --metrics (the spec has no search objective)".into()).into(),
                )
            }
        }
    }
    let default_stage = objective.map(|o| o.stage.as_str());
    let usage = |e: crate::report::ReportError| UsageError(e.to_string());
    let mut columns = sweep_table::resolve(&plan, &names, default_stage).map_err(usage)?;
    let sort = match &a.sort {
        Some(s) => {
            let c = sweep_table::resolve(&plan, std::slice::from_ref(s), default_stage)
                .map_err(usage)?
                .remove(0);
            let col = match columns.iter().position(|x| *x == c) {
                Some(i) => i,
                None => {
                    columns.push(c);
                    columns.len() - 1
                }
            };
            Some(col)
        }
        None => None,
    };
    let mut table = sweep_table::build(&plan, &*store, &columns)?;
    if a.only_changed {
        table.only_changed();
    }
    if let Some(col) = sort {
        let c = &columns[col];
        let smaller_better = objective.is_some_and(|o| {
            o.stage == c.stage && o.metric == c.metric && o.direction == mosx_search::Direction::Min
        });
        table.sort_by(col, !smaller_better);
    }
    let best = search.map(|d| d.best_lines()).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    match a.format {
        Format::Md => write_md(&mut out, &table, &best)?,
        Format::Csv => write_csv(&mut out, &table)?,
        Format::Json => {
            let v = serde_json::json!({ "table": table, "best": best });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
    }
    Ok(EXIT_OK)
}

fn value_text(v: Option<&serde_json::Value>) -> String {
    let s = match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    };
    mosx_spec::printable(&s).into_owned()
}

fn cell_text(c: &Cell) -> String {
    match (c.mean, c.sd) {
        (Some(m), Some(sd)) => format!("{m:.4} ± {sd:.4} (n={})", c.n),
        (Some(m), None) => format!("{m:.4} (n={})", c.n),
        _ => "–".into(),
    }
}

fn write_md(out: &mut impl Write, t: &Table, best: &[String]) -> std::io::Result<()> {
    let mut head = vec!["row".to_string(), "status".to_string()];
    head.extend(t.params.iter().cloned());
    head.extend(t.columns.iter().map(|c| c.label()));
    writeln!(out, "| {} |", head.join(" | "))?;
    writeln!(out, "|{}", "---|".repeat(head.len()))?;
    for r in &t.rows {
        let mut cells = vec![r.label.clone(), r.status.name()];
        cells.extend(t.params.iter().map(|p| value_text(r.params.get(p))));
        cells.extend(r.cells.iter().map(cell_text));
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    if !best.is_empty() {
        writeln!(out)?;
        for b in best {
            writeln!(out, "{b}")?;
        }
    }
    Ok(())
}

fn write_csv(out: &mut impl Write, t: &Table) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let mut head = vec!["row".to_string(), "status".to_string()];
    head.extend(t.params.iter().cloned());
    for c in &t.columns {
        head.extend([
            format!("{}_mean", c.label()),
            format!("{}_sd", c.label()),
            format!("{}_n", c.label()),
        ]);
    }
    w.write_record(&head)?;
    let num = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    for r in &t.rows {
        let mut rec = vec![r.label.clone(), r.status.name()];
        rec.extend(t.params.iter().map(|p| value_text(r.params.get(p))));
        for c in &r.cells {
            rec.extend([num(c.mean), num(c.sd), c.n.to_string()]);
        }
        w.write_record(&rec)?;
    }
    w.flush()?;
    Ok(())
}
