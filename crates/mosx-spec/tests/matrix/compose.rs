//! Matrix stages with `extends` (overriding a template, refining one expansion), `--set`,
//! sweeps, claims and reports.

use serde_json::json;

use crate::common::{at, err, ok, Dir};
use crate::{names, stage, BASE, MAPS};

#[test]
fn a_child_overrides_a_matrix_stage_by_its_template_key() {
    let d = Dir::new();
    d.write("base.yaml", BASE);
    let child = d.write(
        "child.yaml",
        "\
extends: base.yaml
stages:
  ml_eval_${method}_${setting}:
    matrix: { method: [mos, fairllm, ifairlrs] }
    params: { max_points: 10 }
",
    );
    let spec = ok(&child, &[]);
    assert_eq!(
        names(&spec),
        [
            "ml_split",
            "ml_eval_mos_implicit",
            "ml_eval_mos_explicit",
            "ml_eval_fairllm_implicit",
            "ml_eval_fairllm_explicit",
            "ml_eval_ifairlrs_implicit",
            "ml_eval_ifairlrs_explicit",
        ],
        "the child's `method` axis replaces the parent's; the `setting` axis is kept"
    );
    let s = stage(&spec, "ml_eval_fairllm_explicit");
    assert_eq!(
        serde_json::Value::Object(s.params.clone()),
        json!({"model": "m", "setting": "explicit", "max_points": 10})
    );
    // A different kind replaces the template whole; null deletes it with all its expansions.
    let child = d.write(
        "kind.yaml",
        "extends: base.yaml\nstages:\n  ml_eval_${method}_${setting}:\n    matrix: { method: [a], setting: [b] }\n    kind: metrics\n",
    );
    let spec = ok(&child, &[]);
    assert_eq!(names(&spec), ["ml_split", "ml_eval_a_b"]);
    assert!(stage(&spec, "ml_eval_a_b").params.is_empty());
    let child = d.write(
        "null.yaml",
        "extends: base.yaml\nstages:\n  ml_eval_${method}_${setting}: null\n",
    );
    assert_eq!(names(&ok(&child, &[])), ["ml_split"]);
}

#[test]
fn a_child_refines_one_expansion_by_its_expanded_name() {
    let d = Dir::new();
    d.write("base.yaml", BASE);
    let text = "\
extends: base.yaml
stages:
  ml_eval_up5_explicit:
    params: { max_points: 5, bogus: 1 }
";
    let child = d.write("child.yaml", text);
    let spec = ok(&child, &[]);
    assert_eq!(names(&spec).len(), 5, "no stage added");
    assert_eq!(
        names(&spec)[4],
        "ml_eval_up5_explicit",
        "the expansion keeps its place"
    );
    assert_eq!(
        serde_json::Value::Object(stage(&spec, "ml_eval_up5_explicit").params.clone()),
        json!({"model": "m", "setting": "explicit", "max_points": 5, "bogus": 1})
    );
    assert!(!stage(&spec, "ml_eval_up5_implicit")
        .params
        .contains_key("max_points"));
    // A refined field is located in the child, where it was written.
    let (file, line, _) = spec.location("stages.ml_eval_up5_explicit.params.bogus");
    assert_eq!((file, line), (child.clone(), 4));
    let (file, line, _) = spec.location("stages.ml_eval_up5_explicit.params.setting");
    assert_eq!((file, line), (d.path("base.yaml"), 8));

    // With a `kind`, the same name is a second declaration.
    let child = d.write(
        "kind.yaml",
        "extends: base.yaml\nstages:\n  ml_eval_up5_explicit: { kind: evaluate }\n",
    );
    let e = err(&child, &[]);
    assert_eq!((e.file.clone(), e.line, e.col), (child.clone(), 3, 3));
    assert!(e.message.contains("leave out `kind`"), "{e}");
    // A refinement naming no expansion: the closest expanded name is suggested.
    let child = d.write(
        "typo.yaml",
        "extends: base.yaml\nstages:\n  ml_eval_up5_explict: { params: { x: 1 } }\n",
    );
    let e = err(&child, &[]);
    assert_eq!(at(&e), (3, 3, "stages.ml_eval_up5_explict"));
    assert_eq!(e.suggestion.as_deref(), Some("ml_eval_up5_explicit"));
}

