//! The planner and its stage worker (`mosx-worker`), through the real binaries on a tiny
//! backbone:
//! * a worker SIGKILLed mid-training fails that training only (`worker exited: signal 9
//!   (SIGKILL)`), its descendants are skipped, everything else finishes (the next training
//!   in a fresh worker); a rerun resumes the training from its epoch checkpoint and ends with
//!   the metrics of an uninterrupted run;
//! * a planner SIGKILLed mid-training takes its worker with it, and the rerun takes over the
//!   lease the worker held;
//! * Ctrl-C kills the worker, releases its lease and exits 130;
//! * the planner starts no worker when no stage that needs one is to run, and a missing worker
//!   is an error naming where it was looked for.

mod common;
use common::*;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn tiny_model(dir: &Path) {
    let o = mosx(
        dir,
        &["tiny-model", "tiny", "--data", ml_data().to_str().unwrap()],
    );
    assert!(o.status.success(), "{:?}", text(&o));
}

/// Data stages, then two trainings, each evaluated and measured: 10 stages.
fn write_spec(dir: &Path) -> String {
    let mut s = format!(
        r#"name: worker
stages:
  ml_load: {{ kind: load, params: {{ path: "{data}" }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 600, seed: 2 }} }}
  ml_split: {{ kind: split, inputs: {{ sequences: ml_sample }}, params: {{ seed: 2 }} }}
  ml_measure: {{ kind: measure, inputs: {{ split: ml_split }} }}
"#,
        data = ml_data().display()
    );
    for (name, method) in [
        ("pt", "{ name: prompt_tuning, tokens: 4 }"),
        ("mos", "{ name: mos, experts: 2, tokens: 4 }"),
    ] {
        s.push_str(&format!(
            "  train_{name}: {{ kind: train, inputs: {{ split: ml_split, measure: ml_measure }}, params: {{ model: tiny, method: {method}, epochs: 3, seed: 2, max_train_points: 64, max_valid_points: 16 }} }}\n  eval_{name}: {{ kind: evaluate, inputs: {{ split: ml_split, adapter: train_{name} }}, params: {{ model: tiny, setting: implicit, max_points: 16 }} }}\n  metrics_{name}: {{ kind: metrics, inputs: {{ predictions: eval_{name}, stereotypes: ml_measure }} }}\n"
        ));
    }
    let p = dir.join("worker.yaml");
    std::fs::write(&p, s).unwrap();
    p.display().to_string()
}

fn spawn_run(dir: &Path, spec: &str, store: &str, step_delay_ms: u64) -> Child {
    Command::new(bin())
        .args(["run", spec, "-q", "--device", "cpu", "--store", store])
        .current_dir(dir)
        .env("MOSX_TEST_STEP_DELAY_MS", step_delay_ms.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mosx")
}

/// The first epoch checkpoint of a training under `<store folder>/objects/.work`.
fn work_state(store_dir: &Path) -> Option<std::path::PathBuf> {
    let work = store_dir.join("objects/.work");
    std::fs::read_dir(work).ok()?.flatten().find_map(|e| {
        let p = e.path().join("state.json");
        p.exists().then_some(p)
    })
}

fn wait_for_checkpoint(store_dir: &Path) {
    let t0 = Instant::now();
    while work_state(store_dir).is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Pids of the live (not zombie) `mosx-worker` processes whose parent is `parent`.
fn workers_of(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
                .unwrap_or_default()
        };
        if field("Name:") == "mosx-worker"
            && field("PPid:") == parent.to_string()
            && !field("State:").starts_with('Z')
        {
            out.push(pid);
        }
    }
    out
}

/// Whether process `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| {
            !s.lines()
                .any(|l| l.starts_with("State:") && l.contains('Z'))
        })
        .unwrap_or(false)
}

