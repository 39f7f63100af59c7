//! Corpus of bad specs, each asserting the exact `line:col` and field of the error.
mod common;

use std::path::{Path, PathBuf};

use common::{at, err, Dir};

/// Files under tests/bad_specs whose error is reported by the lead's plan compiler, not here:
/// they must load, and `Spec::error_at` of the field the compiler names (the `# expect` field,
/// unless given: an expanded matrix stage's name) must give their `# expect` line and field.
const PLAN_ERRORS: &[(&str, Option<&str>)] = &[
    (
        "matrix_unknown_param.yaml",
        Some("stages.ml_sample_100.params.windowz"),
    ),
    ("adapter_backbone.yaml", None),
    ("adapter_split.yaml", None),
    ("claim_train_metric.yaml", None),
    ("claim_unknown_group.yaml", None),
    ("claim_unknown_metric.yaml", None),
    ("comparison_unknown_metric.yaml", None),
    ("evaluate_points_zero.yaml", None),
    ("group_ratio_unknown_group.yaml", None),
    ("load_ages_inverted.yaml", None),
    ("measure_min_count_zero.yaml", None),
    ("metrics_k_without_rankings.yaml", None),
    ("ranking_without_candidates.yaml", None),
    ("resources_bad_mem.yaml", None),
    ("resources_cpus_zero.yaml", None),
    ("resources_max_mem_below_mem.yaml", None),
    ("resources_retries_word.yaml", None),
    ("resources_unknown_kind.yaml", None),
    ("template_missing.yaml", None),
    ("train_clip_negative.yaml", None),
    ("train_lambda_negative.yaml", None),
    ("train_lr_zero.yaml", None),
    ("train_points_zero.yaml", None),
    ("unknown_kind.yaml", None),
    ("unknown_method.yaml", None),
    ("unknown_param.yaml", None),
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/bad_specs")
}

/// Parses `# expect: <line>:<col> <field>` from the first line.
fn expectation(text: &str) -> (usize, usize, String) {
    let first = text.lines().next().unwrap();
    let rest = first
        .strip_prefix("# expect: ")
        .unwrap_or_else(|| panic!("bad first line {first:?}"));
    let (pos, field) = rest.split_once(' ').unwrap();
    let (l, c) = pos.split_once(':').unwrap();
    (
        l.parse().unwrap(),
        c.parse().unwrap(),
        field.trim().to_string(),
    )
}

#[test]
fn bad_specs_corpus_reports_the_expected_location() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "corpus too small: {files:?}");
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let (line, col, field) = expectation(&text);
        let name = path.file_name().unwrap().to_str().unwrap();
        let plan = PLAN_ERRORS.iter().find(|(n, _)| *n == name);
        match mosx_spec::load(path, &[]) {
            Err(e) => {
                assert!(plan.is_none(), "{name}: should load, got {e}");
                assert_eq!(
                    (e.line, e.col, e.field.as_str()),
                    (line, col, field.as_str()),
                    "{name}: {e}"
                );
                assert_eq!(e.file, *path, "{name}");
            }
            Ok(spec) => {
                let Some((_, plan_field)) = plan else {
                    panic!("{name}: expected an error")
                };
                let e = spec.error_at(plan_field.unwrap_or(&field), "reported by the plan", None);
                assert_eq!(
                    (e.line, e.col, e.field.as_str()),
                    (line, col, field.as_str()),
                    "{name}: {e}"
                );
            }
        }
    }
}

#[test]
fn malformed_yaml_reports_the_parser_position() {
    let d = Dir::new();
    let p = d.write(
        "m.yaml",
        "stages:\n  a:\n    kind: load\n    params: {path: a}}\n",
    );
    let e = err(&p, &[]);
    assert_eq!(at(&e), (4, 22, "stages.a"));
    assert!(e.message.starts_with("invalid YAML"), "{e}");
    let p = d.write(
        "dup.yaml",
        "stages:\n  a: { kind: load }\n  a: { kind: load }\n",
    );
    assert_eq!(at(&err(&p, &[])), (3, 3, "stages.a"));
    let p = d.write("list.yaml", "- a\n- b\n");
    assert_eq!(at(&err(&p, &[])), (1, 1, ""));
}

