//! `mosx export KEY`: write a tabular artifact as CSV or JSON lines, so results can
//! be checked (and every table cell recomputed) with other tools.
//!
//! Tables: a dataset's interactions, sequences, a split, a measure stage's item table,
//! predictions of `evaluate`/`baseline` stages joined with their points (user, groups,
//! target, label, history shares), a JSON artifact holding a list of records (a
//! training's `log`), and any stage's metrics (`--metrics`).
//!
//! `mosx export --to mlflow URI SPEC` shares a spec's trainings on an MLflow tracking
//! server instead ([`mlflow`], over [`crate::mlflow`]).
//!
//! The pieces: [`tables`] (the joined tables), [`records`] (a JSON artifact's list of
//! records as a table), [`upstream`] (the stages an export reads beside its own),
//! [`artifacts`] (each kind of artifact written out) and [`writer`] (where it goes).

mod artifacts;
mod mlflow;
mod records;
mod tables;
mod upstream;
mod writer;

use std::path::PathBuf;

use mosx_store::ArtifactMeta;

use super::common::{self, StoreArgs, UsageError};
use crate::table_io::Format;

#[derive(clap::Args)]
#[command(
    about = "Export a stage's table (dataset, sequences, split, item table, predictions, training log, metrics) as CSV or JSON lines, or share a spec's trainings on MLflow (--to mlflow)",
    after_help = "Examples:\n  mosx export 3fa9c2 --format csv > items.csv\n  mosx export 3fa9c2 --artifact sequences --format jsonl -o seq.jsonl\n  mosx export 7be01d --format csv -o out/preds.csv          # an evaluate or baseline stage\n  mosx export 7be01d --stereotypes 5c1e9a                  # item groups from that measure stage\n  mosx export 91ad3f --artifact log --format jsonl          # a train stage's per-epoch log\n  mosx export 91ad3f --artifact log --records train.steps   # its per-step losses\n  mosx export 91ad3f --metrics                              # any stage's metrics\n  mosx export --to mlflow http://127.0.0.1:5000 experiments/table3.yaml\n\nWith --to mlflow URI SPEC, each train stage of SPEC and its evaluations become one run\n(found again by the tag mosx.stage_key: a second export updates it) in the experiment\nnamed after the spec; http:// only, the server run with --serve-artifacts.\n\nPredictions are written one row per scored point: index (into the sampled sequences),\nuser, user_group, target, title, target_group, label, p_yes, setting, then the point's\nhistory share P_u(b) per item group (history_share_<group>), enough to recompute F, AUC,\nprecision and recall outside mosx. target_group is the `|`-joined item groups of the\ntarget (`neutral` for none), read from a measure stage: --stereotypes KEY if given,\nelse the measure stage of the metrics stage(s) that read these predictions, else the\nmeasure stage of the same split. If none (or several different ones) is found, name one\nwith --stereotypes; with none found the group columns stay empty and a note is printed."
)]
pub struct ExportArgs {
    /// The stage's key prefix; with `--to mlflow`, the tracking server's URI (http:// only).
    #[arg(value_name = "KEY_PREFIX|URI")]
    pub key_prefix: String,
    /// With `--to mlflow`: the spec whose trainings are exported.
    #[arg(requires = "to", required_if_eq("to", "mlflow"))]
    pub spec: Option<PathBuf>,
    /// Share runs on a tracking server instead of writing a table: `mlflow` (then URI SPEC).
    #[arg(long, value_enum, value_name = "SINK", conflicts_with_all = ["artifact", "output", "stereotypes", "records", "metrics"])]
    pub to: Option<Sink>,
    /// With `--to mlflow`: set a spec value, as `mosx run --set`.
    #[arg(long = "set", value_name = "PATH=VALUE", requires = "to")]
    pub sets: Vec<String>,
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

/// Where `--to` shares runs.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Sink {
    /// An MLflow tracking server (REST API 2.0).
    Mlflow,
}

fn short(key: &str) -> &str {
    &key[..12.min(key.len())]
}

pub fn run(a: ExportArgs) -> anyhow::Result<i32> {
    if let (Some(Sink::Mlflow), Some(spec)) = (a.to, &a.spec) {
        return mlflow::export(&a.key_prefix, spec, &a);
    }
    let location = common::location(&a.store)?;
    let store = common::existing_store(&a.store)?
        .ok_or_else(|| UsageError(format!("no store at {location}")))?;
    let key = common::resolve_key(&*store, &a.key_prefix)?;
    if a.metrics {
        return artifacts::export_metrics(&*store, &key, &a);
    }
    let metas = store.artifacts(&key)?;
    let meta = chosen_artifact(&metas, a.artifact.as_deref(), &key)?;
    let bytes = store.artifact(&key, &meta.name)?;
    if meta.format == "csv" {
        return artifacts::export_csv(&bytes, &a);
    }
    if meta.format == "json" {
        return artifacts::export_json(&bytes, meta, &key, &a);
    }
    artifacts::export_bincode(&*store, &key, meta, &bytes, &a)
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
