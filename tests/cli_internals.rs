//! The fairness baselines' internals through the whole pipeline, on a tiny random backbone:
//! an IFairLRS and a UP5 `train` stage write their internal metrics (the worker through
//! `TrainLog::internal_metrics`), a claim on them passes the plan-time check (the `train`
//! kind declares them), and a report cell renders them with the `internals` filter.

mod common;
use common::*;

use std::path::{Path, PathBuf};

fn key_of(dir: &Path, name: &str) -> String {
    let c = rusqlite::Connection::open(dir.join("results/mosx.db")).unwrap();
    c.query_row("SELECT key FROM stages WHERE name = ?1", [name], |r| {
        r.get(0)
    })
    .unwrap()
}

/// The report template: one cell with both trainings' internals, `|`-separated.
fn write_cell_template(d: &Path) {
    std::fs::create_dir_all(d.join("templates")).unwrap();
    std::fs::write(
        d.join("templates/cell.md.j2"),
        "{{ cells.ml_metrics_ifairlrs | internals }}|{{ cells.ml_metrics_up5 | internals }}\n",
    )
    .unwrap();
}

/// An IFairLRS and a UP5 training, each evaluated and measured (flow style, spec text).
fn baseline_stages() -> String {
    let mut stages = String::new();
    for (id, method) in [
        ("ifairlrs", "{ name: ifairlrs, tokens: 4 }"),
        ("up5", "{ name: up5, tokens: 4, hidden: 8 }"),
    ] {
        stages.push_str(&format!(
            r#"  ml_train_{id}:
    kind: train
    inputs: {{ split: ml_split, measure: ml_measure }}
    params: {{ model: "${{model}}", method: {method}, epochs: 2, seed: "${{seed}}", max_train_points: 16, max_valid_points: 16 }}
  ml_eval_{id}: {{ kind: evaluate, inputs: {{ split: ml_split, adapter: ml_train_{id} }}, params: {{ model: "${{model}}", setting: implicit, max_points: 20 }} }}
  ml_metrics_{id}: {{ kind: metrics, inputs: {{ predictions: ml_eval_{id}, stereotypes: ml_measure }} }}
"#
        ));
    }
    stages
}

/// The data stages, `baseline_stages`, two claims on the internals and the cell report.
fn write_spec(d: &Path) -> PathBuf {
    let spec = d.join("internals.yaml");
    std::fs::write(
        &spec,
        format!(
            r#"name: internals
vars: {{ seed: 0, model: tiny }}
stages:
  ml_load: {{ kind: load, params: {{ path: "{data}" }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 600, seed: "${{seed}}" }} }}
  ml_split: {{ kind: split, inputs: {{ sequences: ml_sample }}, params: {{ seed: "${{seed}}" }} }}
  ml_measure: {{ kind: measure, inputs: {{ split: ml_split }} }}
{stages}claims:
  - name: the discriminator beats chance
    test: "ml_train_up5.up5.disc_acc > ml_train_up5.up5.disc_chance"
  - name: a neutral target weighs less than a male one
    test: "ml_train_ifairlrs.ifairlrs.weight.neutral < ml_train_ifairlrs.ifairlrs.weight.male"
report:
  - template: cell.md.j2
    output: results/cell.md
"#,
            data = ml_data().display(),
            stages = baseline_stages()
        ),
    )
    .unwrap();
    spec
}

/// Each training stored its own internal metrics, and only its own.
fn assert_internal_metrics_stored(d: &Path) {
    let names: Vec<(String, String)> = metrics(&d.join("results/mosx.db"))
        .into_iter()
        .map(|(key, name, _)| (key, name))
        .collect();
    let has = |stage: &str, name: &str| {
        let key = key_of(d, stage);
        names.iter().any(|(k, n)| *k == key && n == name)
    };
    // A group none of the 16 train targets is in has no weight (it weighs no sample).
    assert!(
        has("ml_train_ifairlrs", "ifairlrs.weight.neutral"),
        "{names:?}"
    );
    assert!(
        has("ml_train_ifairlrs", "ifairlrs.weight.male")
            || has("ml_train_ifairlrs", "ifairlrs.weight.female"),
        "{names:?}"
    );
    for n in [
        "up5.disc_acc",
        "up5.disc_acc.epoch.0",
        "up5.disc_acc.epoch.1",
        "up5.disc_chance",
    ] {
        assert!(has("ml_train_up5", n), "{n}: {names:?}");
    }
    assert!(
        !has("ml_train_ifairlrs", "up5.disc_acc")
            && !has("ml_train_up5", "ifairlrs.weight.neutral")
    );
}

/// The report cell renders both trainings' internals with the `internals` filter.
fn assert_cell_renders_internals(d: &Path) {
    let cell = std::fs::read_to_string(d.join("results/cell.md")).unwrap();
    eprintln!("{cell}");
    let parts: Vec<&str> = cell.lines().next().unwrap().split('|').collect();
    assert!(parts[0].starts_with("IFairLRS weights: "), "{cell}");
    assert!(parts[0].contains("neutral "), "{cell}");
    assert!(
        parts[1].starts_with("UP5 discriminator accuracy 0."),
        "{cell}"
    );
    assert!(parts[1].contains("(chance 0."), "{cell}");
}

#[test]
fn ifairlrs_weights_and_up5_discriminator_accuracy_reach_the_store_and_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = mosx(
        d,
        &["tiny-model", "tiny", "--data", ml_data().to_str().unwrap()],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    write_cell_template(d);
    let spec = write_spec(d);
    let o = mosx(d, &["run", spec.to_str().unwrap(), "-q", "--device", "cpu"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert_internal_metrics_stored(d);
    assert_cell_renders_internals(d);
}
