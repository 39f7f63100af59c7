//! Issue 18's "done when", through the real binaries: one spec sweeps three tiny random
//! Llama-family backbones (Qwen2-, Llama- and Qwen3-shaped, `mosx tiny-model --arch`) over a
//! generated ML-1M with seven age groups; for each, MoS trains over the seven stereotype
//! prompts and is evaluated pointwise and by ranking (one shared `candidates` stage, so every
//! backbone ranks the same lists); a rerun executes nothing.

mod common;
use common::ml1m::{write_ml1m, GROUPS};
use common::stage_metric as metric;
use common::*;

use std::path::Path;

const ARCHS: [&str; 3] = ["qwen2", "llama", "qwen3"];

fn write_spec(dir: &Path, data: &Path, models: &[String]) -> std::path::PathBuf {
    let s = format!(
        r#"name: breadth
vars: {{ seed: 0, model: {first} }}
sweep:
  grid: {{ vars.model: [{models}] }}
stages:
  ml_load:
    kind: load
    params: {{ path: "{data}", group_by: {{ field: age, bins: [18, 25, 35, 45, 50, 56] }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 100, seed: "${{seed}}" }} }}
  ml_split: {{ kind: split, inputs: {{ sequences: ml_sample }}, params: {{ seed: "${{seed}}" }} }}
  ml_measure: {{ kind: measure, inputs: {{ split: ml_split }}, params: {{ min_count: 1 }} }}
  ml_candidates:
    kind: candidates
    inputs: {{ split: ml_split }}
    params: {{ negatives: 5, seed: "${{seed}}", max_points: 8 }}
  ml_train_mos:
    kind: train
    inputs: {{ split: ml_split, measure: ml_measure }}
    params: {{ model: "${{model}}", method: {{ name: mos, experts: 2, tokens: 2 }}, epochs: 1, seed: "${{seed}}", max_train_points: 16, max_valid_points: 8 }}
  ml_eval_point:
    kind: evaluate
    inputs: {{ split: ml_split, adapter: ml_train_mos }}
    params: {{ model: "${{model}}", setting: implicit }}
  ml_metrics_point:
    kind: metrics
    inputs: {{ predictions: ml_eval_point, stereotypes: ml_measure }}
  ml_eval_rank:
    kind: evaluate
    inputs: {{ split: ml_split, adapter: ml_train_mos, candidates: ml_candidates }}
    params: {{ model: "${{model}}", setting: implicit, protocol: ranking }}
  ml_metrics_rank:
    kind: metrics
    inputs: {{ predictions: ml_eval_rank, rankings: ml_eval_rank, stereotypes: ml_measure }}
    params: {{ k: [1, 5] }}
"#,
        first = models[0],
        models = models.join(", "),
        data = data.display()
    );
    let path = dir.join("breadth.yaml");
    std::fs::write(&path, s).unwrap();
    path
}

/// The stored value of `name` for the sweep point of stage `stage` on `model`.
fn point_metric(db: &Path, stage: &str, model: &str, name: &str) -> f64 {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut q = c
        .prepare("SELECT s.name FROM stages s WHERE s.name LIKE ?1")
        .unwrap();
    let names: Vec<String> = q
        .query_map([format!("{stage}%{model}%")], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(names.len(), 1, "{stage} on {model}: {names:?}");
    metric(db, &names[0], name)
}

#[test]
fn mos_on_three_llama_family_backbones_pointwise_and_ranking_over_seven_age_groups() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("ml-1m");
    write_ml1m(&data);
    let models: Vec<String> = ARCHS
        .iter()
        .map(|a| {
            let name = format!("tiny_{a}");
            tiny_model_arch(tmp.path(), &name, a, &data);
            name
        })
        .collect();
    let spec = write_spec(tmp.path(), &data, &models);
    let spec = spec.to_str().unwrap();
    let o = mosx(tmp.path(), &["run", spec, "--device", "cpu"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    // Shared: load, sample, split, measure, candidates; per backbone: train, two evaluates,
    // two metrics.
    assert!(out.contains("20 stages: 0 cached, 20 executed"), "{out}");
    let db = tmp.path().join("results/mosx.db");
    for m in &models {
        // MoS over G = 7 stereotype prompts: one routing row per group.
        for g in GROUPS {
            let share = point_metric(&db, "ml_train_mos", m, &format!("routing.valid.{g}.e0"));
            assert!((0.0..=1.0).contains(&share), "{m} {g}: {share}");
        }
        let auc = point_metric(&db, "ml_metrics_point", m, "auc");
        assert!(
            auc.is_nan() || (0.0..=100.0).contains(&auc),
            "{m}: AUC {auc}"
        );
        // Up to 8 lists (a training without leaking points ranks none of theirs), each the
        // target and 5 negatives.
        let lists = point_metric(&db, "ml_eval_rank", m, "lists");
        assert!((1.0..=8.0).contains(&lists), "{m}: {lists} lists");
        assert_eq!(
            point_metric(&db, "ml_eval_rank", m, "candidates"),
            6.0 * lists,
            "{m}"
        );
        let (h1, h5) = (
            point_metric(&db, "ml_metrics_rank", m, "hr.1"),
            point_metric(&db, "ml_metrics_rank", m, "hr.5"),
        );
        assert!(0.0 <= h1 && h1 <= h5 && h5 <= 100.0, "{m}: {h1} {h5}");
    }
    // The three backbones score the same lists differently (they are different models).
    let p: Vec<f64> = models
        .iter()
        .map(|m| point_metric(&db, "ml_eval_rank", m, "mean_p_yes"))
        .collect();
    assert!(p[0] != p[1] && p[1] != p[2], "{p:?}");

    let o = mosx(tmp.path(), &["run", spec, "--device", "cpu"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("20 stages: 20 cached, 0 executed"), "{out}");
}
