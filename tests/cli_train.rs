//! Training through the real binary on a tiny random backbone (`mosx tiny-model`):
//! train (prompt tuning and MoS) → evaluate under three settings → metrics, a rerun that
//! executes nothing, and a training SIGKILLed mid-epoch that resumes to bit-identical
//! parameters and metrics.

mod common;
use common::stage_metric as metric;
use common::*;

use std::path::Path;
use std::time::{Duration, Instant};

/// Data stages, two trainings, the three settings for MoS, and metrics.
fn write_spec(dir: &Path, epochs: usize, train_points: usize) -> std::path::PathBuf {
    let mut s = format!(
        r#"name: train
vars: {{ seed: 0, model: tiny }}
stages:
  ml_load: {{ kind: load, params: {{ path: "{data}" }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 600, seed: "${{seed}}" }} }}
  ml_split: {{ kind: split, inputs: {{ sequences: ml_sample }}, params: {{ seed: "${{seed}}" }} }}
  ml_measure: {{ kind: measure, inputs: {{ split: ml_split }} }}
  ml_train_pt:
    kind: train
    inputs: {{ split: ml_split, measure: ml_measure }}
    params: {{ model: "${{model}}", method: {{ name: prompt_tuning, tokens: 4 }}, epochs: {epochs}, seed: "${{seed}}", max_train_points: {train_points}, max_valid_points: 24 }}
  ml_train_mos:
    kind: train
    inputs: {{ split: ml_split, measure: ml_measure }}
    params: {{ model: "${{model}}", method: {{ name: mos, experts: 3, tokens: 4 }}, epochs: {epochs}, seed: "${{seed}}", max_train_points: {train_points}, max_valid_points: 24 }}
"#,
        data = ml_data().display()
    );
    for setting in ["implicit", "explicit", "counterfactual"] {
        s.push_str(&format!(
            r#"  ml_eval_mos_{setting}:
    kind: evaluate
    inputs: {{ split: ml_split, adapter: ml_train_mos }}
    params: {{ model: "${{model}}", setting: {setting}, max_points: 30 }}
  ml_metrics_mos_{setting}:
    kind: metrics
    inputs: {{ predictions: ml_eval_mos_{setting}, stereotypes: ml_measure }}
"#
        ));
    }
    s.push_str(
        r#"  ml_eval_pt:
    kind: evaluate
    inputs: { split: ml_split, adapter: ml_train_pt }
    params: { model: "${model}", setting: implicit, max_points: 30 }
  ml_metrics_pt:
    kind: metrics
    inputs: { predictions: ml_eval_pt, stereotypes: ml_measure }
"#,
    );
    s.push_str(
        r#"report:
  - figure: training_curves
    stages: [ml_train_pt, ml_train_mos]
    output: results/curves
"#,
    );
    let path = dir.join("train.yaml");
    std::fs::write(&path, s).unwrap();
    path
}

