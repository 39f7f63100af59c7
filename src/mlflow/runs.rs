//! What one MLflow run holds, read from the plan and the store, and the request bodies it
//! is sent in.
//!
//! One run per `train` stage of the plan, holding:
//! * params: the training's normalised params, flattened to dotted names;
//! * metrics with steps, from the training log: `train_loss`, `valid_loss`, `valid_auc`
//!   (step = 0-based epoch) and `step_loss`, `step_lr` (step = optimizer step, counted from
//!   0 over the whole training);
//! * final metrics (step 0): the training's stored metrics, except its `epoch.<E>.*` ones
//!   (the steps above hold them), and those of its evaluations, named
//!   `<stage>.<metric>` after the spec's stage (`ml_metrics_pt.auc`, `ml_metrics_pt.F`):
//!   every `evaluate` stage reading its adapter and every `metrics` stage reading those
//!   predictions;
//! * artifacts: every stored artifact of the training (`train/adapter.safetensors`,
//!   `train/log.json`, ...) and the rendered reports (`report/<file>`);
//! * tags: `mosx.stage_key` (the key a second export finds the run by), the stage, the
//!   spec, the evaluations' keys, and the provenance of the training (git commit and
//!   whether the tree was dirty, mosx version, host), also as MLflow's own
//!   `mlflow.source.git.commit`.
//!
//! Invariants: every value is a function of the store (a metric's timestamp is its stage's
//! finish time), so a run built twice is equal. A non-finite value (an undefined metric) is
//! left out: MLflow's JSON cannot carry it.

use std::path::PathBuf;

use mosx_store::Store;
use petgraph::graph::NodeIndex;
use serde_json::{json, Value};

use super::error::MlflowError;
use super::names;
use crate::plan::Plan;
use crate::stages::{artifacts, evaluate, metrics, train};

/// The tag holding the training's stage key: the one a run is found by.
pub const STAGE_KEY_TAG: &str = "mosx.stage_key";

/// MLflow's limits on one `runs/log-batch` request.
const BATCH_METRICS: usize = 1000;
const BATCH_PARAMS: usize = 100;
const BATCH_TAGS: usize = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub key: String,
    pub value: f64,
    pub step: i64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
}

/// Where an artifact's bytes come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A stored artifact of a stage.
    Stored { key: String, name: String },
    /// A file (a rendered report).
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactFile {
    /// The path inside the run's artifacts, e.g. `train/adapter.safetensors`.
    pub path: String,
    pub source: Source,
}

/// Everything one run holds.
#[derive(Debug, Clone, PartialEq)]
pub struct RunContent {
    /// The training's display name (the run's name).
    pub stage: String,
    /// The training's stage key.
    pub key: String,
    /// Milliseconds since the Unix epoch: when the training started and finished.
    pub start_time: i64,
    pub end_time: i64,
    pub params: Vec<(String, String)>,
    pub metrics: Vec<Metric>,
    pub tags: Vec<(String, String)>,
    pub artifacts: Vec<ArtifactFile>,
}

fn ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

/// The nodes of kind `kind` with an input bound to one of `from`.
fn readers(plan: &Plan, kind: &str, from: &[NodeIndex]) -> Vec<NodeIndex> {
    plan.order
        .iter()
        .copied()
        .filter(|&i| {
            let n = plan.node(i);
            n.kind.name() == kind && n.inputs.values().any(|u| from.contains(u))
        })
        .collect()
}

/// One run per `train` stage of the plan, in plan order, each with the spec's rendered
/// `reports` as artifacts. Every stage must be in the store.
pub fn training_runs(
    plan: &Plan,
    store: &dyn Store,
    reports: &[PathBuf],
) -> Result<Vec<RunContent>, MlflowError> {
    let mut out = Vec::new();
    for &i in &plan.order {
        if plan.node(i).kind.name() == train::NAME {
            out.push(training_run(plan, store, i, reports)?);
        }
    }
    Ok(out)
}

