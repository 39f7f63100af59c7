//! `mosx export KEY`: write a tabular artifact as CSV or JSON lines, so results can
//! be checked with other tools.

use std::io::Write;
use std::path::PathBuf;

use mosx_data::{Dataset, Sequences, Split, Stereotypes, Tabular};
use serde_json::Value;

use super::common::{self, StoreArg, UsageError};
use super::EXIT_OK;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

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
    let tabular: Vec<_> = metas
        .iter()
        .filter(|m| m.format.starts_with("bincode:"))
        .collect();
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
    let table_kind = meta.format.trim_start_matches("bincode:");
    match table_kind {
        "dataset" => write(
            &Interactions(&bincode::deserialize::<Dataset>(&bytes)?),
            a.format,
            &mut out,
        )?,
        "sequences" => write(
            &bincode::deserialize::<Sequences>(&bytes)?,
            a.format,
            &mut out,
        )?,
        "split" => write(&bincode::deserialize::<Split>(&bytes)?, a.format, &mut out)?,
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
                    write(&mosx_data::item_table(&ds, &st), a.format, &mut out)?
                }
                None => write(&st, a.format, &mut out)?,
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

fn write(t: &dyn Tabular, format: Format, out: &mut dyn Write) -> anyhow::Result<()> {
    let cols = t.columns();
    match format {
        Format::Csv => {
            let mut w = csv_line(
                &cols
                    .iter()
                    .map(|c| Value::from(c.clone()))
                    .collect::<Vec<_>>(),
            );
            w.push('\n');
            out.write_all(w.as_bytes())?;
            for row in t.rows() {
                let mut line = csv_line(&row);
                line.push('\n');
                out.write_all(line.as_bytes())?;
            }
        }
        Format::Jsonl => {
            for row in t.rows() {
                let obj: serde_json::Map<String, Value> = cols.iter().cloned().zip(row).collect();
                serde_json::to_writer(&mut *out, &obj)?;
                out.write_all(b"\n")?;
            }
        }
    }
    Ok(())
}

/// One CSV record (RFC 4180 quoting).
fn csv_line(row: &[Value]) -> String {
    row.iter()
        .map(|v| {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                Value::Number(n) => match n.as_f64() {
                    Some(f) if f.is_nan() => String::new(),
                    _ => n.to_string(),
                },
                other => other.to_string(),
            };
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}