#[test]
fn set_addresses_expanded_stages_and_matrix_stages() {
    let d = Dir::new();
    let p = d.write("s.yaml", BASE);
    // By expanded name: that one stage.
    let spec = ok(&p, &["stages.ml_eval_up5_explicit.params.max_points=7"]);
    assert_eq!(
        stage(&spec, "ml_eval_up5_explicit").params["max_points"],
        json!(7)
    );
    assert!(!stage(&spec, "ml_eval_mos_explicit")
        .params
        .contains_key("max_points"));
    // A typo of an expanded name names the closest one, at the argument.
    let e = err(
        &p,
        &[
            "vars.model=x",
            "stages.ml_eval_up5_explict.params.max_points=7",
        ],
    );
    assert_eq!(
        (e.file.display().to_string(), e.line, e.col),
        (mosx_spec::SET_FILE.to_string(), 1, 2)
    );
    assert_eq!(e.suggestion.as_deref(), Some("ml_eval_up5_explicit"));
    // By template name, before the expansion: every expansion, and the matrix itself.
    let spec = ok(
        &p,
        &[
            "stages.ml_eval_${method}_${setting}.matrix.method=[mos]",
            "stages.ml_eval_${method}_${setting}.params.max_points=3",
            "stages.ml_eval_mos_implicit.params.max_points=4",
        ],
    );
    assert_eq!(
        names(&spec),
        ["ml_split", "ml_eval_mos_implicit", "ml_eval_mos_explicit"]
    );
    assert_eq!(
        stage(&spec, "ml_eval_mos_implicit").params["max_points"],
        json!(4)
    );
    assert_eq!(
        stage(&spec, "ml_eval_mos_explicit").params["max_points"],
        json!(3)
    );
    // A map value's field in the template's name is one path segment.
    let p = d.write("m.yaml", MAPS);
    let spec = ok(&p, &["stages.ml_train_${method.id}.params.lr=0.5"]);
    assert_eq!(stage(&spec, "ml_train_mos").params["lr"], json!(0.5));
    // Deleting one expansion.
    let p = d.write("s.yaml", BASE);
    let spec = ok(&p, &["stages.ml_eval_up5_explicit=null"]);
    assert_eq!(names(&spec).len(), 4);
}

#[test]
fn a_sweep_applies_per_instance_on_top_of_the_matrix() {
    let d = Dir::new();
    let text = format!(
        "{BASE}sweep:\n  seeds: [0, 1]\n  grid: {{ stages.ml_eval_mos_implicit.params.max_points: [10, 20] }}\n"
    )
    .replace("setting: \"${setting}\" }", "setting: \"${setting}\", seed: \"${seed}\" }")
    .replace("vars: { model: m }", "vars: { model: m, seed: 0 }");
    let p = d.write("s.yaml", &text);
    let spec = ok(&p, &[]);
    assert_eq!(spec.instances.len(), 4);
    for (i, inst) in spec.instances.iter().enumerate() {
        assert_eq!(inst.stages.len(), 5, "every instance has every expansion");
        let seed = json!(i % 2);
        for s in &inst.stages[1..] {
            assert_eq!(s.params["seed"], seed, "{}", s.name);
        }
        let mos = inst
            .stages
            .iter()
            .find(|s| s.name == "ml_eval_mos_implicit")
            .unwrap();
        assert_eq!(mos.params["max_points"], json!(if i < 2 { 10 } else { 20 }));
    }
    // A grid path must name an expanded stage: the template's name is no stage.
    let text = format!(
        "{BASE}sweep:\n  grid:\n    stages.ml_eval_${{method}}_${{setting}}.params.x: [1]\n"
    );
    let p = d.write("t.yaml", &text);
    let e = err(&p, &[]);
    assert!(e.message.contains("does not exist"), "{e}");
}

#[test]
fn claims_and_reports_name_expanded_stages() {
    let d = Dir::new();
    let text = format!(
        "{BASE}\
claims:
  - name: mos fairer
    test: \"ml_eval_mos_implicit.F < ml_eval_up5_implicit.F\"
report:
  - figure: zscore_hist
    stages: [ml_eval_mos_explicit]
    output: results/f
"
    );
    let p = d.write("s.yaml", &text);
    let spec = ok(&p, &[]);
    assert_eq!(spec.claims[0].left.stage, "ml_eval_mos_implicit");
    let bad = text.replace(
        "stages: [ml_eval_mos_explicit]",
        "stages: [ml_eval_mos_explict]",
    );
    let p = d.write("b.yaml", &bad);
    let e = err(&p, &[]);
    assert_eq!(e.suggestion.as_deref(), Some("ml_eval_mos_explicit"));
}
