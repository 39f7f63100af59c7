//! The comparison table of a sweep (`mosx compare`): one row per sweep point, or per trial of
//! a search, read from the store alone.
//!
//! Invariants:
//! * A row pools the instances that differ only in the replicate axes (`seeds`,
//!   `sweep.replicates`); for a search, the instances of one trial. Its parameters are the
//!   swept non-replicate paths (grid and searched), in `Spec::sweep_paths` order.
//! * A metric cell is the mean and sample standard deviation (n − 1; none below two values)
//!   of the stored metric over the row's replicates that have a finite value; `n` counts
//!   them.
//! * A row is `failed` when a stage of one of its instances last failed (its key is among
//!   the store's failed keys), else `pruned at epoch e` when a training of one of its
//!   instances has a stored `pruned_at_epoch` (ASHA; the earliest), else `pending` when a
//!   metric's stage is not stored, else `ok`.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use mosx_store::Store;

use super::ReportError;
use crate::plan::Plan;

/// A metric column: `metric` of spec stage `stage`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Column {
    pub stage: String,
    pub metric: String,
}

impl Column {
    pub fn label(&self) -> String {
        format!("{}.{}", self.stage, self.metric)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RowStatus {
    Ok,
    Pending,
    Failed,
    /// ASHA stopped its training after this many epochs.
    Pruned(usize),
}

impl RowStatus {
    pub fn name(self) -> String {
        match self {
            RowStatus::Ok => "ok".into(),
            RowStatus::Pending => "pending".into(),
            RowStatus::Failed => "failed".into(),
            RowStatus::Pruned(e) => format!("pruned at epoch {e}"),
        }
    }
}

/// Mean ± sd of one metric over a row's replicates.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cell {
    pub mean: Option<f64>,
    pub sd: Option<f64>,
    pub n: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// `trial G.I` for a search (group, index), else `point K`.
    pub label: String,
    pub status: RowStatus,
    /// Swept non-replicate path → value.
    pub params: BTreeMap<String, Value>,
    pub replicates: usize,
    pub cells: Vec<Cell>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Table {
    /// The parameter columns, in sweep order.
    pub params: Vec<String>,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

/// Resolves `--metrics` names: `STAGE.METRIC` when the text before the first `.` is a stage
/// of the spec, else a metric of `default_stage` (a search's objective stage) or of the one
/// stage whose kind writes it.
pub fn resolve(
    plan: &Plan,
    names: &[String],
    default_stage: Option<&str>,
) -> Result<Vec<Column>, ReportError> {
    let stages: Vec<&str> = {
        let mut v: Vec<&str> = plan.by_decl.keys().map(|(_, n)| n.as_str()).collect();
        v.dedup();
        v.sort();
        v.dedup();
        v
    };
    let writes = |stage: &str, metric: &str| {
        plan.find(stage).is_some_and(|i| {
            plan.graph[i]
                .kind
                .metrics()
                .iter()
                .any(|p| mosx_stage::kind::metric_matches(p, metric, None, None))
        })
    };
    let input = |message: String| ReportError::Input {
        output: "compare".into(),
        message,
    };
    names
        .iter()
        .map(|name| {
            if let Some((s, m)) = name.split_once('.') {
                if stages.contains(&s) {
                    if !writes(s, m) {
                        return Err(input(format!("stage `{s}` writes no metric `{m}`")));
                    }
                    return Ok(Column {
                        stage: s.into(),
                        metric: m.into(),
                    });
                }
            }
            let candidates: Vec<&str> = match default_stage {
                Some(d) if writes(d, name) => vec![d],
                _ => stages.iter().copied().filter(|s| writes(s, name)).collect(),
            };
            match candidates.as_slice() {
                [one] => Ok(Column {
                    stage: one.to_string(),
                    metric: name.clone(),
                }),
                [] => Err(input(format!(
                    "no stage of the spec writes a metric `{}`; give STAGE.METRIC",
                    mosx_spec::printable(name)
                ))),
                many => Err(input(format!(
                    "several stages write `{name}` ({}); give STAGE.METRIC",
                    many.join(", ")
                ))),
            }
        })
        .collect()
}

/// The table of `plan` over `columns` (see the module invariants).
pub fn build(plan: &Plan, store: &dyn Store, columns: &[Column]) -> Result<Table, ReportError> {
    let spec = &plan.spec;
    let params: Vec<String> = spec
        .sweep_paths
        .iter()
        .filter(|p| !spec.replicate_paths.contains(p))
        .cloned()
        .collect();
    let failed: HashSet<String> = store.list(None, true)?.into_iter().map(|s| s.key).collect();
    // Row key → instance indices, in first-seen order.
    let mut keys: Vec<(String, BTreeMap<String, Value>)> = Vec::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    for (ix, inst) in spec.instances.iter().enumerate() {
        let point: BTreeMap<String, Value> = params
            .iter()
            .filter_map(|p| inst.point.get(p).map(|v| (p.clone(), v.clone())))
            .collect();
        let label = match inst.trial {
            Some(t) => format!("trial {}.{}", t.group, t.index),
            None => format!("point {}", keys.len()),
        };
        let found = keys.iter().position(|(l, p)| match inst.trial {
            Some(_) => *l == label,
            None => *p == point,
        });
        match found {
            Some(k) => members[k].push(ix),
            None => {
                keys.push((label, point));
                members.push(vec![ix]);
            }
        }
    }
    let mut rows = Vec::with_capacity(keys.len());
    for ((label, point), ixs) in keys.into_iter().zip(members) {
        rows.push(row(plan, store, &failed, columns, label, point, &ixs)?);
    }
    Ok(Table {
        params,
        columns: columns.to_vec(),
        rows,
    })
}

/// One row over instances `ixs`.
fn row(
    plan: &Plan,
    store: &dyn Store,
    failed: &HashSet<String>,
    columns: &[Column],
    label: String,
    params: BTreeMap<String, Value>,
    ixs: &[usize],
) -> Result<Row, ReportError> {
    let any_failed = plan
        .by_decl
        .iter()
        .any(|((ix, _), n)| ixs.contains(ix) && failed.contains(&plan.graph[*n].key));
    let pruned = pruned_epoch(plan, store, ixs)?;
    let mut pending = false;
    let mut cells = Vec::with_capacity(columns.len());
    for c in columns {
        let mut values = Vec::new();
        for ix in ixs {
            let Some(&n) = plan.by_decl.get(&(*ix, c.stage.clone())) else {
                continue;
            };
            let key = &plan.graph[n].key;
            if store.record(key)?.is_none() {
                pending = true;
                continue;
            }
            let v = store
                .metrics(key)?
                .into_iter()
                .find(|(m, _)| *m == c.metric);
            values.extend(v.map(|(_, v)| v).filter(|v| v.is_finite()));
        }
        cells.push(cell(&values));
    }
    let status = if any_failed {
        RowStatus::Failed
    } else if let Some(e) = pruned {
        RowStatus::Pruned(e)
    } else if pending {
        RowStatus::Pending
    } else {
        RowStatus::Ok
    };
    Ok(Row {
        label,
        status,
        params,
        replicates: ixs.len(),
        cells,
    })
}

/// The earliest `pruned_at_epoch` of a pruned training (one with a `prune` param) of the
/// instances `ixs`.
fn pruned_epoch(
    plan: &Plan,
    store: &dyn Store,
    ixs: &[usize],
) -> Result<Option<usize>, ReportError> {
    let mut out: Option<usize> = None;
    for ((ix, _), n) in &plan.by_decl {
        let node = &plan.graph[*n];
        if !ixs.contains(ix) || node.params.get("prune").is_none() {
            continue;
        }
        let e = store
            .metrics(&node.key)?
            .into_iter()
            .find(|(m, _)| m == crate::stages::train::PRUNED_METRIC)
            .map(|(_, v)| v as usize);
        if let Some(e) = e {
            out = Some(out.map_or(e, |o| o.min(e)));
        }
    }
    Ok(out)
}

/// Mean and sample sd of `values`.
fn cell(values: &[f64]) -> Cell {
    let n = values.len();
    let mean = (n > 0).then(|| values.iter().sum::<f64>() / n as f64);
    let sd = mean
        .filter(|_| n > 1)
        .map(|m| (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
    Cell { mean, sd, n }
}

impl Table {
    /// Keeps only the parameter columns whose value differs between rows.
    pub fn only_changed(&mut self) {
        let rows = &self.rows;
        self.params.retain(|p| {
            let first = rows.first().and_then(|r| r.params.get(p));
            rows.iter().any(|r| r.params.get(p) != first)
        });
        let keep = self.params.clone();
        for r in &mut self.rows {
            r.params.retain(|k, _| keep.contains(k));
        }
    }

    /// Sorts rows by column `col`'s mean, best first (`descending` for larger is better);
    /// rows without a value last, ties in their order.
    pub fn sort_by(&mut self, col: usize, descending: bool) {
        self.rows.sort_by(|a, b| {
            let (x, y) = (a.cells[col].mean, b.cells[col].mean);
            match (x, y) {
                (Some(x), Some(y)) if descending => y.total_cmp(&x),
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_is_the_mean_and_sample_sd_of_the_finite_values() {
        let c = cell(&[1.0, 3.0]);
        assert_eq!((c.mean, c.n), (Some(2.0), 2));
        assert!((c.sd.unwrap() - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(
            cell(&[5.0]),
            Cell {
                mean: Some(5.0),
                sd: None,
                n: 1
            }
        );
        assert_eq!(
            cell(&[]),
            Cell {
                mean: None,
                sd: None,
                n: 0
            }
        );
    }
}
