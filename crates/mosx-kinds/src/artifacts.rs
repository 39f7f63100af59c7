//! The catalogue of what stages hand each other: every artifact a kind writes, typed by its
//! producing kinds and its Rust type, and every input slot, typed by the artifacts read
//! through it. Kinds write and read only through these references (`Output::write`,
//! `Inputs::read`), the worker's runners too; the planner names slots through them when it
//! walks the plan (reports, validation).
//!
//! Invariants:
//! * Each artifact is declared once, here, with the kinds that write it; a slot's producers
//!   are those of the artifact it reads, so a slot cannot be bound to a stage of a kind that
//!   does not write what is read through it. `every_slot_reads_what_its_producers_write`
//!   checks that every producer named is a registered kind and that every kind's slots read
//!   a declared artifact; that each producer's code really writes its artifacts is checked by
//!   running the kinds (the integration tests), not here.
//! * This module is not a stage: kinds import it, never each other.

use mosx_data::{Candidates, Dataset, Sequences, Split, Stereotypes};
use mosx_fairness::{RankingReport, Report};
use mosx_stage::predictions::Predictions;
use mosx_stage::rankings::Rankings;
use mosx_stage::trained::TrainedConfig;
use mosx_stage::{ArtifactRef, SlotRef};

use crate::{baseline, candidates, evaluate, load, measure, metrics, sample, split, train};

/// This file's code unit: every kind writes or reads through it, so each names it.
pub const ARTIFACTS_UNIT: &str = "crates/mosx-kinds/src/artifacts.rs";

/// `load`'s dataset.
pub const DATASET: ArtifactRef<Dataset> = ArtifactRef::bincode(&[load::NAME], "dataset", "dataset");
/// `sample`'s sequences (the data points).
pub const SEQUENCES: ArtifactRef<Sequences> =
    ArtifactRef::bincode(&[sample::NAME], "sequences", "sequences");
/// `split`'s train/valid/test split.
pub const SPLIT: ArtifactRef<Split> = ArtifactRef::bincode(&[split::NAME], "split", "split");
/// `measure`'s stereotype degrees (METHOD.md §2).
pub const STEREOTYPES: ArtifactRef<Stereotypes> =
    ArtifactRef::bincode(&[measure::NAME], "stereotypes", "stereotypes");
/// `measure`'s per-item table (CSV).
pub const ITEMS: ArtifactRef<Vec<u8>> = ArtifactRef::csv(&[measure::NAME], "items");
/// The scores of a scoring stage (`evaluate`, `baseline`).
pub const PREDICTIONS: ArtifactRef<Predictions> = ArtifactRef::bincode(
    &[evaluate::NAME, baseline::NAME],
    "predictions",
    "predictions",
);
/// `candidates`' lists (each target with its sampled negatives).
pub const CANDIDATES: ArtifactRef<Candidates> =
    ArtifactRef::bincode(&[candidates::NAME], "candidates", "candidates");
/// The scored candidate lists of an `evaluate` under `protocol: ranking`.
pub const RANKINGS: ArtifactRef<Rankings> =
    ArtifactRef::bincode(&[evaluate::NAME], "rankings", "rankings");
/// `metrics`' ranking report (HR@K, NDCG@K, MRR, top-K F, exposure), with a `rankings` input.
pub const RANKING_REPORT: ArtifactRef<RankingReport> =
    ArtifactRef::json(&[metrics::NAME], "ranking_report");
/// `metrics`' report (AUC, precision, recall, F: METHOD.md §3).
pub const REPORT: ArtifactRef<Report> = ArtifactRef::json(&[metrics::NAME], "report");
/// `train`'s trained parameters (safetensors).
pub const ADAPTER: ArtifactRef<Vec<u8>> =
    ArtifactRef::raw(&[train::NAME], "adapter", "safetensors");