#[test]
fn unknown_keys_suggest_the_closest_valid_key() {
    let d = Dir::new();
    let p = d.write("t.yaml", "name: x\nstage:\n  a: { kind: load }\n");
    let e = err(&p, &[]);
    assert_eq!(at(&e), (2, 1, "stage"));
    assert_eq!(e.suggestion.as_deref(), Some("stages"));

    let p = d.write("s.yaml", "stages:\n  a:\n    kind: load\n    parms: {}\n");
    let e = err(&p, &[]);
    assert_eq!(at(&e), (4, 5, "stages.a.parms"));
    assert_eq!(e.suggestion.as_deref(), Some("params"));
    assert_eq!(
        e.to_string(),
        format!(
            "{}:4:5: stages.a.parms: unknown field (did you mean `params`?)",
            p.display()
        )
    );

    let p = d.write(
        "r.yaml",
        "stages:\n  a: { kind: load }\nreport:\n  - template: t.md.j2\n    ouput: r.md\n",
    );
    let e = err(&p, &[]);
    assert_eq!(at(&e), (5, 5, "report.0.ouput"));
    assert_eq!(e.suggestion.as_deref(), Some("output"));
}

#[test]
fn wrong_types_are_reported_at_the_value() {
    let d = Dir::new();
    let cases = [
        ("stages:\n  a:\n    kind: 3\n", (3, 11, "stages.a.kind")),
        (
            "stages:\n  a:\n    kind: load\n    inputs: [a]\n",
            (4, 13, "stages.a.inputs"),
        ),
        (
            "stages:\n  a:\n    kind: load\n    params: 5\n",
            (4, 13, "stages.a.params"),
        ),
        (
            "stages:\n  a: { kind: load }\n  b: { kind: x, inputs: { d: [a] } }\n",
            (3, 30, "stages.b.inputs.d"),
        ),
        ("stages:\n  a: load\n", (2, 6, "stages.a")),
        ("stages: [a]\n", (1, 9, "stages")),
        ("name: 3\nstages: {}\n", (1, 7, "name")),
        (
            "stages:\n  a: { kind: load, params: { x: .nan } }\n",
            (2, 33, "stages.a.params"),
        ),
    ];
    for (i, (text, want)) in cases.into_iter().enumerate() {
        let p = d.write(&format!("w{i}.yaml"), text);
        let e = err(&p, &[]);
        assert_eq!(at(&e), want, "case {i}: {e}");
    }
}

#[test]
fn missing_fields_are_reported_at_the_owner() {
    let d = Dir::new();
    let p = d.write("k.yaml", "stages:\n  a:\n    params: {}\n");
    assert_eq!(at(&err(&p, &[])), (2, 3, "stages.a.kind"));
    let p = d.write("s.yaml", "name: x\n");
    assert_eq!(at(&err(&p, &[])), (1, 1, "stages"));
    let p = d.write(
        "r.yaml",
        "stages:\n  a: { kind: load }\nreport:\n  - output: x\n",
    );
    let e = err(&p, &[]);
    assert_eq!(at(&e), (4, 5, "report.0"));
}

#[test]
fn missing_inputs_suggest_the_closest_stage() {
    let d = Dir::new();
    let p = d.write(
        "i.yaml",
        "stages:\n  ml_load: { kind: load }\n  ml_sample:\n    kind: sample\n    inputs:\n      dataset: ml_laod\n",
    );
    let e = err(&p, &[]);
    assert_eq!(at(&e), (6, 16, "stages.ml_sample.inputs.dataset"));
    assert_eq!(e.suggestion.as_deref(), Some("ml_load"));
}

#[test]
fn cycles_list_the_stages() {
    let d = Dir::new();
    let p = d.write(
        "c.yaml",
        "stages:\n  a: { kind: x, inputs: { i: c } }\n  b: { kind: x, inputs: { i: a } }\n  c: { kind: x, inputs: { i: b } }\n",
    );
    let e = err(&p, &[]);
    assert_eq!(at(&e), (3, 30, "stages.b.inputs.i"));
    assert_eq!(e.message, "cycle among stages: a -> c -> b -> a");
    let p = d.write("s.yaml", "stages:\n  a: { kind: x, inputs: { i: a } }\n");
    let e = err(&p, &[]);
    assert_eq!(at(&e), (2, 30, "stages.a.inputs.i"));
    assert_eq!(e.message, "cycle among stages: a -> a");
}

