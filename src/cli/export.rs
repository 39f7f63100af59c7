//! `mosx export KEY`: write a tabular artifact as CSV or JSON lines, so results can
//! be checked (and every table cell recomputed) with other tools.
//!
//! Tables: a dataset's interactions, sequences, a split, a measure stage's item table,
//! predictions of `evaluate`/`baseline` stages joined with their points (user, groups,
//! target, label, history shares), a JSON artifact holding a list of records (a
//! training's `log`), and any stage's metrics (`--metrics`).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use mosx_data::{Dataset, Sequences, Split, Stereotypes, Table, Tabular};
use mosx_report::output::{self, OutputFile};
use mosx_store::{ArtifactMeta, Store};
use serde_json::Value;

use super::common::{self, StoreArgs, UsageError};
use super::EXIT_OK;
use crate::predictions::Predictions;
use crate::table_io::{self, Format};

#[derive(clap::Args)]
#[command(
    about = "Export a stage's table (dataset, sequences, split, item table, predictions, training log, metrics) as CSV or JSON lines",
    after_help = "Examples:\n  mosx export 3fa9c2 --format csv > items.csv\n  mosx export 3fa9c2 --artifact sequences --format jsonl -o seq.jsonl\n  mosx export 7be01d --format csv -o out/preds.csv          # an evaluate or baseline stage\n  mosx export 7be01d --stereotypes 5c1e9a                  # item groups from that measure stage\n  mosx export 91ad3f --artifact log --format jsonl          # a train stage's per-epoch log\n  mosx export 91ad3f --artifact log --records train.steps   # its per-step losses\n  mosx export 91ad3f --metrics                              # any stage's metrics\n\nPredictions are written one row per scored point: index (into the sampled sequences),\nuser, user_group, target, title, target_group, label, p_yes, setting, then the point's\nhistory share P_u(b) per item group (history_share_<group>), enough to recompute F, AUC,\nprecision and recall outside mosx. target_group is the `|`-joined item groups of the\ntarget (`neutral` for none), read from a measure stage: --stereotypes KEY if given,\nelse the measure stage of the metrics stage(s) that read these predictions, else the\nmeasure stage of the same split. If none (or several different ones) is found, name one\nwith --stereotypes; with none found the group columns stay empty and a note is printed."
)]
pub struct ExportArgs {
    pub key_prefix: String,
    /// Which artifact of the stage (default: its only tabular one).
    #[arg(long)]
    pub artifact: Option<String>,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Output file (default: stdout). Its folder must exist.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// For predictions: the `measure` stage (key prefix) giving the target's item group.
    #[arg(long, value_name = "KEY_PREFIX")]
    pub stereotypes: Option<String>,
    /// For a JSON artifact: the dotted path of the list of records to export (default: a
    /// list named `epochs`, else the first list found), e.g. `train.steps`.
    #[arg(long, value_name = "PATH")]
    pub records: Option<String>,
    /// Export the stage's metrics (stage, name, key, metric, value) instead of an artifact.
    #[arg(long, conflicts_with = "artifact")]
    pub metrics: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Interactions of a dataset, as a table.
struct Interactions<'a>(&'a Dataset);

impl Tabular for Interactions<'_> {
    fn columns(&self) -> Vec<String> {
        ["user", "item", "rating", "timestamp", "user_group", "title"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
    fn rows(&self) -> Box<dyn Iterator<Item = Vec<Value>> + '_> {
        let ds = self.0;
        Box::new(ds.interactions.iter().map(move |x| {
            let u = &ds.users[x.user as usize];
            let it = &ds.items[x.item as usize];
            vec![
                Value::from(u.id.clone()),
                Value::from(it.id.clone()),
                Value::from(x.rating as f64),
                x.timestamp.map(Value::from).unwrap_or(Value::Null),
                Value::from(ds.groups.get(u.group as usize).cloned().unwrap_or_default()),
                Value::from(it.title.clone()),
            ]
        }))
    }
}

