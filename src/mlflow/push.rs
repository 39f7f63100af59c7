//! Creating or updating the runs on the server.
//!
//! For each run: find the experiment named after the spec (create it if absent), find the
//! run by its `mosx.stage_key` tag (create it if absent; two or more is an error naming
//! them), log params, tags and metrics in batches, upload the artifacts through the
//! server's artifact proxy, and mark the run finished at the training's finish time.
//!
//! Invariant: a second push of the same content changes nothing but the tag
//! `mosx.exported_at` (when it was pushed): MLflow keeps one row per identical metric
//! point and param, and an upload replaces the file at the same path.

use std::time::{SystemTime, UNIX_EPOCH};

use mosx_store::Store;
use serde_json::{json, Value};

use super::client::{api_code, Client};
use super::error::MlflowError;
use super::runs::{create_body, log_batches, search_body, RunContent, Source, STAGE_KEY_TAG};

/// What became of one run.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub stage: String,
    pub run_id: String,
    /// Created by this push (else updated).
    pub created: bool,
}

/// Pushes every run into the experiment `experiment`; returns its id and the runs.
pub fn push_all(
    client: &Client,
    experiment: &str,
    runs: &[RunContent],
    store: &dyn Store,
) -> Result<(String, Vec<Pushed>), MlflowError> {
    let id = experiment_id(client, experiment)?;
    let mut out = Vec::new();
    for run in runs {
        out.push(push_run(client, &id, experiment, run, store)?);
    }
    Ok((id, out))
}

/// The id of the experiment `name`, created if absent.
fn experiment_id(client: &Client, name: &str) -> Result<String, MlflowError> {
    let found = match client.get("experiments/get-by-name", &[("experiment_name", name)]) {
        Ok(v) => Some(v),
        Err(e) if api_code(&e) == Some("RESOURCE_DOES_NOT_EXIST") => None,
        Err(e) => return Err(e),
    };
    if let Some(v) = found {
        let exp = &v["experiment"];
        if exp["lifecycle_stage"] == "deleted" {
            return Err(MlflowError::DeletedExperiment {
                uri: client.uri().to_string(),
                name: name.to_string(),
            });
        }
        return text(client, "experiments/get-by-name", &exp["experiment_id"]);
    }
    let v = client.post("experiments/create", &json!({ "name": name }))?;
    text(client, "experiments/create", &v["experiment_id"])
}

/// A string field of an answer, or the error saying it is missing.
fn text(client: &Client, endpoint: &str, v: &Value) -> Result<String, MlflowError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| MlflowError::Answer {
            uri: client.uri().to_string(),
            endpoint: endpoint.to_string(),
            message: format!("expected a string, got {v}"),
        })
}

/// The run's id and artifact URI: the one tagged with its stage key, else a new one.
fn find_or_create(
    client: &Client,
    experiment_id: &str,
    experiment: &str,
    run: &RunContent,
) -> Result<(String, String, bool), MlflowError> {
    let found = client.post("runs/search", &search_body(experiment_id, &run.key))?;
    let runs = found["runs"].as_array().cloned().unwrap_or_default();
    let info = match runs.as_slice() {
        [] => {
            let v = client.post("runs/create", &create_body(experiment_id, run))?;
            (v["run"]["info"].clone(), true)
        }
        [one] => (one["info"].clone(), false),
        many => {
            return Err(MlflowError::DuplicateRuns {
                stage: run.stage.clone(),
                experiment: experiment.to_string(),
                tag: STAGE_KEY_TAG.to_string(),
                key: run.key.clone(),
                count: many.len(),
                runs: many
                    .iter()
                    .filter_map(|r| r["info"]["run_id"].as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    };
    let (info, created) = info;
    Ok((
        text(client, "runs/search", &info["run_id"])?,
        text(client, "runs/search", &info["artifact_uri"])?,
        created,
    ))
}

fn push_run(
    client: &Client,
    experiment_id: &str,
    experiment: &str,
    run: &RunContent,
    store: &dyn Store,
) -> Result<Pushed, MlflowError> {
    let (run_id, artifact_uri, created) = find_or_create(client, experiment_id, experiment, run)
        .map_err(|e| e.at(&run.stage, "finding its run"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let extra = [("mosx.exported_at".to_string(), now.to_string())];
    for body in log_batches(&run_id, run, &extra) {
        let item = ["params", "tags", "metrics"]
            .into_iter()
            .find(|f| body.get(*f).is_some())
            .unwrap_or("log-batch");
        client
            .post("runs/log-batch", &body)
            .map_err(|e| e.at(&run.stage, item))?;
    }
    let root = artifact_uri
        .strip_prefix("mlflow-artifacts:/")
        .ok_or_else(|| MlflowError::NotProxied {
            stage: run.stage.clone(),
            artifact_uri: artifact_uri.clone(),
        })?
        .trim_start_matches('/')
        .to_string();
    for a in &run.artifacts {
        let item = format!("artifact `{}`", a.path);
        let bytes = match &a.source {
            Source::Stored { key, name } => store
                .artifact(key, name)
                .map_err(|e| MlflowError::from(e).at(&run.stage, item.as_str()))?,
            Source::File(p) => std::fs::read(p).map_err(|source| {
                MlflowError::Report {
                    path: p.display().to_string(),
                    source,
                }
                .at(&run.stage, item.as_str())
            })?,
        };
        client
            .put_artifact(&format!("{root}/{}", a.path), &bytes)
            .map_err(|e| e.at(&run.stage, item.as_str()))?;
    }
    let update = json!({
        "run_id": run_id,
        "status": "FINISHED",
        "end_time": run.end_time,
        "run_name": run.stage,
    });
    client
        .post("runs/update", &update)
        .map_err(|e| e.at(&run.stage, "status"))?;
    Ok(Pushed {
        stage: run.stage.clone(),
        run_id,
        created,
    })
}
