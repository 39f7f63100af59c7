//! Template rendering: filters, NaN/null shown as "-", strict undefined errors naming the
//! template, and the shipped `templates/table3.md.j2`.

use std::path::{Path, PathBuf};

use mosx_report::{render_template, ReportError};
use serde_json::json;

fn write(dir: &Path, name: &str, body: &str) {
    std::fs::write(dir.join(name), body).unwrap();
}

fn repo_templates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates")
}

#[test]
fn filters_render_and_nan_is_dash() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "f.md.j2",
        "{{ a | metric }}|{{ a | metric(1) }}|{{ a | metric(digits=3) }}|{{ n | metric }}|\
         {{ s | pct }}|{{ n | pct }}|{{ 0.746 | ratio(0.254) }}|{{ [7460, 2540] | ratio }}|\
         {{ big | thousands }}|{{ zero | metric }}\n",
    );
    // serde_json turns NaN into null, which is what the stage code will hand over.
    let ctx = json!({"a": 55.4949, "n": f64::NAN, "s": 0.254, "big": 19688, "zero": 0.0});
    assert!(ctx["n"].is_null());
    let out = render_template(dir.path(), "f.md.j2", &ctx).unwrap();
    assert_eq!(out, "55.49|55.5|55.495|-|25.4%|-|7:3|7:3|19,688|0.00\n");
}

#[test]
fn filter_rejects_non_numbers() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad_filter.md.j2", "{{ s | metric }}\n");
    let err = render_template(dir.path(), "bad_filter.md.j2", &json!({"s": "x"})).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("metric") && msg.contains("bad_filter.md.j2"),
        "{msg}"
    );
}

#[test]
fn undefined_variable_names_template_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "undef.md.j2",
        "line one\n{{ defined }}\n{{ missing_var }}\n",
    );
    let err = render_template(dir.path(), "undef.md.j2", &json!({"defined": 1})).unwrap_err();
    match &err {
        ReportError::Template { location, .. } => assert_eq!(location, "undef.md.j2:3"),
        other => panic!("wrong error: {other:?}"),
    }
    assert!(err.to_string().contains("undef.md.j2:3"), "{err}");
    // an undefined attribute is refused too
    write(dir.path(), "attr.md.j2", "{{ row.nope | metric }}\n");
    let err = render_template(dir.path(), "attr.md.j2", &json!({"row": {}})).unwrap_err();
    assert!(err.to_string().contains("attr.md.j2:1"), "{err}");
}

#[test]
fn missing_template_and_dir_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = render_template(dir.path(), "nope.md.j2", &json!({})).unwrap_err();
    assert!(err.to_string().contains("nope.md.j2"), "{err}");
    let err = render_template(&dir.path().join("absent"), "x.j2", &json!({})).unwrap_err();
    assert!(matches!(err, ReportError::TemplatesDir { .. }), "{err:?}");
}

#[test]
fn table3_renders_paper_layout() {
    // The generic report context mosx builds from the store (src/report/context.rs).
    let ctx = json!({
        "spec": {"name": "table3"},
        "options": {"datasets": [
            {"label": "MovieLens-100K", "sample": "ml_sample", "groups": ["male", "female"]},
            {"label": "BookCrossing", "sample": "bx_sample", "groups": ["adult", "teen"]}
        ]},
        // `by_stage`: each spec stage's nodes across sweep points; Table III reads the first.
        "by_stage": {
            "ml_sample": [{"metrics": {"users": 943.0, "items": 1682.0, "interactions": 19688.0,
                                       "points": 10000.0, "points.male": 7460.0, "points.female": 2540.0}},
                          {"metrics": {"users": 1.0}}],
            "bx_sample": [{"metrics": {"users": 1820.0, "items": 12001.0, "interactions": 110000.0,
                                       "points": 10000.0, "points.adult": 6000.0, "points.teen": 4000.0}}]
        }
    });
    let out = render_template(&repo_templates(), "table3.md.j2", &ctx).unwrap();
    let expected = "\
**Table III (table3).** Dataset statistics after sampling; the group ratio counts the sampled data points by user group.

| Dataset | #Users | #Items | #Interactions | Group ratio |
|:--|--:|--:|--:|:--|
| MovieLens-100K | 943 | 1,682 | 19,688 | male:female 7:3 (74.6% / 25.4%) |
| BookCrossing | 1,820 | 12,001 | 110,000 | adult:teen 6:4 (60.0% / 40.0%) |
";
    assert_eq!(out, expected);
}