/// Where the table goes: stdout, or a file written through `mosx_report::output` (never
/// through a symlink; a temporary file renamed into place by [`Output::finish`], so a failed
/// export leaves no partial file).
enum Output {
    Stdout(std::io::BufWriter<std::io::StdoutLock<'static>>),
    File(OutputFile),
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Output::Stdout(w) => w.write(buf),
            Output::File(f) => f.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::Stdout(w) => w.flush(),
            Output::File(f) => f.flush(),
        }
    }
}

impl Output {
    /// Flushes stdout, or puts the file in place.
    fn finish(self) -> anyhow::Result<()> {
        match self {
            Output::Stdout(mut w) => w.flush()?,
            Output::File(f) => {
                f.commit().map_err(|e| UsageError(e.to_string()))?;
            }
        }
        Ok(())
    }
}

/// The output stream; a missing folder, a symlink or an unwritable file is an error naming
/// the path.
fn open_output(path: Option<&Path>) -> anyhow::Result<Output> {
    let Some(p) = path else {
        return Ok(Output::Stdout(std::io::BufWriter::new(
            std::io::stdout().lock(),
        )));
    };
    if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(UsageError(format!(
                "cannot write `{}`: folder `{}` does not exist",
                p.display(),
                parent.display()
            ))
            .into());
        }
    }
    let usage = |e: mosx_report::OutputError| UsageError(e.to_string());
    let c = output::confine(p, None).map_err(usage)?;
    Ok(Output::File(OutputFile::create(&c).map_err(usage)?))
}

/// The upstream key a stored stage bound to `slot`.
fn input_key(store: &dyn Store, key: &str, slot: &str) -> anyhow::Result<Option<String>> {
    let rec = store
        .record(key)?
        .ok_or_else(|| UsageError(format!("stage {} has no result row", short(key))))?;
    Ok(rec
        .parts
        .get("inputs")
        .and_then(|i| i.get(slot))
        .and_then(Value::as_str)
        .map(str::to_string))
}

fn short(key: &str) -> &str {
    &key[..12.min(key.len())]
}

/// The measure stage giving the item groups of predictions stored under `key`
/// (see the command's help for the order in which it is looked for).
fn find_stereotypes(
    store: &dyn Store,
    key: &str,
    given: Option<&str>,
) -> anyhow::Result<Option<String>> {
    if let Some(prefix) = given {
        let k = common::resolve_key(store, prefix)?;
        let rec = store
            .record(&k)?
            .ok_or_else(|| UsageError(format!("stage {} has no result row", short(&k))))?;
        if rec.kind != crate::stages::measure::NAME {
            return Err(UsageError(format!(
                "--stereotypes {prefix}: stage `{}` is a `{}` stage, not `measure`",
                rec.name, rec.kind
            ))
            .into());
        }
        return Ok(Some(k));
    }
    let pick =
        |found: BTreeSet<String>, how: &str| -> anyhow::Result<Option<String>> {
            match found.len() {
                0 => Ok(None),
                1 => Ok(found.into_iter().next()),
                _ => Err(UsageError(format!(
                "{how} point to {} different measure stages ({}): name one with --stereotypes KEY",
                found.len(),
                found.iter().map(|k| short(k)).collect::<Vec<_>>().join(", ")
            ))
                .into()),
            }
        };
    // 1. The measure stage(s) of the metrics stages that read these predictions.
    let mut via_metrics = BTreeSet::new();
    for s in store.list(Some(crate::stages::metrics::NAME), false)? {
        if input_key(store, &s.key, "predictions")?.as_deref() == Some(key) {
            if let Some(m) = input_key(store, &s.key, "stereotypes")? {
                via_metrics.insert(m);
            }
        }
    }
    if let Some(k) = pick(via_metrics, "the metrics stages reading these predictions")? {
        return Ok(Some(k));
    }
    // 2. The measure stage(s) of the same split.
    let Some(split) = input_key(store, key, "split")? else {
        return Ok(None);
    };
    let mut same_split = BTreeSet::new();
    for s in store.list(Some(crate::stages::measure::NAME), false)? {
        if input_key(store, &s.key, "split")?.as_deref() == Some(split.as_str()) {
            same_split.insert(s.key);
        }
    }
    pick(same_split, "the measure stages of the same split")
}

