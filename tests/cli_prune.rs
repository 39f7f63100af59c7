//! ASHA pruning of a search's trials (`sweep.prune`) end to end on a tiny random backbone:
//! a planted bad learning rate is pruned at its first rung, its evaluate and metrics are
//! skipped with the reason, `mosx compare` marks it `pruned at epoch 1`, a trial that ties
//! the floor continues, and a rerun executes nothing and reports the same; with `parallel: 2`
//! a trial is compared only with the trials before its window.

mod common;
use common::*;

use std::path::{Path, PathBuf};

/// A good and a planted bad learning rate (prompt tuning, Adafactor).
const GOOD_LR: f64 = 0.3;
const BAD_LR: f64 = 1e-9;

/// load → sample → split → measure → train (lr searched, 3 epochs: rung 1) → evaluate →
/// metrics; the objective is the metrics' AUC.
fn write_spec(dir: &Path, search: &str) -> PathBuf {
    let text = format!(
        r#"name: prune
stages:
  ml_load: {{ kind: load, params: {{ path: "{data}" }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 400 }} }}
  ml_split: {{ kind: split, inputs: {{ sequences: ml_sample }} }}
  ml_measure: {{ kind: measure, inputs: {{ split: ml_split }} }}
  ml_train:
    kind: train
    inputs: {{ split: ml_split, measure: ml_measure }}
    params: {{ model: tiny, method: {{ name: prompt_tuning, tokens: 4 }}, epochs: 3, lr: 0.01, max_train_points: 48, max_valid_points: 32 }}
  ml_eval:
    kind: evaluate
    inputs: {{ split: ml_split, adapter: ml_train }}
    params: {{ model: tiny, setting: implicit, max_points: 16 }}
  ml_metrics:
    kind: metrics
    inputs: {{ predictions: ml_eval, stereotypes: ml_measure }}
sweep:
  search: {search}
  space:
    stages.ml_train.params.lr: {{ choice: [{GOOD_LR}, {BAD_LR}] }}
  objective: {{ stage: ml_metrics, metric: auc, direction: max }}
  prune: {{ method: asha, metric: valid_auc, min_epochs: 1, reduction_factor: 3 }}
"#,
        data = ml_data().display()
    );
    let path = dir.join("prune.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The number of stages each `N stages: … M executed` line reports, summed.
fn executed(out: &str) -> usize {
    out.lines()
        .filter_map(|l| {
            l.split(" executed")
                .next()?
                .rsplit(", ")
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum()
}

/// The `NAME: skipped (trial pruned at epoch 1)` lines, in order.
fn skip_lines(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.contains("skipped (trial pruned at epoch 1)"))
        .map(|l| l.trim().to_string())
        .collect()
}

fn run_ok(dir: &Path, spec: &Path) -> String {
    let o = mosx(
        dir,
        &["run", spec.to_str().unwrap(), "-q", "--device", "cpu"],
    );
    let (out, err) = text(&o);
    assert!(
        o.status.success(),
        "a pruned trial is not a failure: {out}\n{err}"
    );
    out
}

#[test]
fn a_planted_bad_learning_rate_is_pruned_at_its_first_rung_and_a_rerun_executes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    tiny_model(dir);
    let spec = write_spec(dir, "{ method: random, trials: 3, seed: 4 }");
    let out = run_ok(dir, &spec);
    assert!(
        out.contains("search (random): 3 of 3 trials with an outcome, 0 failed, 1 pruned"),
        "{out}"
    );
    // One trial at a time (parallel 1), each proposed, with the floors of the trials before
    // it, as soon as they ended: all three join one run.
    let rounds = out.lines().filter(|l| l.contains(" stages: ")).count();
    assert_eq!(rounds, 1, "{out}");
    let skips = skip_lines(&out);
    assert_eq!(
        skips.len(),
        2,
        "its evaluate and metrics, each said once: {out}"
    );
    assert!(skips.iter().any(|l| l.contains("ml_eval")), "{out}");
    assert!(skips.iter().any(|l| l.contains("ml_metrics")), "{out}");

    let o = mosx(
        dir,
        &["compare", spec.to_str().unwrap(), "--format", "json"],
    );
    let (json, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rows = v["table"]["rows"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 3, "{json}");
    let lr = |r: &serde_json::Value| r["params"]["stages.ml_train.params.lr"].as_f64().unwrap();
    assert_eq!(
        lr(&rows[0]),
        GOOD_LR,
        "seed 4 draws the good rate first: {json}"
    );
    // Seed 4 draws good, bad, good: the bad rate is below trial 0's rung-1 AUC.
    assert_eq!(lr(&rows[1]), BAD_LR, "{json}");
    assert_eq!(
        rows[1]["status"],
        serde_json::json!({ "pruned": 1 }),
        "{json}"
    );
    // Trial 2 has trial 0's rate, so exactly its rung value, the floor: a tie continues.
    assert_eq!(lr(&rows[2]), GOOD_LR, "{json}");
    assert_eq!(rows[2]["status"], "ok", "{json}");
    assert_eq!(rows[0]["status"], "ok", "{json}");
    let o = mosx(dir, &["compare", spec.to_str().unwrap()]);
    let md = text(&o).0;
    assert!(md.contains("| pruned at epoch 1 |"), "{md}");

    let db = dir.join("results/mosx.db");
    let pruned_metric: Vec<_> = metrics(&db)
        .into_iter()
        .filter(|(_, m, _)| m == "pruned_at_epoch")
        .collect();
    assert_eq!(pruned_metric.len(), 1, "{pruned_metric:?}");
    assert_eq!(pruned_metric[0].2, Some(1.0));

    let again = run_ok(dir, &spec);
    assert_eq!(executed(&again), 0, "a rerun executes nothing: {again}");
    assert!(
        again.contains("search (random): 3 of 3 trials with an outcome, 0 failed, 1 pruned"),
        "{again}"
    );
    assert_eq!(
        skip_lines(&again),
        skips,
        "a rerun reports the same skips: {again}"
    );
    assert!(
        executions(&db).iter().all(|(_, n)| *n == 1),
        "no stage ran twice"
    );
}

#[test]
fn with_two_trials_in_flight_a_trial_is_compared_only_with_the_trials_before_its_window() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    tiny_model(dir);
    // Seed 4 draws good, bad, good. With `parallel: 2` trials 0 and 1 are in flight at once
    // (trial 1 is compared with nothing: its window is empty, so the bad rate trains to the
    // end), and trial 2, proposed when trial 0 ended, is compared with trial 0 alone (a tie:
    // it continues), whichever of trials 0 and 1 ended first.
    let spec = write_spec(dir, "{ method: random, trials: 3, seed: 4, parallel: 2 }");
    let out = run_ok(dir, &spec);
    assert!(
        out.contains("search (random): 3 of 3 trials with an outcome, 0 failed, 0 pruned"),
        "{out}"
    );
    let rounds = out.lines().filter(|l| l.contains(" stages: ")).count();
    assert_eq!(rounds, 1, "trial 2 joins the run of trials 0 and 1: {out}");
    let again = run_ok(dir, &spec);
    assert_eq!(executed(&again), 0, "a rerun executes nothing: {again}");
}