fn training_run(
    plan: &Plan,
    store: &dyn Store,
    i: NodeIndex,
    reports: &[PathBuf],
) -> Result<RunContent, MlflowError> {
    let node = plan.node(i);
    let rec = stored(store, &node.key, &node.name)?;
    let evals = readers(plan, evaluate::NAME, &[i]);
    let scored = readers(plan, metrics::NAME, &evals);
    let mut metrics = log_metrics(store, &node.key, &node.name, ms(rec.finished_at))?;
    let finals = store
        .metrics(&node.key)?
        .into_iter()
        .filter(|(m, _)| !m.starts_with("epoch."));
    metrics.extend(final_metrics(finals, "", ms(rec.finished_at)));
    for &e in evals.iter().chain(&scored) {
        let n = plan.node(e);
        let done = stored(store, &n.key, &n.name)?.finished_at;
        let prefix = format!("{}.", n.base);
        metrics.extend(final_metrics(store.metrics(&n.key)?, &prefix, ms(done)));
    }
    let commit = rec.git_commit.clone().unwrap_or_else(|| "unknown".into());
    let evaluations: Vec<&str> = evals
        .iter()
        .chain(&scored)
        .map(|&e| plan.node(e).key.as_str())
        .collect();
    let tags = [
        (STAGE_KEY_TAG, node.key.clone()),
        ("mosx.stage", node.name.clone()),
        ("mosx.spec", plan.spec.name.clone()),
        ("mosx.evaluations", evaluations.join(",")),
        ("mosx.git_commit", commit.clone()),
        ("mosx.git_dirty", rec.git_dirty.to_string()),
        ("mosx.version", rec.mosx_version.clone()),
        ("mosx.host", rec.host.clone()),
        ("mlflow.source.git.commit", commit),
    ];
    let mut artifacts: Vec<ArtifactFile> = store
        .artifacts(&node.key)?
        .into_iter()
        .map(|m| ArtifactFile {
            path: format!("train/{}.{}", m.name, extension(&m.format)),
            source: Source::Stored {
                key: node.key.clone(),
                name: m.name,
            },
        })
        .collect();
    artifacts.extend(reports.iter().filter_map(|p| {
        let file = p.file_name()?.to_string_lossy().into_owned();
        Some(ArtifactFile {
            path: format!("report/{file}"),
            source: Source::File(p.clone()),
        })
    }));
    Ok(RunContent {
        stage: node.name.clone(),
        key: node.key.clone(),
        start_time: ms(rec.started_at),
        end_time: ms(rec.finished_at),
        params: names::flatten_params(&node.params),
        metrics,
        tags: tags
            .into_iter()
            .map(|(k, v)| (k.to_string(), names::tag_value(v)))
            .collect(),
        artifacts,
    })
}

fn stored(
    store: &dyn Store,
    key: &str,
    stage: &str,
) -> Result<mosx_store::StageRecord, MlflowError> {
    store.record(key)?.ok_or_else(|| MlflowError::Artifact {
        stage: stage.to_string(),
        artifact: "-".into(),
        message: "not in the store (run the spec first)".into(),
    })
}

/// A stored artifact's file extension: its format (`json`, `csv`, `safetensors`), `bin`
/// for bincode.
fn extension(format: &str) -> &str {
    if format.starts_with("bincode:") {
        "bin"
    } else {
        format.rsplit(':').next().unwrap_or(format)
    }
}

/// Final metrics (step 0), `prefix`ed, the non-finite left out.
fn final_metrics(
    values: impl IntoIterator<Item = (String, f64)>,
    prefix: &str,
    timestamp: i64,
) -> Vec<Metric> {
    values
        .into_iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(m, value)| Metric {
            key: names::key(&format!("{prefix}{m}")),
            value,
            step: 0,
            timestamp,
        })
        .collect()
}

/// The training log's per-epoch and per-step values (its `train` record) as metric
/// histories.
fn log_metrics(
    store: &dyn Store,
    key: &str,
    stage: &str,
    timestamp: i64,
) -> Result<Vec<Metric>, MlflowError> {
    let name = artifacts::TRAIN_LOG.name;
    let bytes = store.artifact(key, name)?;
    let log = serde_json::from_slice::<serde_json::Value>(&bytes)
        .and_then(artifacts::train_log_of)
        .map_err(|e| MlflowError::Artifact {
            stage: stage.to_string(),
            artifact: name.to_string(),
            message: format!("no training log under `train`: {e}"),
        })?;
    let mut out = Vec::new();
    let mut push = |key: &str, value: f64, step: usize| {
        if value.is_finite() {
            out.push(Metric {
                key: key.to_string(),
                value,
                step: step as i64,
                timestamp,
            });
        }
    };
    for e in &log.epochs {
        push("train_loss", e.train_loss, e.epoch);
        push("valid_loss", e.valid_loss, e.epoch);
        push("valid_auc", e.valid_auc, e.epoch);
    }
    for (n, s) in log.steps.iter().enumerate() {
        push("step_loss", s.loss, n);
        push("step_lr", s.lr, n);
    }
    Ok(out)
}

/// `runs/search`'s body: the active runs of `experiment_id` tagged with `key`.
pub fn search_body(experiment_id: &str, key: &str) -> Value {
    json!({
        "experiment_ids": [experiment_id],
        "filter": format!("tags.`{STAGE_KEY_TAG}` = '{key}'"),
        "max_results": 10,
    })
}

