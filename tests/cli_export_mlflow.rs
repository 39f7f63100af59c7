//! `mosx export --to mlflow URI SPEC` against a real MLflow server (`tools/ci/mlflow.sh`,
//! `MOSX_TEST_MLFLOW`): a tiny training with one evaluation becomes one run holding its
//! params, metric histories, final metrics, tags and artifacts; a second export updates the
//! same run; a closed port is an error naming the server. Skipped without the server,
//! except under `MOSX_TEST_SERVICES=required`.

mod common;
use common::cluster::required_services;
use common::*;

use std::path::Path;

use mosx::mlflow::Client;
use serde_json::{json, Value};

/// A training (prompt tuning, 2 epochs), its evaluation and metrics, and a report, in an
/// experiment name no other test run uses (the server outlives the test).
fn write_spec(dir: &Path, name: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("templates/auc.md.j2"),
        "AUC {{ cells.ml_metrics.auc }}\n",
    )
    .unwrap();
    let s = format!(
        r#"name: {name}
stages:
  ml_load: {{ kind: load, params: {{ path: "{data}" }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 400, seed: 0 }} }}
  ml_split: {{ kind: split, inputs: {{ sequences: ml_sample }}, params: {{ seed: 0 }} }}
  ml_measure: {{ kind: measure, inputs: {{ split: ml_split }} }}
  ml_train:
    kind: train
    inputs: {{ split: ml_split, measure: ml_measure }}
    params: {{ model: tiny, method: {{ name: prompt_tuning, tokens: 4 }}, epochs: 2, seed: 0, max_train_points: 32, max_valid_points: 16 }}
  ml_eval:
    kind: evaluate
    inputs: {{ split: ml_split, adapter: ml_train }}
    params: {{ model: tiny, setting: implicit, max_points: 20 }}
  ml_metrics:
    kind: metrics
    inputs: {{ predictions: ml_eval, stereotypes: ml_measure }}
report:
  - template: auc.md.j2
    output: results/auc.md
"#,
        data = ml_data().display()
    );
    let path = dir.join("share.yaml");
    std::fs::write(&path, s).unwrap();
    path
}

/// The experiment's active runs.
fn runs(c: &Client, experiment_id: &str) -> Vec<Value> {
    let v = c
        .post(
            "runs/search",
            &json!({ "experiment_ids": [experiment_id], "max_results": 100 }),
        )
        .unwrap();
    v["runs"].as_array().cloned().unwrap_or_default()
}

