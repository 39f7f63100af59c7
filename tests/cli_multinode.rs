//! A real multi-node run: the three hosts of `tools/ci/slurm_multi.sh` (network namespaces on
//! one machine: `ctl` with slurmctld and PostgreSQL, compute nodes `c1` and `c2`), every
//! client reaching the others over the namespaces' addresses, the objects folder shared by
//! path. The tiny spec of `cli_cluster` (data stages, a tiny-backbone training of 3 epochs,
//! evaluate, metrics) runs there while the compute node under the training is lost: every
//! process of its namespace (slurmd, the job step, the worker) is killed. Slurm marks the job
//! NODE_FAIL; mosx resubmits it (`retries`), it lands on the other node, resumes after the
//! epoch its lost attempt had checkpointed, and the metrics equal a local run's.
//!
//! Nothing waits on time: the first training attempt holds once its first epoch is
//! checkpointed (`MOSX_TEST_HOLD_AT_EPOCH`, read by the worker's train runner) and says so
//! in a marker file; only then is its node killed. The node is restarted afterwards (also
//! when the test fails), so the cluster is whole for the next run.
//!
//! Needs `MOSX_TEST_MULTINODE` (the env file `tools/ci/slurm_multi.sh` prints); else one
//! "skipped" line, or a failure under `MOSX_TEST_SERVICES=required`.

mod common;
use common::cluster::{
    assert_metrics_agree, assert_ran_through_a_node_failure, fresh_schema, jobs_of, psql,
    real_worker, required_services, script, sh,
};
use common::*;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Generous bound for a whole run on a loaded machine (a failure, not a timing assertion).
const LIMIT: Duration = Duration::from_secs(900);

/// The cluster's description from the env file `tools/ci/slurm_multi.sh` writes.
struct Cluster {
    slurm_conf: String,
    store: String,
    netns_prefix: String,
}

fn cluster() -> Option<Cluster> {
    let file = required_services(&["MOSX_TEST_MULTINODE"], "tools/ci/slurm_multi.sh")?.remove(0);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
    let vars: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    let get = |k: &str| {
        vars.get(k)
            .unwrap_or_else(|| panic!("{file}: no {k}"))
            .to_string()
    };
    Some(Cluster {
        slurm_conf: get("SLURM_CONF"),
        store: get("MOSX_MULTI_STORE"),
        netns_prefix: get("MOSX_MULTI_NETNS_PREFIX"),
    })
}

/// Restarts the compute nodes (the script starts what is not running) when dropped.
struct RestoreNodes;

impl Drop for RestoreNodes {
    fn drop(&mut self) {
        let script = repo().join("tools/ci/slurm_multi.sh");
        let ok = Command::new(script)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok && !std::thread::panicking() {
            panic!("tools/ci/slurm_multi.sh could not restore the cluster");
        }
    }
}