/// What `evaluate` needs beside the trained parameters.
pub const TRAINED_CONFIG: ArtifactRef<TrainedConfig> = ArtifactRef::json(&[train::NAME], "config");
/// `train`'s training log (per-epoch losses, validation AUC, counts).
pub const TRAIN_LOG: ArtifactRef<serde_json::Value> = ArtifactRef::json(&[train::NAME], "log");

/// The trainer's [`mosx_config::TrainLog`] inside a decoded [`TRAIN_LOG`] record, which the
/// train runner writes under `train` beside the method, the objective and the counts.
pub fn train_log_of(
    mut record: serde_json::Value,
) -> Result<mosx_config::TrainLog, serde_json::Error> {
    serde_json::from_value(record["train"].take())
}

/// Every artifact declared here, by name and producers (for the registry check below; a new
/// artifact is added here too).
pub const ALL: &[(&str, &[&str])] = &[
    (DATASET.name, DATASET.producers),
    (SEQUENCES.name, SEQUENCES.producers),
    (SPLIT.name, SPLIT.producers),
    (STEREOTYPES.name, STEREOTYPES.producers),
    (ITEMS.name, ITEMS.producers),
    (PREDICTIONS.name, PREDICTIONS.producers),
    (REPORT.name, REPORT.producers),
    (CANDIDATES.name, CANDIDATES.producers),
    (RANKINGS.name, RANKINGS.producers),
    (RANKING_REPORT.name, RANKING_REPORT.producers),
    (ADAPTER.name, ADAPTER.producers),
    (TRAINED_CONFIG.name, TRAINED_CONFIG.producers),
    (TRAIN_LOG.name, TRAIN_LOG.producers),
];

/// The input slots, each reading one artifact (and any other of the same producers).
pub mod slot {
    use super::*;

    pub const DATASET: SlotRef = SlotRef::reading("dataset", &super::DATASET);
    pub const SEQUENCES: SlotRef = SlotRef::reading("sequences", &super::SEQUENCES);
    pub const SPLIT: SlotRef = SlotRef::reading("split", &super::SPLIT);
    /// `metrics`' stereotypes.
    pub const STEREOTYPES: SlotRef = SlotRef::reading("stereotypes", &super::STEREOTYPES);
    /// `train`'s measurement (its stereotypes, for MoS's router and the fair losses).
    pub const MEASURE: SlotRef = SlotRef::reading("measure", &super::STEREOTYPES);
    pub const PREDICTIONS: SlotRef = SlotRef::reading("predictions", &super::PREDICTIONS);
    /// `evaluate`'s candidate lists (`protocol: ranking`).
    pub const CANDIDATES: SlotRef = SlotRef::reading("candidates", &super::CANDIDATES);
    /// `metrics`' scored candidate lists (a ranking `evaluate`).
    pub const RANKINGS: SlotRef = SlotRef::reading("rankings", &super::RANKINGS);
    /// `evaluate`'s trained method (parameters and config).
    pub const ADAPTER: SlotRef = SlotRef::reading("adapter", &super::TRAINED_CONFIG);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slot_reads_what_its_producers_write() {
        let reg = crate::registry::builtin();
        for (name, producers) in ALL {
            for p in *producers {
                assert!(reg.get(p).is_some(), "{name}: producer `{p}` is no kind");
            }
        }
        assert!(slot::ADAPTER.carries(&ADAPTER));
        assert!(slot::ADAPTER.carries(&TRAINED_CONFIG));
        assert!(slot::MEASURE.carries(&STEREOTYPES));
        for name in reg.names() {
            let k = reg.get(name).unwrap();
            for s in k.slots() {
                let readable = ALL
                    .iter()
                    .any(|(_, ps)| s.producers.iter().all(|p| ps.contains(p)));
                assert!(
                    readable,
                    "{}.{}: no artifact of {:?}",
                    k.name(),
                    s.name,
                    s.producers
                );
            }
        }
    }
}
