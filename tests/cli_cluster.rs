//! Scale-out end to end: one tiny spec (the data stages and a tiny-backbone train → evaluate →
//! metrics, plus a branch that fails) through the local executor on SQLite and through the
//! Slurm executor on a PostgreSQL store. The metrics are identical, each stage is computed once
//! (a rerun with either executor executes nothing), and a failed job fails only its
//! descendants.
//!
//! Needs a PostgreSQL server (`MOSX_TEST_POSTGRES`, from `tools/ci/postgres.sh`) and a Slurm
//! cluster (`MOSX_TEST_SLURM=1`, from `tools/ci/slurm.sh`) whose nodes see this machine's
//! files; `.ci/run` starts both. Without them the test prints one "skipped" line.

mod common;
use common::cluster::{assert_metrics_agree, fresh_schema, psql, services};
use common::*;

use std::path::{Path, PathBuf};

fn spec(dir: &Path, model: &Path) -> PathBuf {
    let text = format!(
        r#"name: cluster
vars: {{ seed: 0 }}
stages:
  ml_load: {{ kind: load, params: {{ path: "{data}" }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 400, seed: "${{seed}}" }} }}
  ml_split: {{ kind: split, inputs: {{ sequences: ml_sample }}, params: {{ seed: "${{seed}}" }} }}
  ml_measure: {{ kind: measure, inputs: {{ split: ml_split }} }}
  ml_train: {{ kind: train, inputs: {{ split: ml_split, measure: ml_measure }}, params: {{ model: "{model}", method: prompt_tuning, epochs: 1, max_train_points: 8, max_valid_points: 8, seed: "${{seed}}" }} }}
  ml_eval: {{ kind: evaluate, inputs: {{ split: ml_split, adapter: ml_train }}, params: {{ model: "{model}", setting: implicit, max_points: 16 }} }}
  ml_metrics: {{ kind: metrics, inputs: {{ predictions: ml_eval, stereotypes: ml_measure }} }}
  bad_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 90000, group_ratio: {{ male: 0.01, female: 0.99 }} }} }}
  bad_split: {{ kind: split, inputs: {{ sequences: bad_sample }} }}
resources:
  default: {{ time: "00:10:00", cpus: 1, mem: 2G }}
  train: {{ cpus: 2 }}
"#,
        data = ml_data().display(),
        model = model.display()
    );
    let p = dir.join("cluster.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

/// `mosx run SPEC -q --executor EXECUTOR --device cpu --poll 0.3` on the `store` arguments:
/// (exit code, stdout, stderr).
fn run_with(
    dir: &Path,
    spec: &str,
    executor: &str,
    store: &[&str],
) -> (Option<i32>, String, String) {
    let mut args = vec![
        "run",
        spec,
        "-q",
        "--executor",
        executor,
        "--device",
        "cpu",
        "--poll",
        "0.3",
    ];
    args.extend_from_slice(store);
    let o = mosx(dir, &args);
    let (out, err) = text(&o);
    (o.status.code(), out, err)
}

/// Every stage went through Slurm: one job file and one job log each (bad_split's job never
/// started, so no log), on the objects folder, in one run's folder.
fn assert_one_job_per_stage(objects: &Path) {
    let runs: Vec<_> = std::fs::read_dir(objects.join(".jobs")).unwrap().collect();
    assert_eq!(runs.len(), 1, "one run");
    let run = runs.into_iter().next().unwrap().unwrap().path();
    let count = |ext: &str| {
        std::fs::read_dir(&run)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == ext)
            })
            .count()
    };
    assert_eq!(
        (count("json"), count("log")),
        (9, 8),
        "bad_split's job never started"
    );
}

/// Each stage computed once: reruns with either executor execute nothing new, and the
/// store at `url` holds one successful execution per key.
fn assert_each_stage_computed_once(dir: &Path, spec: &str, pg: &[&str], url: &str) {
    for executor in ["local", "slurm"] {
        let (_, out, err) = run_with(dir, spec, executor, pg);
        assert!(
            out.contains("9 stages: 7 cached, 0 executed, 1 failed, 1 skipped"),
            "{executor}: {out}\n{err}"
        );
    }
    let most = psql(
        url,
        "SELECT max(n) FROM (SELECT count(*) AS n FROM executions WHERE status = 'ok' GROUP BY key) t",
    );
    assert_eq!(most, "1", "a stage was computed twice");
    let ok = psql(
        url,
        "SELECT count(DISTINCT key) FROM executions WHERE status = 'ok'",
    );
    assert_eq!(ok, "7");
}

#[test]
fn local_and_slurm_executors_agree_on_a_postgresql_store() {
    let Some(base) = services() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let model = tiny_model(d);
    let spec = spec(d, &model);
    let spec = spec.to_str().unwrap();

    // Local, SQLite.
    let local = ["--store", "local.db"];
    let mut args = vec!["run", spec, "-q"];
    args.extend_from_slice(&local);
    let o = mosx(d, &args);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "bad_sample fails: {out}\n{err}");
    assert!(
        out.contains("9 stages: 0 cached, 7 executed, 1 failed, 1 skipped"),
        "{out}"
    );

    // Slurm, PostgreSQL (a schema of its own), objects in a folder the jobs see.
    let (schema, url) = fresh_schema(&base, "cluster");
    let objects = d.join("objects");
    let pg = [
        "--store",
        url.as_str(),
        "--objects",
        objects.to_str().unwrap(),
    ];
    let (code, out, err) = run_with(d, spec, "slurm", &pg);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(
        out.contains("9 stages: 0 cached, 7 executed, 1 failed, 1 skipped"),
        "{out}\n{err}"
    );
    assert_one_job_per_stage(&objects);
    // The failure is the worker's own error, read from the store.
    assert!(
        err.contains("bad_sample:")
            && err.contains("bad_split: skipped (upstream bad_sample failed)"),
        "{err}"
    );

    assert_metrics_agree(d, &local, &pg, 7);
    assert_each_stage_computed_once(d, spec, &pg, &url);
    psql(&base, &format!("DROP SCHEMA {schema} CASCADE"));
}