fn spec(dir: &Path, model: &Path) -> PathBuf {
    let text = format!(
        r#"name: multinode
stages:
  ml_load: {{ kind: load, params: {{ path: "{data}" }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 400, seed: 0 }} }}
  ml_split: {{ kind: split, inputs: {{ sequences: ml_sample }}, params: {{ seed: 0 }} }}
  ml_measure: {{ kind: measure, inputs: {{ split: ml_split }} }}
  ml_train: {{ kind: train, inputs: {{ split: ml_split, measure: ml_measure }}, params: {{ model: "{model}", method: prompt_tuning, epochs: 3, max_train_points: 8, max_valid_points: 8, seed: 0 }} }}
  ml_eval: {{ kind: evaluate, inputs: {{ split: ml_split, adapter: ml_train }}, params: {{ model: "{model}", setting: implicit, max_points: 16 }} }}
  ml_metrics: {{ kind: metrics, inputs: {{ predictions: ml_eval, stereotypes: ml_measure }} }}
resources:
  default: {{ time: "00:15:00", cpus: 1, mem: 2G, retries: 2 }}
"#,
        data = ml_data().display(),
        model = model.display()
    );
    let p = dir.join("multinode.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

/// A worker wrapper: the first `train` job records its node in `node_file` and runs the
/// real worker holding after epoch 1 (writing `held`); every other job is the real worker's.
fn holding_worker(dir: &Path, node_file: &Path, held: &Path) -> PathBuf {
    let body = format!(
        r#"#!/bin/sh
job=""; prev=""
for a in "$@"; do [ "$prev" = --job ] && job=$a; prev=$a; done
if grep -q '"kind": "train"' "$job" && [ ! -e '{node}' ]; then
    echo "$SLURMD_NODENAME" > '{node}.tmp' && mv '{node}.tmp' '{node}'
    MOSX_TEST_HOLD_AT_EPOCH='1:{held}' exec '{real}' "$@"
fi
exec '{real}' "$@"
"#,
        node = node_file.display(),
        held = held.display(),
        real = real_worker().display()
    );
    script(dir, "worker.sh", &body)
}

/// Kills every process of the host `node`'s namespace: its slurmd, job steps and jobs.
fn lose_node(c: &Cluster, node: &str) {
    let ns = format!("{}{node}", c.netns_prefix);
    let pids = sh(&["ip", "netns", "pids", &ns]);
    assert!(!pids.is_empty(), "nothing runs in {ns}");
    let mut kill = vec!["kill", "-9"];
    kill.extend(pids.lines());
    // A process may exit between listing and killing: the status is not checked.
    let _ = Command::new(kill[0]).args(&kill[1..]).status();
}

#[test]
fn a_spec_runs_across_namespaced_nodes_and_survives_losing_the_training_node() {
    let Some(c) = cluster() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let model = tiny_model(d);
    let spec = spec(d, &model);
    let spec = spec.to_str().unwrap();

    // Reference: local, SQLite.
    let local = ["--store", "local.db"];
    let o = mosx(
        d,
        &["run", spec, "-q", "--device", "cpu", "--store", "local.db"],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");

    // The cluster, its store on the ctl host, the training's node lost once it held.
    let (schema, url) = fresh_schema(&c.store, "multinode");
    let objects = d.join("objects");
    let (node_file, held) = (d.join("train-node"), d.join("train-held"));
    let worker = holding_worker(d, &node_file, &held);
    let _restore = RestoreNodes;
    let child = Command::new(bin())
        .args(["run", spec, "-q", "--executor", "slurm", "--device", "cpu"])
        .args(["--poll", "0.3", "--store", &url, "--objects"])
        .arg(&objects)
        .current_dir(d)
        .env("SLURM_CONF", &c.slurm_conf)
        .env("MOSX_WORKER", &worker)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !held.exists() {
        assert!(
            t0.elapsed() < LIMIT,
            "the training never held after epoch 1"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let lost = std::fs::read_to_string(&node_file)
        .unwrap()
        .trim()
        .to_string();
    lose_node(&c, &lost);
    assert_ran_through_a_node_failure(&child.wait_with_output().unwrap(), 7, "ml_train");

    // Two attempts on the two nodes: the lost one, then the other.
    let store = [
        "--store",
        url.as_str(),
        "--objects",
        objects.to_str().unwrap(),
    ];
    let train = jobs_of(d, &store, "ml_train");
    assert_eq!(train.len(), 2, "{train:#?}");
    let other = if lost == "c1" { "c2" } else { "c1" };
    assert!(
        train[0].contains("attempt 1")
            && train[0].contains("NODE_FAIL")
            && train[0].contains(&format!("node {lost}")),
        "{train:#?}"
    );
    assert!(
        train[1].contains("attempt 2")
            && train[1].contains("COMPLETED")
            && train[1].contains(&format!("node {other}")),
        "{train:#?}"
    );

    // The second attempt resumed after the checkpointed epoch, to the local run's metrics.
    // (Epochs count from 0: held as epoch 1 started, it resumes after epoch 0.)
    let log = psql(
        &url,
        "SELECT coalesce(convert_from(a.inline, 'UTF8'), 'file:' || a.path) FROM artifacts a \
         JOIN stages s ON s.key = a.key WHERE s.kind = 'train' AND a.name = 'log'",
    );
    let log = match log.strip_prefix("file:") {
        Some(rel) => std::fs::read_to_string(objects.join(rel)).unwrap(),
        None => log,
    };
    let log: serde_json::Value = serde_json::from_str(&log).expect("one train log");
    assert_eq!(log["train"]["resumed_after_epoch"], 0, "{log}");
    assert_metrics_agree(d, &local, &store, 7);
    psql(&c.store, &format!("DROP SCHEMA {schema} CASCADE"));
}