#[test]
fn train_evaluate_metrics_end_to_end_then_a_rerun_executes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_model(tmp.path());
    let spec = write_spec(tmp.path(), 2, 48);
    let spec = spec.to_str().unwrap();
    let o = mosx(tmp.path(), &["run", spec, "--device", "cpu"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("14 stages: 0 cached, 14 executed"), "{out}");
    let db = tmp.path().join("results/mosx.db");
    // MoS on the tiny Gemma-3 (d = 32), E = 3, L = 4, G = 2: E·L·d + (d·E + E) + (G·E·E + E).
    assert_eq!(
        metric(&db, "ml_train_mos", "trainable_params"),
        (3 * 4 * 32 + 32 * 3 + 3 + 2 * 9 + 3) as f64
    );
    assert_eq!(
        metric(&db, "ml_train_pt", "trainable_params"),
        (4 * 32) as f64
    );
    assert_eq!(metric(&db, "ml_train_mos", "epochs_run"), 2.0);
    for setting in ["implicit", "explicit", "counterfactual"] {
        let auc = metric(&db, &format!("ml_metrics_mos_{setting}"), "auc");
        assert!((0.0..=100.0).contains(&auc), "{setting}: AUC {auc}");
        assert_eq!(metric(&db, &format!("ml_eval_mos_{setting}"), "n"), 30.0);
    }
    // The run drew the training curves of both trainings from their stored logs.
    let png = std::fs::read(tmp.path().join("results/curves.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let svg = std::fs::read_to_string(tmp.path().join("results/curves.svg")).unwrap();
    for label in [
        "ml_train_pt",
        "ml_train_mos",
        "optimizer step",
        "valid AUC (x100)",
    ] {
        assert!(svg.contains(label), "{label} missing from the curves SVG");
    }
    // The three settings read different prompts, so their predictions differ.
    let p = |s: &str| metric(&db, &format!("ml_eval_mos_{s}"), "mean_p_yes");
    assert_ne!(p("implicit"), p("explicit"));

    let o = mosx(tmp.path(), &["run", spec, "--device", "cpu"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("14 stages: 14 cached, 0 executed"), "{out}");

    // A work folder no live lease holds (a killed training's checkpoints) is removed by gc.
    let orphan = tmp.path().join("results/objects/.work/0123abcd");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("state.json"), b"{}").unwrap();
    let o = mosx(tmp.path(), &["gc"]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(!orphan.exists(), "gc left an orphan work folder");
    let o = mosx(tmp.path(), &["run", spec, "--device", "cpu"]);
    assert!(
        text(&o).0.contains("14 stages: 14 cached, 0 executed"),
        "{:?}",
        text(&o)
    );
}

fn work_state(root: &Path) -> Option<std::path::PathBuf> {
    let work = root.join("results/objects/.work");
    std::fs::read_dir(work).ok()?.flatten().find_map(|e| {
        let p = e.path().join("state.json");
        p.exists().then_some(p)
    })
}

#[test]
fn a_training_killed_mid_epoch_resumes_to_bit_identical_parameters() {
    let tmp = tempfile::tempdir().unwrap();
    tiny_model(tmp.path());
    let spec = write_spec(tmp.path(), 4, 64);
    let spec = spec.to_str().unwrap();

    // Reference: uninterrupted, in its own store.
    let o = mosx(tmp.path(), &["run", spec, "-q", "--store", "ref/mosx.db"]);
    assert!(o.status.success(), "{:?}", text(&o));

    // Slow steps down, wait for the first epoch's checkpoint, then kill mid-epoch.
    let mut child = std::process::Command::new(bin())
        .args(["run", spec, "-q", "-j", "1"])
        .current_dir(tmp.path())
        .env("MOSX_TEST_STEP_DELAY_MS", "60")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let state = loop {
        if let Some(s) = work_state(tmp.path()) {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(200)); // into the next epoch
    child.kill().unwrap();
    let _ = child.wait();
    assert!(state.exists(), "the checkpoint is gone after the kill");

    let o = mosx(tmp.path(), &["run", spec, "-q"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let db = tmp.path().join("results/mosx.db");
    let reference = tmp.path().join("ref/mosx.db");
    // Every metric and every artifact but the training logs (timings) are identical.
    assert_eq!(metrics(&db), metrics(&reference));
    let no_logs = |v: Vec<(String, String, String)>| -> Vec<(String, String, String)> {
        v.into_iter().filter(|(_, n, _)| n != "log").collect()
    };
    assert_eq!(
        no_logs(artifact_hashes(&db)),
        no_logs(artifact_hashes(&reference))
    );
    // One of the trainings resumed, and the partial checkpoints are gone once committed.
    let c = rusqlite::Connection::open(&db).unwrap();
    let logs: Vec<Vec<u8>> = c
        .prepare("SELECT a.inline FROM artifacts a WHERE a.name = 'log'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let resumed = logs
        .iter()
        .filter(|b| {
            let v: serde_json::Value = serde_json::from_slice(b).unwrap();
            !v["train"]["resumed_after_epoch"].is_null()
        })
        .count();
    assert_eq!(resumed, 1, "exactly the killed training resumed");
    assert!(
        work_state(tmp.path()).is_none(),
        "partial checkpoints left behind"
    );
}
