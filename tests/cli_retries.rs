//! Slurm retries end to end, on the one-node cluster of `tools/ci/slurm.sh` and a PostgreSQL
//! store: (a) a job whose node fails (`scontrol update state=down` while it runs) is submitted
//! again, its descendant (cancelled by Slurm with it) too, and both finish; (b) a job killed for
//! exceeding its `mem` (cgroup memory enforcement) is submitted again with `mem` doubled until
//! it fits. `mosx show` lists every job of the stage.
//!
//! Nothing waits on time: the node is failed once the job has said it is running (a marker
//! file its wrapper writes, after which it only sleeps), and memory grows until the stage fits.
//! Both scenarios run in one test, one after the other, as a failed node kills every job on it.
//!
//! Needs `MOSX_TEST_POSTGRES` and `MOSX_TEST_SLURM=1` (else one "skipped" line, or a failure
//! under `MOSX_TEST_SERVICES=required`).

mod common;
use common::cluster::{
    assert_ran_through_a_node_failure, fresh_schema, jobs_of, real_worker, script, services, sh,
};
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Generous bound for a whole run on a loaded machine (a failure, not a timing assertion).
const LIMIT: Duration = Duration::from_secs(600);

/// load → sample → split with `resources` appended.
fn spec(dir: &Path, resources: &str) -> PathBuf {
    let text = format!(
        r#"name: retries
stages:
  ml_load: {{ kind: load, params: {{ path: "{data}" }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 400, seed: 0 }} }}
  ml_split: {{ kind: split, inputs: {{ sequences: ml_sample }}, params: {{ seed: 0 }} }}
resources:
{resources}
"#,
        data = ml_data().display()
    );
    let p = dir.join("retries.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

/// A worker wrapper: the first job of a `sample` stage writes `marker` and sleeps (until its
/// node fails); every other job is the real worker's.
fn hanging_worker(dir: &Path, marker: &Path) -> PathBuf {
    let body = format!(
        r#"#!/bin/sh
job=""; prev=""
for a in "$@"; do [ "$prev" = --job ] && job=$a; prev=$a; done
if grep -q '"kind": "sample"' "$job" && [ ! -e '{marker}' ]; then
    touch '{marker}'
    exec sleep 600
fi
exec '{real}' "$@"
"#,
        marker = marker.display(),
        real = real_worker().display()
    );
    script(dir, "worker.sh", &body)
}

fn run_args<'a>(spec: &'a str, url: &'a str, objects: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        spec,
        "-q",
        "--executor",
        "slurm",
        "--device",
        "cpu",
        "--poll",
        "0.3",
        "--store",
        url,
        "--objects",
        objects,
    ]
}

fn node() -> String {
    sh(&["hostname", "-s"])
}

/// Fail the node under the running job, then wait until it is back in service.
fn fail_node_and_wait_for_it() {
    let node = node();
    sh(&[
        "scontrol",
        "update",
        &format!("nodename={node}"),
        "state=down",
        "reason=mosx-test",
    ]);
    let t0 = Instant::now();
    loop {
        let state = sh(&["sinfo", "-h", "-N", "-n", &node, "-o", "%T"]);
        if ["idle", "mixed", "allocated"].contains(&state.as_str()) {
            return;
        }
        if state.starts_with("down") {
            // ReturnToService=2 usually brings it back by itself; resume it if not.
            let _ = Command::new("scontrol")
                .args(["update", &format!("nodename={node}"), "state=resume"])
                .stderr(Stdio::null())
                .status();
        }
        assert!(t0.elapsed() < LIMIT, "node {node} stays {state}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// (a) A node failure under `ml_sample`: it and its descendant are submitted again and finish.
fn a_node_failure_is_resubmitted(base: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let marker = d.join("sample-started");
    let worker = hanging_worker(d, &marker);
    let spec = spec(
        d,
        r#"  default: { time: "00:10:00", cpus: 1, mem: 2G, retries: 1 }"#,
    );
    let (_, url) = fresh_schema(base, "retries_node");
    let objects = d.join("objects");
    let (spec, objects) = (spec.to_str().unwrap(), objects.to_str().unwrap());
    let child = Command::new(bin())
        .args(run_args(spec, &url, objects))
        .current_dir(d)
        .env("MOSX_WORKER", &worker)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !marker.exists() {
        assert!(t0.elapsed() < LIMIT, "ml_sample's job never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    fail_node_and_wait_for_it();
    assert_ran_through_a_node_failure(&child.wait_with_output().unwrap(), 3, "ml_sample");

    let store = ["--store", url.as_str(), "--objects", objects];
    let sample = jobs_of(d, &store, "ml_sample");
    assert_eq!(sample.len(), 2, "{sample:#?}");
    assert!(
        sample[0].contains("attempt 1") && sample[0].contains("NODE_FAIL"),
        "{sample:#?}"
    );
    assert!(
        sample[0].contains(&format!("node {}", node())),
        "{sample:#?}"
    );
    assert!(sample[0].contains("(resubmitted as job"), "{sample:#?}");
    assert!(
        sample[1].contains("attempt 2") && sample[1].contains("COMPLETED"),
        "{sample:#?}"
    );
    // The split waited on the failed job: cancelled, then submitted behind the new one.
    let split = jobs_of(d, &store, "ml_split");
    assert_eq!(split.len(), 2, "{split:#?}");
    assert!(
        split[0].contains("CANCELLED") && split[0].contains("upstream ml_sample resubmitted"),
        "{split:#?}"
    );
    assert!(split[1].contains("COMPLETED"), "{split:#?}");
    assert_eq!(jobs_of(d, &store, "ml_load").len(), 1);
}

/// (b) `ml_load` asks for 16M: killed for its memory, resubmitted with 32M, 64M, … until it
/// fits (under max_mem 4G).
fn out_of_memory_doubles_mem(base: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let spec = spec(
        d,
        r#"  default: { time: "00:10:00", cpus: 1, mem: 2G }
  load: { mem: 16M, max_mem: 4G, retries: 8 }"#,
    );
    let (_, url) = fresh_schema(base, "retries_oom");
    let objects = d.join("objects");
    let (spec, objects) = (spec.to_str().unwrap(), objects.to_str().unwrap());
    let o = mosx(d, &run_args(spec, &url, objects));
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains("3 stages: 0 cached, 3 executed, 0 failed"),
        "{out}\n{err}"
    );
    let store = ["--store", url.as_str(), "--objects", objects];
    let load = jobs_of(d, &store, "ml_load");
    assert!(load.len() >= 2, "ml_load fit in 16M: {load:#?}");
    let (last, before) = load.split_last().unwrap();
    for (k, line) in before.iter().enumerate() {
        let mem = 16u64 << k;
        assert!(
            line.contains("OUT_OF_MEMORY") && line.contains(&format!("mem {mem}M")),
            "{load:#?}"
        );
        assert!(
            line.contains(&format!("with mem {}M", mem * 2)),
            "{load:#?}"
        );
    }
    assert!(
        last.contains("COMPLETED") && last.contains(&format!("mem {}M", 16u64 << before.len())),
        "{load:#?}"
    );
}

#[test]
fn slurm_jobs_lost_to_a_node_or_to_memory_are_resubmitted_and_listed() {
    let Some(base) = services() else {
        return;
    };
    a_node_failure_is_resubmitted(&base);
    out_of_memory_doubles_mem(&base);
}
