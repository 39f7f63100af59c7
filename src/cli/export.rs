//! `mosx export KEY`: write a tabular artifact as CSV or JSON lines, so results can
//! be checked with other tools.

use std::io::Write;
use std::path::PathBuf;

use mosx_data::{Dataset, Sequences, Split, Stereotypes, Tabular};
use serde_json::Value;

use super::common::{self, StoreArg, UsageError};
use super::EXIT_OK;
use crate::table_io::{self, Format};

#[derive(clap::Args)]
#[command(
    about = "Export a tabular artifact (dataset, sequences, split, item table) as CSV or JSON lines",
    after_help = "Examples:\n  mosx export 3fa9c2 --format csv > items.csv\n  mosx export 3fa9c2 --artifact sequences --format jsonl -o seq.jsonl"
)]
pub struct ExportArgs {
    pub key_prefix: String,
    /// Which artifact of the stage (default: its only tabular one).
    #[arg(long)]
    pub artifact: Option<String>,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Output file (default: stdout).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
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

pub fn run(a: ExportArgs) -> anyhow::Result<i32> {
    let store = common::existing_store(&a.store.store)?
        .ok_or_else(|| UsageError(format!("no store at {}", a.store.store.display())))?;
    let key = common::resolve_key(&*store, &a.key_prefix)?;
    let metas = store.artifacts(&key)?;
    // A stage's stored table (format `csv`, e.g. measure's item table) is its
    // default export; otherwise its one bincode artifact.
    let csv: Vec<_> = metas.iter().filter(|m| m.format == "csv").collect();
    let bincode: Vec<_> = metas
        .iter()
        .filter(|m| m.format.starts_with("bincode:"))
        .collect();
    let tabular = if csv.is_empty() { bincode } else { csv };
    let meta = match &a.artifact {
        Some(name) => metas.iter().find(|m| &m.name == name).ok_or_else(|| {
            UsageError(format!(
                "stage {} has no artifact `{name}` (it has: {})",
                &key[..12],
                metas
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?,
        None => match tabular.as_slice() {
            [one] => *one,
            _ => {
                return Err(UsageError(format!(
                    "stage {} has several artifacts: name one with --artifact",
                    &key[..12]
                ))
                .into())
            }
        },
    };
    let bytes = store.artifact(&key, &meta.name)?;
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    if meta.format == "csv" {
        match a.format {
            Format::Csv => out.write_all(&bytes)?,
            Format::Jsonl => table_io::csv_to_jsonl(&bytes, &mut out)?,
        }
        out.flush()?;
        return Ok(EXIT_OK);
    }
    let table_kind = meta.format.trim_start_matches("bincode:");
    match table_kind {
        "dataset" => table_io::write(
            &Interactions(&bincode::deserialize::<Dataset>(&bytes)?),
            a.format,
            &mut out,
        )?,
        "sequences" => table_io::write(
            &bincode::deserialize::<Sequences>(&bytes)?,
            a.format,
            &mut out,
        )?,
        "split" => table_io::write(&bincode::deserialize::<Split>(&bytes)?, a.format, &mut out)?,
        "stereotypes" => {
            let st: Stereotypes = bincode::deserialize(&bytes)?;
            // Titles come from the dataset this measurement was made on.
            let rec = store
                .record(&key)?
                .ok_or_else(|| UsageError("no result row".into()))?;
            let ds_key = rec
                .parts
                .get("inputs")
                .and_then(|i| i.get("dataset"))
                .and_then(Value::as_str)
                .map(str::to_string);
            match ds_key {
                Some(k) => {
                    let ds: Dataset = bincode::deserialize(&store.artifact(&k, "dataset")?)?;
                    table_io::write(&mosx_data::item_table(&ds, &st), a.format, &mut out)?
                }
                None => table_io::write(&st, a.format, &mut out)?,
            }
        }
        other => {
            return Err(
                UsageError(format!("artifact `{}` ({other}) is not tabular", meta.name)).into(),
            )
        }
    }
    out.flush()?;
    Ok(EXIT_OK)
}
