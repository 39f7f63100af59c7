//! Seven user groups end to end through the real binaries: a generated ML-1M folder
//! (`users.dat`, `movies.dat`, `ratings.dat`, `::`-separated, ISO-8859-1) grouped by
//! `group_by: {field: age, bins: [18, 25, 35, 45, 50, 56]}`, a tiny random backbone, MoS
//! trained over the seven stereotype prompts, evaluated under the implicit, explicit and
//! counterfactual settings (`counterfactual: next` and `all`), metrics with F over the seven
//! groups, the reports rendered over every group and pair, and a rerun that executes nothing.

mod common;
use common::*;

use std::path::Path;

use common::ml1m::{write_ml1m, GROUPS, USERS};

/// Data stages, MoS (1 epoch) and its four evaluations, the zero-shot backbone under the
/// three settings (its counterfactual over every other group), metrics for each, and the
/// reports: Table III, the smoke table and the zero-shot table with every pair.
fn write_spec(dir: &Path, data: &Path) -> std::path::PathBuf {
    let mut s = format!(
        r#"name: groups
vars: {{ seed: 0, model: tiny }}
stages:
  ml_load:
    kind: load
    params: {{ path: "{data}", group_by: {{ field: age, bins: [18, 25, 35, 45, 50, 56] }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 100, seed: "${{seed}}" }} }}
  ml_split: {{ kind: split, inputs: {{ sequences: ml_sample }}, params: {{ seed: "${{seed}}" }} }}
  ml_measure: {{ kind: measure, inputs: {{ split: ml_split }}, params: {{ min_count: 1 }} }}
  ml_train_mos:
    kind: train
    inputs: {{ split: ml_split, measure: ml_measure }}
    params: {{ model: "${{model}}", method: {{ name: mos, experts: 2, tokens: 2 }}, epochs: 1, seed: "${{seed}}", max_train_points: 16, max_valid_points: 8 }}
"#,
        data = data.display()
    );
    let evals = [
        ("mos_implicit", "implicit", "", true),
        ("mos_explicit", "explicit", "", true),
        ("mos_counterfactual", "counterfactual", "", true),
        (
            "mos_counterfactual_all",
            "counterfactual",
            ", counterfactual: all",
            true,
        ),
        ("implicit", "implicit", "", false),
        ("explicit", "explicit", "", false),
        (
            "counterfactual",
            "counterfactual",
            ", counterfactual: all",
            false,
        ),
    ];
    for (id, setting, extra, mos) in evals {
        let adapter = if mos { ", adapter: ml_train_mos" } else { "" };
        s.push_str(&format!(
            r#"  ml_eval_{id}:
    kind: evaluate
    inputs: {{ split: ml_split{adapter} }}
    params: {{ model: "${{model}}", setting: {setting}{extra} }}
  ml_metrics_{id}:
    kind: metrics
    inputs: {{ predictions: ml_eval_{id}, stereotypes: ml_measure }}
"#
        ));
    }
    s.push_str(
        r#"report:
  - template: table3.md.j2
    output: results/table3.md
    options: { datasets: [{ label: ML-1M (generated), sample: ml_sample }] }
  - template: smoke.md.j2
    output: results/smoke.md
    options: { datasets: [{ label: ML-1M (generated), prefix: ml }], methods: [{ id: mos, label: MoS }], rules: [] }
  - template: zeroshot.md.j2
    output: results/zeroshot.md
    options: { datasets: [{ label: ML-1M (generated), prefix: ml }] }
"#,
    );
    let path = dir.join("groups.yaml");
    std::fs::write(&path, s).unwrap();
    path
}