#[test]
fn table3_missing_field_names_the_template() {
    let ctx = json!({
        "spec": {"name": "t"},
        "options": {"datasets": [{"label": "X", "sample": "s", "groups": ["a", "b"]}]},
        "by_stage": {"s": [{"metrics": {"users": 1.0}}]}
    });
    let err = render_template(&repo_templates(), "table3.md.j2", &ctx).unwrap_err();
    assert!(err.to_string().contains("table3.md.j2"), "{err}");
}

/// A seed aggregate as the report context gives it.
fn agg(values: &[f64]) -> serde_json::Value {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    json!({"mean": mean, "sd": 0.0, "n": values.len(), "values": values})
}

#[test]
fn table4_prints_the_fairness_baselines_internals_under_the_table() {
    // The metrics cells of Table IV's rows, with their train stage's metrics under `train.`
    // (as src/report/context.rs copies them): IFairLRS's weights, UP5's discriminator
    // accuracy and chance, and a row without internals.
    let mut cells = serde_json::Map::new();
    for id in ["ifairlrs", "up5", "prompt_tuning"] {
        for setting in ["implicit", "explicit", "counterfactual"] {
            let mut cell = json!({
                "F": agg(&[50.0, 52.0]), "auc": agg(&[60.0, 62.0]),
                "precision": agg(&[55.0, 57.0]), "recall": agg(&[40.0, 42.0]),
            });
            let m = cell.as_object_mut().unwrap();
            match id {
                "ifairlrs" => {
                    m.insert("train.ifairlrs.weight.male".into(), agg(&[0.98, 0.96]));
                    m.insert("train.ifairlrs.weight.female".into(), agg(&[1.04, 1.06]));
                    m.insert("train.ifairlrs.weight.neutral".into(), agg(&[1.0, 1.0]));
                }
                "up5" => {
                    m.insert("train.up5.disc_acc".into(), agg(&[0.70, 0.74]));
                    m.insert("train.up5.disc_acc.epoch.0".into(), agg(&[0.6, 0.6]));
                    m.insert("train.up5.disc_chance".into(), agg(&[0.72, 0.72]));
                }
                _ => {}
            }
            cells.insert(format!("ml_metrics_{id}_{setting}"), cell);
        }
    }
    let ctx = json!({
        "spec": {"name": "table4"},
        "seeds": [1, 2],
        "options": {
            "datasets": [{"label": "MovieLens-100K", "prefix": "ml"}],
            "methods": [
                {"id": "ifairlrs", "label": "IFairLRS"},
                {"id": "up5", "label": "UP5"},
                {"id": "prompt_tuning", "label": "Prompt tuning"}
            ],
            "rules": []
        },
        "cells": cells,
        "comparisons": []
    });
    let out = render_template(&repo_templates(), "table4.md.j2", &ctx).unwrap();
    assert!(out.contains("**Training internals**"), "{out}");
    assert!(
        out.contains(
            "* *MovieLens-100K, IFairLRS*: IFairLRS weights: female 1.05, male 0.97, neutral 1.00 \
             (mean over 2 seeds)"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "* *MovieLens-100K, UP5*: UP5 discriminator accuracy 0.72 (chance 0.72) (mean over 2 seeds)"
        ),
        "{out}"
    );
    assert!(!out.contains("Prompt tuning*:"), "{out}");
}

#[test]
fn a_template_that_never_ends_runs_out_of_fuel_naming_itself() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "forever.md.j2",
        "head\n{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}x{% endfor %}{% endfor %}{% endfor %}\n",
    );
    let err = render_template(dir.path(), "forever.md.j2", &json!({})).unwrap_err();
    assert!(matches!(err, ReportError::Template { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("forever.md.j2:2") && msg.contains("ran out of fuel"),
        "{msg}"
    );
}