#[test]
fn report_entries_are_typed_and_check_stage_names() {
    let d = Dir::new();
    let p = d.write(
        "r.yaml",
        "\
vars: { out: results }
stages:
  ml_measure: { kind: measure }
  bx_measure: { kind: measure }
report:
  - template: table3.md.j2
    output: \"${out}/table3.md\"
  - figure: zscore_hist
    stages: [ml_measure, bx_measure]
    output: \"${out}/fig3\"
    options: { bins: 40 }
",
    );
    let s = common::ok(&p, &[]);
    assert_eq!(s.report.len(), 2);
    match &s.report[0] {
        mosx_spec::ReportDecl::Template {
            template,
            output,
            options,
        } => {
            assert_eq!(
                (template.as_str(), output.as_str()),
                ("table3.md.j2", "results/table3.md")
            );
            assert!(options.is_empty());
        }
        other => panic!("{other:?}"),
    }
    match &s.report[1] {
        mosx_spec::ReportDecl::Figure {
            figure,
            stages,
            output,
            options,
        } => {
            assert_eq!(figure, "zscore_hist");
            assert_eq!(stages, &["ml_measure", "bx_measure"]);
            assert_eq!(output, "results/fig3");
            assert_eq!(options["bins"], serde_json::json!(40));
        }
        other => panic!("{other:?}"),
    }

    let bad = d.write(
        "b.yaml",
        "stages:\n  ml_measure: { kind: measure }\nreport:\n  - figure: h\n    stages: [ml_mesure]\n    output: o\n",
    );
    let e = err(&bad, &[]);
    assert_eq!(at(&e), (5, 14, "report.0.stages.0"));
    assert_eq!(e.suggestion.as_deref(), Some("ml_measure"));

    let both = d.write(
        "c.yaml",
        "stages:\n  a: { kind: x }\nreport:\n  - template: t\n    figure: f\n    output: o\n",
    );
    assert_eq!(at(&err(&both, &[])), (5, 5, "report.0.figure"));
    let wrong = d.write(
        "w.yaml",
        "stages:\n  a: { kind: x }\nreport:\n  - template: t\n    output: o\n    stages: [a]\n",
    );
    assert_eq!(at(&err(&wrong, &[])), (6, 5, "report.0.stages"));
}

#[test]
fn display_has_the_documented_shape() {
    let e = mosx_spec::SpecError {
        file: "experiments/x.yaml".into(),
        line: 12,
        col: 5,
        field: "stages.ml_measure.params.z_sta".into(),
        message: "unknown field".into(),
        suggestion: Some("z_star".into()),
    };
    assert_eq!(e.to_string(), "experiments/x.yaml:12:5: stages.ml_measure.params.z_sta: unknown field (did you mean `z_star`?)");
}

#[test]
fn stage_names_are_letters_digits_underscores_and_dashes_and_shown_escaped() {
    let d = Dir::new();
    for (name, shown) in [
        ("\"ml_\\u202Eload\"", "ml_\\u{202e}load"),
        ("\"ml\\nFAILED x\"", "ml\\nFAILED x"),
        ("\"ml\\0\"", "ml\\0"),
        ("\"ml load\"", "ml load"),
        ("\"-ml\"", "-ml"),
    ] {
        let p = d.write("n.yaml", &format!("stages:\n  {name}: {{ kind: load }}\n"));
        let e = err(&p, &[]);
        assert_eq!((e.line, e.col), (2, 3), "{name}: {e}");
        let text = e.to_string();
        assert!(
            text.contains(&format!("invalid stage name `{shown}`")),
            "{name}: {text}"
        );
        assert!(
            !text.contains('\n') && !text.contains('\u{202E}') && !text.contains('\0'),
            "{text:?}"
        );
    }
    let p = d.write(
        "ok.yaml",
        "stages:\n  ml_load-2: { kind: load }\n  _x: { kind: load }\n",
    );
    assert!(mosx_spec::load(&p, &[]).is_ok());
}