/// The stored metrics of stage `stage`: `(name, value)`, NaN for an undefined one.
fn metrics_of(db: &Path, stage: &str) -> Vec<(String, f64)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut q = c
        .prepare("SELECT m.name, m.value FROM metrics m JOIN stages s ON s.key = m.key WHERE s.name = ?1 ORDER BY m.name")
        .unwrap();
    q.query_map([stage], |r| {
        Ok((r.get(0)?, r.get::<_, Option<f64>>(1)?.unwrap_or(f64::NAN)))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn metric(db: &Path, stage: &str, name: &str) -> f64 {
    metrics_of(db, stage)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{stage} has no metric `{name}`"))
        .1
}

#[test]
fn seven_age_groups_train_evaluate_and_report_end_to_end_then_a_rerun_executes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("ml-1m");
    write_ml1m(&data);
    tiny_model_for(tmp.path(), &data);
    std::os::unix::fs::symlink(repo().join("templates"), tmp.path().join("templates")).unwrap();
    let spec = write_spec(tmp.path(), &data);
    let spec = spec.to_str().unwrap();
    let o = mosx(tmp.path(), &["run", spec, "--device", "cpu"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("19 stages: 0 cached, 19 executed"), "{out}");
    let db = tmp.path().join("results/mosx.db");

    for g in GROUPS {
        let users = metric(&db, "ml_load", &format!("users.{g}"));
        assert_eq!(users, USERS as f64, "group {g}");
    }
    // MoS on the tiny Gemma-3 (d = 32), E = 2, L = 2, G = 7: one stereotype prompt per
    // group, the reweighting layer over all seven routings.
    let (d, e, l, g) = (32, 2, 2, 7);
    assert_eq!(
        metric(&db, "ml_train_mos", "trainable_params"),
        (e * l * d + (d * e + e) + (g * e * e + e)) as f64
    );
    for gr in GROUPS {
        metric(&db, "ml_train_mos", &format!("routing.valid.{gr}.e0"));
    }

    // `next` scores one prompt per point, `all` six (G − 1); each gives one prediction per
    // point, and they differ.
    let n = metric(&db, "ml_eval_mos_counterfactual", "n");
    assert!(n > 0.0);
    assert_eq!(metric(&db, "ml_eval_mos_counterfactual", "prompts"), n);
    assert_eq!(metric(&db, "ml_eval_mos_counterfactual_all", "n"), n);
    assert_eq!(
        metric(&db, "ml_eval_mos_counterfactual_all", "prompts"),
        6.0 * n
    );
    assert_eq!(metric(&db, "ml_eval_counterfactual", "prompts"), 6.0 * n);
    let p = |s: &str| metric(&db, s, "mean_p_yes");
    assert_ne!(
        p("ml_eval_mos_counterfactual"),
        p("ml_eval_mos_counterfactual_all")
    );

    // F over the seven groups: every pair (a, b) has its metric, and the headline F reads
    // the seven consistent ones.
    for stage in [
        "ml_metrics_mos_implicit",
        "ml_metrics_mos_counterfactual_all",
    ] {
        let names: Vec<String> = metrics_of(&db, stage).into_iter().map(|(n, _)| n).collect();
        for a in GROUPS {
            for b in GROUPS {
                let name = format!("F.{a}.{b}");
                assert!(names.contains(&name), "{stage} lacks {name}");
            }
        }
        let pairs = names
            .iter()
            .filter(|n| n.matches('.').count() == 2 && n.starts_with("F."));
        assert_eq!(pairs.count(), 49, "{stage}: {names:?}");
        let auc = metric(&db, stage, "auc");
        assert!(
            auc.is_nan() || (0.0..=100.0).contains(&auc),
            "{stage}: AUC {auc}"
        );
    }

    // The reports list every group and every pair.
    let read = |f: &str| std::fs::read_to_string(tmp.path().join("results").join(f)).unwrap();
    let table3 = read("table3.md");
    assert!(table3.contains(&GROUPS.join(":")), "{table3}");
    let zeroshot = read("zeroshot.md");
    for a in GROUPS {
        for b in GROUPS {
            assert!(
                zeroshot.contains(&format!("| {a} → {b}")),
                "{a} → {b}:\n{zeroshot}"
            );
        }
    }
    let smoke = read("smoke.md");
    assert!(smoke.contains("| ML-1M (generated) | MoS |"), "{smoke}");
    assert!(
        smoke.contains("routing (validation, kept epoch): "),
        "{smoke}"
    );
    for g in GROUPS {
        assert!(
            smoke.contains(&format!("{g}→e")),
            "routing of {g}:\n{smoke}"
        );
    }

    let o = mosx(tmp.path(), &["run", spec, "--device", "cpu"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("19 stages: 19 cached, 0 executed"), "{out}");
    std::fs::remove_file(tmp.path().join("results/zeroshot.md")).unwrap();
    let o = mosx(tmp.path(), &["report", spec]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(read("zeroshot.md").contains("| >=56 → >=56 (consistent)"));
}
