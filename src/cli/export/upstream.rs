//! The stages an export reads beside its own: the upstream stages a stored stage recorded
//! as its inputs, and the measure stage giving predictions their item groups.

use std::collections::BTreeSet;

use mosx_data::Dataset;
use mosx_store::Store;
use serde_json::Value;

use mosx_stage::{ArtifactRef, SlotRef};

use super::short;
use crate::cli::common::{self, UsageError};
use crate::stages::artifacts::{self, slot};

/// The upstream key a stored stage bound to `slot`.
pub(super) fn input_key(
    store: &dyn Store,
    key: &str,
    slot: SlotRef,
) -> anyhow::Result<Option<String>> {
    let rec = store
        .record(key)?
        .ok_or_else(|| UsageError(format!("stage {} has no result row", short(key))))?;
    Ok(rec
        .parts
        .get("inputs")
        .and_then(|i| i.get(slot.name))
        .and_then(Value::as_str)
        .map(str::to_string))
}

/// The measure stage giving the item groups of predictions stored under `key`
/// (see the command's help for the order in which it is looked for).
pub(super) fn find_stereotypes(
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
        if input_key(store, &s.key, slot::PREDICTIONS)?.as_deref() == Some(key) {
            if let Some(m) = input_key(store, &s.key, slot::STEREOTYPES)? {
                via_metrics.insert(m);
            }
        }
    }
    if let Some(k) = pick(via_metrics, "the metrics stages reading these predictions")? {
        return Ok(Some(k));
    }
    // 2. The measure stage(s) of the same split.
    let Some(split) = input_key(store, key, slot::SPLIT)? else {
        return Ok(None);
    };
    let mut same_split = BTreeSet::new();
    for s in store.list(Some(crate::stages::measure::NAME), false)? {
        if input_key(store, &s.key, slot::SPLIT)?.as_deref() == Some(split.as_str()) {
            same_split.insert(s.key);
        }
    }
    pick(same_split, "the measure stages of the same split")
}

/// The dataset that the stage stored under `key` read, if it records one.
pub(super) fn dataset_of(store: &dyn Store, key: &str) -> anyhow::Result<Option<Dataset>> {
    match input_key(store, key, slot::DATASET)? {
        Some(d) => Ok(Some(read(store, &d, &artifacts::DATASET)?)),
        None => Ok(None),
    }
}

/// Artifact `a` of the stage stored under `key`, decoded as its producer wrote it.
pub(super) fn read<T: serde::de::DeserializeOwned>(
    store: &dyn Store,
    key: &str,
    a: &ArtifactRef<T>,
) -> anyhow::Result<T> {
    let bytes = store.artifact(key, a.name)?;
    a.decode(&bytes)
        .map_err(|e| anyhow::anyhow!("stage {}: {e}", short(key)))
}
