//! A JSON artifact (a training's `log`) as a table: one of its lists of records,
//! flattened to dotted columns.

use mosx_data::Table;
use serde_json::Value;

/// Every list of records (JSON objects) inside `v`, breadth-first, with its dotted path.
fn record_lists(v: &Value) -> Vec<(String, &Vec<Value>)> {
    let mut out = Vec::new();
    let mut queue: std::collections::VecDeque<(String, &Value)> = [(String::new(), v)].into();
    while let Some((path, v)) = queue.pop_front() {
        match v {
            Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_object) => {
                out.push((path, a))
            }
            Value::Object(o) => {
                for (k, x) in o {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    queue.push_back((p, x));
                }
            }
            _ => {}
        }
    }
    out
}

/// `obj` flattened to dotted column names (`parts.disc`); lists become JSON text.
fn flatten(prefix: &str, obj: &serde_json::Map<String, Value>, out: &mut Vec<(String, Value)>) {
    for (k, v) in obj {
        let name = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Object(o) => flatten(&name, o, out),
            Value::Array(_) => out.push((name, Value::from(v.to_string()))),
            x => out.push((name, x.clone())),
        }
    }
}

/// A JSON artifact as a table: the list of records at `path` (dotted; `""` for a
/// top-level list), or by default a list named `epochs` (a training log's per-epoch
/// rows), else the first list of records found breadth-first. Returns the path used and
/// the other candidates.
pub(super) fn json_records(
    v: &Value,
    path: Option<&str>,
) -> Result<(String, Table, Vec<String>), String> {
    let lists = record_lists(v);
    let names: Vec<String> = lists.iter().map(|(p, _)| p.clone()).collect();
    let chosen = match path {
        Some(p) => lists.iter().find(|(q, _)| q == p).ok_or_else(|| {
            format!(
                "no list of records at `{p}` (lists of records: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            )
        })?,
        None => lists
            .iter()
            .find(|(q, _)| q == "epochs" || q.ends_with(".epochs"))
            .or_else(|| lists.first())
            .ok_or_else(|| "holds no list of records".to_string())?,
    };
    let mut columns: Vec<String> = Vec::new();
    let mut flat_rows = Vec::new();
    for r in chosen.1.iter().filter_map(Value::as_object) {
        let mut flat = Vec::new();
        flatten("", r, &mut flat);
        for (k, _) in &flat {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
        flat_rows.push(flat);
    }
    let rows = flat_rows
        .into_iter()
        .map(|flat| {
            columns
                .iter()
                .map(|c| {
                    flat.iter()
                        .find(|(k, _)| k == c)
                        .map(|(_, v)| v.clone())
                        .unwrap_or(Value::Null)
                })
                .collect()
        })
        .collect();
    let others = names.into_iter().filter(|n| *n != chosen.0).collect();
    Ok((chosen.0.clone(), Table { columns, rows }, others))
}