fn tag(run: &Value, key: &str) -> Option<String> {
    run["data"]["tags"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .and_then(|t| t["value"].as_str())
        .map(str::to_string)
}

fn param(run: &Value, key: &str) -> Option<String> {
    run["data"]["params"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .and_then(|t| t["value"].as_str())
        .map(str::to_string)
}

/// `(step, value)` of every point of a metric's history, by step.
fn history(c: &Client, run_id: &str, key: &str) -> Vec<(i64, f64)> {
    let v = c
        .get(
            "metrics/get-history",
            &[("run_id", run_id), ("metric_key", key)],
        )
        .unwrap();
    let mut h: Vec<(i64, f64)> = v["metrics"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|m| (m["step"].as_i64().unwrap(), m["value"].as_f64().unwrap()))
        .collect();
    h.sort_by(|a, b| a.partial_cmp(b).unwrap());
    h
}

/// The files (paths) listed under `path` of the run's artifacts.
fn listed(c: &Client, run_id: &str, path: &str) -> Vec<String> {
    let v = c
        .get("artifacts/list", &[("run_id", run_id), ("path", path)])
        .unwrap();
    let mut files: Vec<String> = v["files"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|f| f["path"].as_str().map(str::to_string))
        .collect();
    files.sort();
    files
}

fn store_metric(db: &Path, stage: &str, name: &str) -> f64 {
    let key = stage_key(db, stage);
    metrics(db)
        .into_iter()
        .find(|(k, m, _)| *k == key && m == name)
        .and_then(|(_, _, v)| v)
        .unwrap()
}

fn stage_key(db: &Path, stage: &str) -> String {
    stage_rows(db)
        .into_iter()
        .find(|(_, n)| n == stage)
        .map(|(k, _)| k)
        .unwrap()
}

#[test]
fn a_training_and_its_evaluation_become_one_mlflow_run_that_a_second_export_updates() {
    let Some(uri) = required_services(&["MOSX_TEST_MLFLOW"], "tools/ci/mlflow.sh") else {
        return;
    };
    let uri = uri[0].clone();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    tiny_model(d);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("mosx-test-{}-{nanos}", std::process::id());
    let spec = write_spec(d, &name);
    let spec = spec.to_str().unwrap();
    let o = mosx(d, &["run", spec, "-q", "--device", "cpu"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let db = d.join("results/mosx.db");

    let o = mosx(d, &["export", "--to", "mlflow", &uri, spec]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains("created run") && out.contains("ml_train"),
        "{out}"
    );

    let c = Client::new(&uri).unwrap();
    let exp = c
        .get("experiments/get-by-name", &[("experiment_name", &name)])
        .unwrap();
    let exp_id = exp["experiment"]["experiment_id"]
        .as_str()
        .unwrap()
        .to_string();
    let first = runs(&c, &exp_id);
    assert_eq!(first.len(), 1, "one train stage, one run: {first:#?}");
    let run = &first[0];
    let run_id = run["info"]["run_id"].as_str().unwrap().to_string();
    assert_eq!(run["info"]["status"], "FINISHED");
    assert_eq!(run["info"]["run_name"], "ml_train");

    // Tags: the stage key the run is found by, and the provenance.
    let train_key = stage_key(&db, "ml_train");
    assert_eq!(
        tag(run, "mosx.stage_key").as_deref(),
        Some(train_key.as_str())
    );
    let commit = tag(run, "mosx.git_commit").unwrap();
    assert!(!commit.is_empty());
    assert_eq!(tag(run, "mlflow.source.git.commit"), Some(commit));
    let evaluations = tag(run, "mosx.evaluations").unwrap();
    assert!(
        evaluations.contains(&stage_key(&db, "ml_eval")),
        "{evaluations}"
    );
    assert!(
        evaluations.contains(&stage_key(&db, "ml_metrics")),
        "{evaluations}"
    );

    // Params: the normalised params, flattened dotted (defaults filled).
    assert_eq!(param(run, "method.name").as_deref(), Some("prompt_tuning"));
    assert_eq!(param(run, "method.tokens").as_deref(), Some("4"));
    assert_eq!(param(run, "epochs").as_deref(), Some("2"));
    assert_eq!(param(run, "max_train_points").as_deref(), Some("32"));

    // Metric histories: per epoch, and per optimizer step.
    let auc = history(&c, &run_id, "valid_auc");
    assert_eq!(auc.iter().map(|p| p.0).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(auc[1].1, store_metric(&db, "ml_train", "epoch.1.valid_auc"));
    let loss = history(&c, &run_id, "train_loss");
    assert_eq!(loss.iter().map(|p| p.0).collect::<Vec<_>>(), [0, 1]);
    let steps = history(&c, &run_id, "step_loss");
    assert!(steps.len() >= 2, "{steps:?}");
    assert_eq!(
        steps.iter().map(|p| p.0).collect::<Vec<_>>(),
        (0..steps.len() as i64).collect::<Vec<_>>()
    );
    // Final metrics: the evaluation's, and the training's own.
    for m in ["auc", "F"] {
        let h = history(&c, &run_id, &format!("ml_metrics.{m}"));
        assert_eq!(h, [(0, store_metric(&db, "ml_metrics", m))], "{m}");
    }
    let best = history(&c, &run_id, "best_valid_auc");
    assert_eq!(best, [(0, store_metric(&db, "ml_train", "best_valid_auc"))]);

    // Artifacts: the training's stored ones and the rendered report.
    let train_files = listed(&c, &run_id, "train");
    for f in [
        "train/adapter.safetensors",
        "train/log.json",
        "train/config.json",
    ] {
        assert!(train_files.contains(&f.to_string()), "{f}: {train_files:?}");
    }
    assert_eq!(listed(&c, &run_id, "report"), ["report/auc.md"]);
    let exported_at = tag(run, "mosx.exported_at").unwrap();

    // A second export: the same run, updated, nothing logged twice.
    let o = mosx(d, &["export", "--to", "mlflow", &uri, spec]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains(&format!("updated run {run_id}")), "{out}");
    let second = runs(&c, &exp_id);
    assert_eq!(second.len(), 1, "{second:#?}");
    assert_eq!(second[0]["info"]["run_id"], run_id.as_str());
    assert_ne!(tag(&second[0], "mosx.exported_at"), Some(exported_at));
    assert_eq!(history(&c, &run_id, "valid_auc"), auc);
    assert_eq!(history(&c, &run_id, "step_loss"), steps);

    // A server that is not there: an error naming it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let closed = format!("http://127.0.0.1:{port}");
    let o = mosx(d, &["export", "--to", "mlflow", &closed, spec]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&closed) && err.contains("unreachable"),
        "{err}"
    );
}

#[test]
fn an_https_uri_is_refused_as_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), "https-refused");
    let o = mosx(
        tmp.path(),
        &[
            "export",
            "--to",
            "mlflow",
            "https://mlflow.example",
            spec.to_str().unwrap(),
        ],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("https://mlflow.example") && err.contains("http://"),
        "{err}"
    );
}