/// Predictions joined with their points: one row per scored point.
struct PredictionTable<'a> {
    preds: &'a Predictions,
    seq: &'a Sequences,
    ds: &'a Dataset,
    st: Option<&'a Stereotypes>,
}

impl Tabular for PredictionTable<'_> {
    fn columns(&self) -> Vec<String> {
        let mut c: Vec<String> = [
            "index",
            "user",
            "user_group",
            "target",
            "title",
            "target_group",
            "label",
            "p_yes",
            "setting",
        ]
        .map(String::from)
        .to_vec();
        c.extend(self.ds.groups.iter().map(|g| format!("history_share_{g}")));
        c
    }
    fn rows(&self) -> Box<dyn Iterator<Item = Vec<Value>> + '_> {
        let setting = serde_json::to_value(self.preds.setting).unwrap_or(Value::Null);
        Box::new(self.preds.points.iter().map(move |pr| {
            let d = &self.seq.points[pr.index as usize];
            let u = &self.ds.users[d.user as usize];
            let it = &self.ds.items[d.target as usize];
            let (group, shares) = match self.st {
                Some(st) => {
                    let m = st.item_groups(d.target);
                    let names: Vec<&str> = m
                        .iter()
                        .zip(&st.groups)
                        .filter(|(b, _)| **b)
                        .map(|(_, g)| g.as_str())
                        .collect();
                    let group = if names.is_empty() {
                        "neutral".to_string()
                    } else {
                        names.join("|")
                    };
                    (
                        Value::from(group),
                        st.history_share(&d.history)
                            .into_iter()
                            .map(Value::from)
                            .collect::<Vec<_>>(),
                    )
                }
                None => (Value::Null, vec![Value::Null; self.ds.groups.len()]),
            };
            let mut row = vec![
                Value::from(pr.index),
                Value::from(u.id.clone()),
                Value::from(
                    self.ds
                        .groups
                        .get(u.group as usize)
                        .cloned()
                        .unwrap_or_default(),
                ),
                Value::from(it.id.clone()),
                Value::from(it.title.clone()),
                group,
                Value::from(d.label),
                Value::from(pr.p_yes),
                setting.clone(),
            ];
            row.extend(shares);
            row
        }))
    }
}

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
fn json_records(v: &Value, path: Option<&str>) -> Result<(String, Table, Vec<String>), String> {
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

pub fn run(a: ExportArgs) -> anyhow::Result<i32> {
    let location = common::location(&a.store)?;
    let store = common::existing_store(&a.store)?
        .ok_or_else(|| UsageError(format!("no store at {location}")))?;
    let key = common::resolve_key(&*store, &a.key_prefix)?;
    if a.metrics {
        return export_metrics(&*store, &key, &a);
    }
    let metas = store.artifacts(&key)?;
    let meta = chosen_artifact(&metas, a.artifact.as_deref(), &key)?;
    let bytes = store.artifact(&key, &meta.name)?;
    if meta.format == "csv" {
        return export_csv(&bytes, &a);
    }
    if meta.format == "json" {
        return export_json(&bytes, meta, &key, &a);
    }
    export_bincode(&*store, &key, meta, &bytes, &a)
}

/// `--metrics`: the stage's metrics as a table (stage, kind, key, seed, metric, value;
/// undefined values empty).
fn export_metrics(store: &dyn Store, key: &str, a: &ExportArgs) -> anyhow::Result<i32> {
    let rec = store
        .record(key)?
        .ok_or_else(|| UsageError(format!("stage {} has no result row", short(key))))?;
    let table = Table {
        columns: ["stage", "kind", "key", "seed", "metric", "value"]
            .map(String::from)
            .to_vec(),
        rows: store
            .metrics(key)?
            .into_iter()
            .map(|(m, v)| {
                vec![
                    Value::from(rec.name.clone()),
                    Value::from(rec.kind.clone()),
                    Value::from(key.to_string()),
                    rec.seed.map(Value::from).unwrap_or(Value::Null),
                    Value::from(m),
                    if v.is_finite() {
                        Value::from(v)
                    } else {
                        Value::Null
                    },
                ]
            })
            .collect(),
    };
    let mut out = open_output(a.output.as_deref())?;
    table_io::write(&table, a.format, &mut out)?;
    out.finish()?;
    Ok(EXIT_OK)
}

/// The artifact to export: the one named by `--artifact`, else the stage's only tabular
/// one. A stage's stored table (format `csv`, e.g. measure's item table) is its default
/// export; otherwise its one bincode artifact, else its one JSON artifact.
fn chosen_artifact<'m>(
    metas: &'m [ArtifactMeta],
    name: Option<&str>,
    key: &str,
) -> anyhow::Result<&'m ArtifactMeta> {
    let csv: Vec<_> = metas.iter().filter(|m| m.format == "csv").collect();
    let bincode: Vec<_> = metas
        .iter()
        .filter(|m| m.format.starts_with("bincode:"))
        .collect();
    let json: Vec<_> = metas.iter().filter(|m| m.format == "json").collect();
    let tabular = if !csv.is_empty() {
        csv
    } else if !bincode.is_empty() {
        bincode
    } else {
        json
    };
    let meta = match name {
        Some(name) => metas.iter().find(|m| m.name == name).ok_or_else(|| {
            UsageError(format!(
                "stage {} has no artifact `{name}` (it has: {})",
                short(key),
                metas
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?,
        None => match tabular.as_slice() {
            [one] => *one,
            [] => {
                return Err(UsageError(format!(
                    "stage {} has no artifact to export; try --metrics",
                    short(key)
                ))
                .into())
            }
            _ => {
                return Err(UsageError(format!(
                    "stage {} has several artifacts: name one with --artifact",
                    short(key)
                ))
                .into())
            }
        },
    };
    Ok(meta)
}

/// A stored CSV table: copied as is, or converted to JSON lines.
fn export_csv(bytes: &[u8], a: &ExportArgs) -> anyhow::Result<i32> {
    let mut out = open_output(a.output.as_deref())?;
    match a.format {
        Format::Csv => out.write_all(bytes)?,
        Format::Jsonl => table_io::csv_to_jsonl(bytes, &mut out)?,
    }
    out.finish()?;
    Ok(EXIT_OK)
}

/// A JSON artifact: its list of records at `--records` (or the default one, with a note
/// naming the others), flattened to a table.
fn export_json(
    bytes: &[u8],
    meta: &ArtifactMeta,
    key: &str,
    a: &ExportArgs,
) -> anyhow::Result<i32> {
    let v: Value = serde_json::from_slice(bytes)?;
    let (used, table, others) = json_records(&v, a.records.as_deref()).map_err(|m| {
        UsageError(format!(
            "artifact `{}` (json) {m}; `mosx show {}` prints it",
            meta.name,
            short(key)
        ))
    })?;
    if a.records.is_none() && !others.is_empty() {
        eprintln!(
            "note: exported the records at `{used}`; others: {} (choose with --records PATH)",
            others.join(", ")
        );
    }
    let mut out = open_output(a.output.as_deref())?;
    table_io::write(&table, a.format, &mut out)?;
    out.finish()?;
    Ok(EXIT_OK)
}

/// A bincode artifact (dataset, sequences, split, stereotypes or predictions) as a table.
/// Everything is decoded and checked before the output file is created.
fn export_bincode(
    store: &dyn Store,
    key: &str,
    meta: &ArtifactMeta,
    bytes: &[u8],
    a: &ExportArgs,
) -> anyhow::Result<i32> {
    let table_kind = meta.format.trim_start_matches("bincode:");
    let out = match table_kind {
        "dataset" => {
            let ds = bincode::deserialize::<Dataset>(bytes)?;
            write_table(&Interactions(&ds), a)?
        }
        "sequences" => {
            let seq = bincode::deserialize::<Sequences>(bytes)?;
            write_table(&seq, a)?
        }
        "split" => {
            let split = bincode::deserialize::<Split>(bytes)?;
            write_table(&split, a)?
        }
        "stereotypes" => export_stereotypes(store, key, bytes, a)?,
        "predictions" => export_predictions(store, key, bytes, a)?,
        other => {
            return Err(
                UsageError(format!("artifact `{}` ({other}) is not tabular", meta.name)).into(),
            )
        }
    };
    out.finish()?;
    Ok(EXIT_OK)
}

/// Opens the output and writes `table` to it in the chosen format; the caller finishes it.
fn write_table(table: &dyn Tabular, a: &ExportArgs) -> anyhow::Result<Output> {
    let mut out = open_output(a.output.as_deref())?;
    table_io::write(table, a.format, &mut out)?;
    Ok(out)
}

/// The dataset that the stage stored under `key` read, if it records one.
fn dataset_of(store: &dyn Store, key: &str) -> anyhow::Result<Option<Dataset>> {
    match input_key(store, key, "dataset")? {
        Some(d) => Ok(Some(bincode::deserialize(&store.artifact(&d, "dataset")?)?)),
        None => Ok(None),
    }
}

/// A measure stage's stereotypes: its item table, with titles from the dataset the
/// measurement was made on (the bare stereotypes when that is not recorded).
fn export_stereotypes(
    store: &dyn Store,
    key: &str,
    bytes: &[u8],
    a: &ExportArgs,
) -> anyhow::Result<Output> {
    let st: Stereotypes = bincode::deserialize(bytes)?;
    // Titles come from the dataset this measurement was made on.
    let ds = dataset_of(store, key)?;
    let mut out = open_output(a.output.as_deref())?;
    match ds {
        Some(ds) => table_io::write(&mosx_data::item_table(&ds, &st), a.format, &mut out)?,
        None => table_io::write(&st, a.format, &mut out)?,
    }
    Ok(out)
}

/// Predictions joined with their points (sequences, dataset) and, when a measure stage is
/// found, the target's item groups and the history shares.
fn export_predictions(
    store: &dyn Store,
    key: &str,
    bytes: &[u8],
    a: &ExportArgs,
) -> anyhow::Result<Output> {
    let preds: Predictions = bincode::deserialize(bytes)?;
    let missing = |slot: &str| {
        UsageError(format!(
            "stage {}: no `{slot}` input recorded, cannot join the predictions",
            short(key)
        ))
    };
    let seq_key = input_key(store, key, "sequences")?.ok_or_else(|| missing("sequences"))?;
    let seq: Sequences = bincode::deserialize(&store.artifact(&seq_key, "sequences")?)?;
    let ds = dataset_of(store, key)?.ok_or_else(|| missing("dataset"))?;
    let st_key = find_stereotypes(store, key, a.stereotypes.as_deref())?;
    let st: Option<Stereotypes> = match &st_key {
        Some(k) => Some(bincode::deserialize(&store.artifact(k, "stereotypes")?)?),
        None => {
            eprintln!(
                "note: no measure stage found for stage {}: target_group and history shares are empty (name one with --stereotypes KEY)",
                short(key)
            );
            None
        }
    };
    write_table(
        &PredictionTable {
            preds: &preds,
            seq: &seq,
            ds: &ds,
            st: st.as_ref(),
        },
        a,
    )
}