/// `runs/create`'s body.
pub fn create_body(experiment_id: &str, run: &RunContent) -> Value {
    json!({
        "experiment_id": experiment_id,
        "run_name": run.stage,
        "start_time": run.start_time,
        "tags": [{ "key": STAGE_KEY_TAG, "value": run.key }],
    })
}

/// The `runs/log-batch` bodies logging `run` into `run_id` (params, tags with `extra`
/// tags after them, metrics), each within MLflow's limits (1000 metrics, 100 params, 100
/// tags, 1000 items in all).
pub fn log_batches(run_id: &str, run: &RunContent, extra: &[(String, String)]) -> Vec<Value> {
    let kv = |(k, v): &(String, String)| json!({ "key": k, "value": v });
    let mut bodies = Vec::new();
    for chunk in run.params.chunks(BATCH_PARAMS) {
        bodies
            .push(json!({ "run_id": run_id, "params": chunk.iter().map(kv).collect::<Vec<_>>() }));
    }
    let tags: Vec<_> = run.tags.iter().chain(extra).collect();
    for chunk in tags.chunks(BATCH_TAGS) {
        bodies.push(
            json!({ "run_id": run_id, "tags": chunk.iter().map(|t| kv(*t)).collect::<Vec<_>>() }),
        );
    }
    for chunk in run.metrics.chunks(BATCH_METRICS) {
        let metrics: Vec<_> = chunk
            .iter()
            .map(|m| json!({ "key": m.key, "value": m.value, "timestamp": m.timestamp, "step": m.step }))
            .collect();
        bodies.push(json!({ "run_id": run_id, "metrics": metrics }));
    }
    bodies
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(params: usize, metrics: usize) -> RunContent {
        RunContent {
            stage: "ml_train".into(),
            key: "abc123".into(),
            start_time: 1_000,
            end_time: 2_000,
            params: (0..params)
                .map(|i| (format!("p{i}"), i.to_string()))
                .collect(),
            metrics: (0..metrics)
                .map(|i| Metric {
                    key: "step_loss".into(),
                    value: i as f64 / 2.0,
                    step: i as i64,
                    timestamp: 2_000,
                })
                .collect(),
            tags: vec![(STAGE_KEY_TAG.into(), "abc123".into())],
            artifacts: vec![],
        }
    }

    #[test]
    fn log_batches_stay_within_mlflows_limits_and_lose_nothing() {
        let r = run(230, 2500);
        let extra = [("mosx.exported_at".to_string(), "5".to_string())];
        let bodies = log_batches("r1", &r, &extra);
        let count = |field: &str| -> Vec<usize> {
            bodies
                .iter()
                .filter_map(|b| b.get(field).and_then(Value::as_array).map(Vec::len))
                .collect()
        };
        assert_eq!(count("params"), [100, 100, 30]);
        assert_eq!(count("tags"), [2]);
        assert_eq!(count("metrics"), [1000, 1000, 500]);
        assert!(bodies.iter().all(|b| b["run_id"] == "r1"));
        let last = &bodies.last().unwrap()["metrics"][499];
        assert_eq!(
            last,
            &json!({ "key": "step_loss", "value": 1249.5, "timestamp": 2000, "step": 2499 })
        );
        assert_eq!(
            bodies[3]["tags"][1],
            json!({ "key": "mosx.exported_at", "value": "5" })
        );
    }

    #[test]
    fn a_run_is_searched_by_its_stage_key_tag_and_created_with_it() {
        let s = search_body("7", "abc123");
        assert_eq!(s["experiment_ids"], json!(["7"]));
        assert_eq!(s["filter"], "tags.`mosx.stage_key` = 'abc123'");
        let c = create_body("7", &run(0, 0));
        assert_eq!(c["run_name"], "ml_train");
        assert_eq!(c["start_time"], 1000);
        assert_eq!(
            c["tags"],
            json!([{ "key": "mosx.stage_key", "value": "abc123" }])
        );
    }

    #[test]
    fn undefined_metrics_are_left_out_and_evaluations_prefixed() {
        let m = final_metrics(
            [("auc".to_string(), 0.75), ("F".to_string(), f64::NAN)],
            "ml_metrics.",
            9,
        );
        assert_eq!(
            m,
            [Metric {
                key: "ml_metrics.auc".into(),
                value: 0.75,
                step: 0,
                timestamp: 9
            }]
        );
    }

    #[test]
    fn artifact_files_are_named_by_their_format() {
        assert_eq!(extension("safetensors"), "safetensors");
        assert_eq!(extension("json"), "json");
        assert_eq!(extension("bincode:predictions"), "bin");
    }
}