fn the_worker_of(parent: u32) -> u32 {
    let t0 = Instant::now();
    loop {
        if let [w] = workers_of(parent)[..] {
            return w;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "no worker child");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn count(db: &Path, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: sending a signal to a process this test started (or its child).
    assert_eq!(unsafe { libc_kill(pid as i32, sig) }, 0);
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

const SIGINT: i32 = 2;
const SIGKILL: i32 = 9;

/// The spec run uninterrupted into `ref/mosx.db`: the reference results.
fn run_reference(dir: &Path, spec: &str) {
    let o = mosx(
        dir,
        &[
            "run",
            spec,
            "-q",
            "--device",
            "cpu",
            "--store",
            "ref/mosx.db",
        ],
    );
    assert!(o.status.success(), "{:?}", text(&o));
}

/// Runs the spec into `results/mosx.db` and SIGKILLs its worker in a training's second epoch:
/// the run's (stdout, stderr), once it has ended.
fn run_killing_the_worker_mid_training(dir: &Path, spec: &str) -> (String, String) {
    let child = spawn_run(dir, spec, "results/mosx.db", 60);
    wait_for_checkpoint(&dir.join("results"));
    let worker = the_worker_of(child.id());
    std::thread::sleep(Duration::from_millis(150)); // into the next epoch
    signal(worker, SIGKILL);
    let o = child.wait_with_output().unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    (out, err)
}

/// The killed worker's training failed with its signal and its descendants were skipped;
/// everything else ran. Returns the failed training's method id (`pt` or `mos`).
fn assert_only_the_killed_training_failed(out: &str, err: &str) -> &'static str {
    assert!(
        out.contains("10 stages: 0 cached, 7 executed, 1 failed, 2 skipped"),
        "{out}\n{err}"
    );
    let failed = ["pt", "mos"]
        .into_iter()
        .find(|n| err.contains(&format!("  train_{n}: worker exited: signal 9 (SIGKILL)")))
        .unwrap_or_else(|| panic!("no training failed with the worker's signal:\n{err}"));
    for d in ["eval", "metrics"] {
        assert!(
            err.contains(&format!(
                "  {d}_{failed}: skipped (upstream train_{failed} failed)"
            )),
            "{err}"
        );
    }
    failed
}

/// No lease or running execution is left, the one failure is recorded, and the killed
/// training's checkpoint is kept for the rerun.
fn assert_store_after_the_kill(store_dir: &Path) {
    let db = store_dir.join("mosx.db");
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM leases"),
        0,
        "a lease is left"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM executions WHERE status = 'running'"
        ),
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM executions WHERE status = 'failed' AND error LIKE 'worker exited: signal 9%'"
        ),
        1
    );
    assert!(work_state(store_dir).is_some(), "the checkpoint is gone");
    assert_no_partial_rows(&db);
}

/// The training log of stage `train_{failed}` in `db`.
fn training_log(db: &Path, failed: &str) -> serde_json::Value {
    let c = rusqlite::Connection::open(db).unwrap();
    let log: Vec<u8> = c
        .query_row(
            "SELECT a.inline FROM artifacts a JOIN stages s ON s.key = a.key WHERE s.name = ?1 AND a.name = 'log'",
            [format!("train_{failed}")],
            |r| r.get(0),
        )
        .unwrap();
    serde_json::from_slice(&log).unwrap()
}

