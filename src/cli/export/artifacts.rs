//! Writing each kind of artifact out: a stage's metrics, a stored CSV table, a JSON
//! artifact's records and the bincode artifacts (dataset, sequences, split, stereotypes,
//! predictions, candidates, rankings).

use std::io::Write;

use mosx_data::{Stereotypes, Table, Tabular};
use mosx_store::{ArtifactMeta, Store};
use serde_json::Value;

use super::records::json_records;
use super::tables::{Interactions, PredictionTable};
use super::upstream::{dataset_of, find_stereotypes, input_key, read};
use super::writer::{open_output, Output};
use super::{short, ExportArgs};
use crate::cli::common::UsageError;
use crate::cli::EXIT_OK;
use crate::stages::artifacts::{self, slot};
use crate::table_io::{self, Format};
use mosx_stage::{declared, SlotRef};

/// `--metrics`: the stage's metrics as a table (stage, kind, key, seed, metric, value;
/// undefined values empty).
pub(super) fn export_metrics(store: &dyn Store, key: &str, a: &ExportArgs) -> anyhow::Result<i32> {
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

/// A stored CSV table: copied as is, or converted to JSON lines.
pub(super) fn export_csv(bytes: &[u8], a: &ExportArgs) -> anyhow::Result<i32> {
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
pub(super) fn export_json(
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

/// A bincode artifact (dataset, sequences, split, stereotypes, predictions, candidates or
/// rankings) as a table.
/// Everything is decoded and checked before the output file is created.
pub(super) fn export_bincode(
    store: &dyn Store,
    key: &str,
    meta: &ArtifactMeta,
    bytes: &[u8],
    a: &ExportArgs,
) -> anyhow::Result<i32> {
    let is = |f: declared::Format| meta.format == f.recorded();
    let out = if is(artifacts::DATASET.format) {
        write_table(
            &Interactions(
                &artifacts::DATASET
                    .decode(bytes)
                    .map_err(anyhow::Error::msg)?,
            ),
            a,
        )?
    } else if is(artifacts::SEQUENCES.format) {
        write_table(
            &artifacts::SEQUENCES
                .decode(bytes)
                .map_err(anyhow::Error::msg)?,
            a,
        )?
    } else if is(artifacts::SPLIT.format) {
        write_table(
            &artifacts::SPLIT.decode(bytes).map_err(anyhow::Error::msg)?,
            a,
        )?
    } else if is(artifacts::STEREOTYPES.format) {
        export_stereotypes(store, key, bytes, a)?
    } else if is(artifacts::PREDICTIONS.format) {
        export_predictions(store, key, bytes, a)?
    } else if is(artifacts::CANDIDATES.format) {
        write_table(
            &artifacts::CANDIDATES
                .decode(bytes)
                .map_err(anyhow::Error::msg)?,
            a,
        )?
    } else if is(artifacts::RANKINGS.format) {
        write_table(
            &artifacts::RANKINGS
                .decode(bytes)
                .map_err(anyhow::Error::msg)?,
            a,
        )?
    } else {
        let other = meta.format.trim_start_matches("bincode:");
        return Err(
            UsageError(format!("artifact `{}` ({other}) is not tabular", meta.name)).into(),
        );
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

/// A measure stage's stereotypes: its item table, with titles from the dataset the
/// measurement was made on (the bare stereotypes when that is not recorded).
fn export_stereotypes(
    store: &dyn Store,
    key: &str,
    bytes: &[u8],
    a: &ExportArgs,
) -> anyhow::Result<Output> {
    let st = artifacts::STEREOTYPES
        .decode(bytes)
        .map_err(anyhow::Error::msg)?;
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
    let preds = artifacts::PREDICTIONS
        .decode(bytes)
        .map_err(anyhow::Error::msg)?;
    let missing = |slot: SlotRef| {
        UsageError(format!(
            "stage {}: no `{}` input recorded, cannot join the predictions",
            short(key),
            slot.name
        ))
    };
    let seq_key =
        input_key(store, key, slot::SEQUENCES)?.ok_or_else(|| missing(slot::SEQUENCES))?;
    let seq = read(store, &seq_key, &artifacts::SEQUENCES)?;
    let ds = dataset_of(store, key)?.ok_or_else(|| missing(slot::DATASET))?;
    let st_key = find_stereotypes(store, key, a.stereotypes.as_deref())?;
    let st: Option<Stereotypes> = match &st_key {
        Some(k) => Some(read(store, k, &artifacts::STEREOTYPES)?),
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