/// The rerun resumes the killed training from its checkpoint and completes, with the
/// reference's metrics and no checkpoint left.
fn assert_rerun_resumes(dir: &Path, spec: &str, failed: &str) {
    let store_dir = dir.join("results");
    let db = store_dir.join("mosx.db");
    let o = mosx(dir, &["run", spec, "-q", "--device", "cpu"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("10 stages: 7 cached, 3 executed"), "{out}");
    // The worker's progress events reach the planner's output (plain lines off a terminal).
    assert!(
        err.contains(&format!("  train_{failed} epoch 3/3: ")),
        "no epoch progress forwarded:\n{err}"
    );
    let log = training_log(&db, failed);
    assert!(
        !log["train"]["resumed_after_epoch"].is_null(),
        "the training did not resume: {log}"
    );
    assert_eq!(metrics(&db), metrics(&dir.join("ref/mosx.db")));
    assert!(work_state(&store_dir).is_none(), "checkpoints left behind");
}

#[test]
fn a_worker_killed_mid_training_fails_that_stage_only_and_a_rerun_resumes_it() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_model(tmp.path());
    let spec = write_spec(tmp.path());
    run_reference(tmp.path(), &spec);
    let (out, err) = run_killing_the_worker_mid_training(tmp.path(), &spec);
    let failed = assert_only_the_killed_training_failed(&out, &err);
    assert_store_after_the_kill(&tmp.path().join("results"));
    assert_rerun_resumes(tmp.path(), &spec, failed);
}

#[test]
fn a_planner_killed_mid_training_takes_its_worker_along_and_the_rerun_takes_over() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_model(tmp.path());
    let spec = write_spec(tmp.path());
    let store_dir = tmp.path().join("results");
    let mut child = spawn_run(tmp.path(), &spec, "results/mosx.db", 60);
    wait_for_checkpoint(&store_dir);
    let worker = the_worker_of(child.id());
    child.kill().unwrap(); // SIGKILL: no handler runs
    let _ = child.wait();
    let t0 = Instant::now();
    while alive(worker) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the worker outlived its planner"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let db = store_dir.join("mosx.db");
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM leases"),
        1,
        "the dead worker's lease"
    );
    let o = mosx(tmp.path(), &["run", &spec, "-q", "--device", "cpu"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM leases"), 0);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM executions WHERE status = 'running'"
        ),
        0
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM stages"), 10);
}

#[test]
fn ctrl_c_kills_the_worker_releases_its_lease_and_exits_130() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_model(tmp.path());
    let spec = write_spec(tmp.path());
    let store_dir = tmp.path().join("results");
    let child = spawn_run(tmp.path(), &spec, "results/mosx.db", 60);
    wait_for_checkpoint(&store_dir);
    let worker = the_worker_of(child.id());
    signal(child.id(), SIGINT);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{:?}", text(&o));
    assert!(text(&o).1.contains("interrupted"), "{:?}", text(&o));
    assert!(!alive(worker), "the worker survived Ctrl-C");
    let db = store_dir.join("mosx.db");
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM leases"),
        0,
        "a lease is left"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM executions WHERE status = 'running'"
        ),
        0
    );
    assert_no_partial_rows(&db);
}

#[test]
fn no_worker_is_started_without_work_for_it_and_a_missing_one_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_model(tmp.path());
    let spec = write_spec(tmp.path());
    let missing = tmp.path().join("no-such-worker");
    let run = |args: &[&str]| {
        Command::new(bin())
            .args(args)
            .current_dir(tmp.path())
            .env("MOSX_WORKER", &missing)
            .output()
            .unwrap()
    };
    // Stages that need the worker are to run: the error says where it was looked for.
    let o = run(&["run", &spec, "-q", "--device", "cpu"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(
        err.contains("MOSX_WORKER") && err.contains("no-such-worker") && err.contains("make build"),
        "{err}"
    );
    // The data stages alone need no worker.
    let data_only = tmp.path().join("data.yaml");
    let text_in = std::fs::read_to_string(&spec).unwrap();
    let keep: Vec<&str> = text_in
        .lines()
        .filter(|l| {
            !l.contains("kind: train")
                && !l.contains("kind: evaluate")
                && !l.contains("kind: metrics")
        })
        .collect();
    std::fs::write(&data_only, keep.join("\n")).unwrap();
    let o = run(&["run", data_only.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{:?}", text(&o));
    // With everything cached, no worker is needed either.
    let o = mosx(tmp.path(), &["run", &spec, "-q", "--device", "cpu"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let o = run(&["run", &spec, "-q", "--device", "cpu"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("10 stages: 10 cached, 0 executed"), "{out}");
}
