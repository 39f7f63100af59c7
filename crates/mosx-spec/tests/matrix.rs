//! `matrix:` stages: expansion of 1-, 2- and 3-axis matrices, map values, `exclude`, located
//! errors (named with the template and the combination), `extends`, `--set`, sweeps, claims,
//! reports and determinism.
mod common;

use common::{at, err, ok, Dir};
use mosx_spec::{Spec, StageDecl};
use serde_json::json;

/// 1-based (line, col) of the first occurrence of `needle` in `text`.
fn pos(text: &str, needle: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        if let Some(c) = line.find(needle) {
            return (i + 1, c + 1);
        }
    }
    panic!("`{needle}` not in the text")
}

fn names(spec: &Spec) -> Vec<&str> {
    spec.instances[0]
        .stages
        .iter()
        .map(|s| s.name.as_str())
        .collect()
}

fn stage<'a>(spec: &'a Spec, name: &str) -> &'a StageDecl {
    spec.instances[0]
        .stages
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no stage `{name}`"))
}

const TABLE: &str = "\
vars: { model: m, seed: 0 }
stages:
  ml_split:
    kind: split
  ml_train_${method}:
    matrix: { method: [ifairlrs, up5, fairllm, mos] }
    kind: train
    inputs: { split: ml_split }
    params: { model: \"${model}\", method: \"${method}\", seed: \"${seed}\" }
  ml_eval_${method}_${setting}:
    matrix: { method: [ifairlrs, up5, fairllm, mos], setting: [implicit, explicit, counterfactual] }
    kind: evaluate
    inputs:
      split: ml_split
      adapter: ml_train_${method}
    params: { model: \"${model}\", setting: \"${setting}\" }
  ml_report:
    kind: metrics
    inputs: { predictions: ml_eval_mos_implicit }
";

#[test]
fn a_one_axis_matrix_expands_in_place_with_values_and_vars_substituted() {
    let d = Dir::new();
    let p = d.write(
        "s.yaml",
        "\
vars: { model: m }
stages:
  first: { kind: load }
  train_${method}:
    matrix: { method: [mos, up5] }
    kind: train
    params: { model: \"${model}\", method: \"${method}\", tag: \"${method}-${model}\", lit: \"$${method}\" }
  last: { kind: load }
",
    );
    let spec = ok(&p, &[]);
    assert_eq!(names(&spec), ["first", "train_mos", "train_up5", "last"]);
    let t = stage(&spec, "train_up5");
    assert_eq!(t.kind, "train");
    assert_eq!(
        serde_json::Value::Object(t.params.clone()),
        json!({"model": "m", "method": "up5", "tag": "up5-m", "lit": "${method}"}),
        "axis values and vars both substituted; `$${{` stays a literal `${{`"
    );
}

#[test]
fn two_axes_expand_in_written_order_with_the_last_axis_fastest() {
    let d = Dir::new();
    let p = d.write("t.yaml", TABLE);
    let spec = ok(&p, &[]);
    let n = names(&spec);
    assert_eq!(n.len(), 1 + 4 + 12 + 1);
    assert_eq!(
        &n[..9],
        [
            "ml_split",
            "ml_train_ifairlrs",
            "ml_train_up5",
            "ml_train_fairllm",
            "ml_train_mos",
            "ml_eval_ifairlrs_implicit",
            "ml_eval_ifairlrs_explicit",
            "ml_eval_ifairlrs_counterfactual",
            "ml_eval_up5_implicit",
        ]
    );
    assert_eq!(n[16], "ml_eval_mos_counterfactual");
    assert_eq!(n[17], "ml_report");
    let e = stage(&spec, "ml_eval_fairllm_explicit");
    assert_eq!(e.inputs["adapter"], "ml_train_fairllm");
    assert_eq!(e.inputs["split"], "ml_split");
    assert_eq!(e.params["setting"], json!("explicit"));
    assert_eq!(stage(&spec, "ml_train_mos").params["seed"], json!(0));
}

#[test]
fn three_axes_expand_to_their_product_with_typed_values() {
    let d = Dir::new();
    let p = d.write(
        "s.yaml",
        "\
stages:
  ml_split: { kind: split }
  bx_split: { kind: split }
  ${data}_eval_${method}_${k}:
    matrix:
      data: [ml, bx]
      method: [mos, up5, fairllm]
      k: [5, 10]
    kind: evaluate
    inputs: { split: \"${data}_split\" }
    params: { top_k: \"${k}\", label: \"${data}/${method}@${k}\" }
",
    );
    let spec = ok(&p, &[]);
    let n = names(&spec);
    assert_eq!(n.len(), 2 + 12);
    assert_eq!(
        &n[2..6],
        [
            "ml_eval_mos_5",
            "ml_eval_mos_10",
            "ml_eval_up5_5",
            "ml_eval_up5_10"
        ]
    );
    assert_eq!(n[13], "bx_eval_fairllm_10");
    let s = stage(&spec, "bx_eval_up5_10");
    assert_eq!(s.inputs["split"], "bx_split");
    assert_eq!(
        s.params["top_k"],
        json!(10),
        "a whole-string reference keeps the integer"
    );
    assert_eq!(s.params["label"], json!("bx/up5@10"));
}

const MAPS: &str = "\
stages:
  ml_split: { kind: split }
  ml_train_${method.id}:
    matrix:
      method:
        - { id: mos_rec, name: mos, objective: rec }
        - { id: mos, name: mos, objective: rec+fair }
        - { id: full_fair, name: full, objective: rec+fair, extra: { lr: 0.001 } }
    kind: train
    inputs: { split: ml_split }
    params: { method: \"${method.name}\", objective: \"${method.objective}\", all: \"${method}\" }
";

#[test]
fn map_values_are_read_by_field_and_whole() {
    let d = Dir::new();
    let p = d.write("s.yaml", MAPS);
    let spec = ok(&p, &[]);
    assert_eq!(
        names(&spec),
        [
            "ml_split",
            "ml_train_mos_rec",
            "ml_train_mos",
            "ml_train_full_fair"
        ]
    );
    let s = stage(&spec, "ml_train_full_fair");
    assert_eq!(s.params["method"], json!("full"));
    assert_eq!(s.params["objective"], json!("rec+fair"));
    assert_eq!(
        s.params["all"],
        json!({"id": "full_fair", "name": "full", "objective": "rec+fair", "extra": {"lr": 0.001}}),
        "`${{method}}` of a map value is the whole map"
    );
}

#[test]
fn a_missing_field_of_a_map_value_is_located_at_the_template_with_its_combination() {
    let d = Dir::new();
    let text = MAPS.replace("${method.objective}", "${method.objectve}");
    let p = d.write("s.yaml", &text);
    let e = err(&p, &[]);
    assert_eq!((e.line, e.col), pos(&text, "\"${method.objectve}\""), "{e}");
    assert_eq!(
        e.field,
        "stages.ml_train_${method.id} (method={id: mos_rec, name: mos, objective: rec}).params.objective"
    );
    assert!(e.message.contains("has no field `objectve`"), "{e}");
    assert_eq!(e.suggestion.as_deref(), Some("objective"));
}

#[test]
fn an_unknown_parameter_of_an_expanded_stage_is_reported_at_the_template_naming_the_combination() {
    let d = Dir::new();
    let text = TABLE.replace("setting: \"${setting}\"", "settng: \"${setting}\"");
    let p = d.write("table4.yaml", &text);
    let spec = ok(&p, &[]);
    // What the planner does when a stage kind rejects a parameter.
    let e = spec.error_at(
        "stages.ml_eval_up5_explicit.params.settng",
        "unknown parameter `settng`",
        Some("setting".into()),
    );
    let (line, col) = pos(&text, "\"${setting}\"");
    assert_eq!(
        e.to_string(),
        format!(
            "{}:{line}:{col}: stages.ml_eval_${{method}}_${{setting}} (method=up5, setting=explicit)\
             .params.settng: unknown parameter `settng` (did you mean `setting`?)",
            p.display()
        )
    );
    let (_, l, c) = spec.location("stages.ml_eval_mos_counterfactual.params.settng");
    assert_eq!(
        (l, c),
        (line, col),
        "every expansion points at the template"
    );
}

#[test]
fn validation_errors_of_an_expanded_stage_are_at_the_template() {
    let d = Dir::new();
    // An unknown stage field: reported for the first combination, at the template's key.
    let text = TABLE.replace(
        "    params: { model: \"${model}\", setting",
        "    parms: { model: \"${model}\", setting",
    );
    let p = d.write("a.yaml", &text);
    let e = err(&p, &[]);
    assert_eq!(
        at(&e),
        (
            pos(&text, "parms").0,
            5,
            "stages.ml_eval_${method}_${setting} (method=ifairlrs, setting=implicit).parms"
        )
    );
    assert_eq!(e.suggestion.as_deref(), Some("params"));
    // An input naming an expansion that does not exist: at the template's input value.
    let text = TABLE.replace(
        "fairllm, mos] }\n    kind: train",
        "mos] }\n    kind: train",
    );
    let p = d.write("b.yaml", &text);
    let e = err(&p, &[]);
    assert_eq!(
        at(&e),
        (
            pos(&text, "adapter: ml_train_${method}").0,
            pos(&text, "adapter: ml_train_${method}").1 + "adapter: ".len(),
            "stages.ml_eval_${method}_${setting} (method=fairllm, setting=implicit).inputs.adapter"
        ),
        "{e}"
    );
    assert!(
        e.message.contains("unknown stage `ml_train_fairllm`"),
        "{e}"
    );
    // An unknown variable in the template: at its string, naming the combination.
    let text = TABLE.replace("\"${model}\", setting", "\"${modl}\", setting");
    let p = d.write("c.yaml", &text);
    let e = err(&p, &[]);
    assert_eq!(e.line, pos(&text, "${modl}").0);
    assert_eq!(
        e.field,
        "stages.ml_eval_${method}_${setting} (method=ifairlrs, setting=implicit).params.model"
    );
    assert_eq!(e.suggestion.as_deref(), Some("model"));
}

#[test]
fn a_name_that_does_not_use_every_axis_or_uses_a_variable_is_an_error_at_the_key() {
    let d = Dir::new();
    let text = TABLE.replace("ml_eval_${method}_${setting}:", "ml_eval_${method}:");
    let p = d.write("a.yaml", &text);
    let e = err(&p, &[]);
    assert_eq!(
        at(&e),
        (pos(&text, "ml_eval_").0, 3, "stages.ml_eval_${method}")
    );
    assert!(e.message.contains("does not use the axis `setting`"), "{e}");

    let text = TABLE.replace("ml_train_${method}:", "ml_train_${method}_${model}:");
    let p = d.write("b.yaml", &text);
    let e = err(&p, &[]);
    assert_eq!(e.line, pos(&text, "_${model}:").0);
    assert!(e.message.contains("`${model}` in a stage name"), "{e}");

    let p = d.write("c.yaml", "stages:\n  x_${m}: { kind: load }\n");
    let e = err(&p, &[]);
    assert_eq!(at(&e), (2, 3, "stages.x_${m}"));
    assert!(e.message.contains("has no `matrix:`"), "{e}");
    let p = d.write(
        "typo.yaml",
        "stages:\n  x_${m}:\n    matrx: { m: [a] }\n    kind: load\n",
    );
    let e = err(&p, &[]);
    assert_eq!(at(&e), (3, 5, "stages.x_${m}.matrx"));
    assert_eq!(e.suggestion.as_deref(), Some("matrix"));

    let p = d.write(
        "d.yaml",
        "stages:\n  x_${m}:\n    matrix: { m: [a.b] }\n    kind: load\n",
    );
    let e = err(&p, &[]);
    assert_eq!(at(&e), (2, 3, "stages.x_${m} (m=a.b)"));
    assert!(e.message.contains("expands to `x_a.b`"), "{e}");
}

#[test]
fn an_expanded_name_that_clashes_with_another_stage_is_a_located_error() {
    let d = Dir::new();
    // With a plain stage declared after the template: at the plain stage.
    let text = format!("{TABLE}  ml_train_up5: {{ kind: train }}\n");
    let p = d.write("a.yaml", &text);
    let e = err(&p, &[]);
    assert_eq!(
        at(&e),
        (pos(&text, "ml_train_up5:").0, 3, "stages.ml_train_up5")
    );
    assert!(
        e.message
            .contains("also an expansion of the matrix stage `ml_train_${method} (method=up5)`"),
        "{e}"
    );
    // Two templates expanding to one name: at the later template.
    let text = TABLE.replace(
        "  ml_report:",
        "  ml_${x}_mos:\n    matrix: { x: [train, eval] }\n    kind: train\n  ml_report:",
    );
    let p = d.write("b.yaml", &text);
    let e = err(&p, &[]);
    assert_eq!(
        at(&e),
        (
            pos(&text, "ml_${x}_mos:").0,
            3,
            "stages.ml_${x}_mos (x=train)"
        )
    );
    assert!(
        e.message
            .contains("expands to `ml_train_mos`, the name of a different expansion of `ml_train_${method} (method=mos)` too"),
        "{e}"
    );
    // Two map values with one id, within one template.
    let text = MAPS.replace("id: mos, name", "id: mos_rec, name");
    let p = d.write("c.yaml", &text);
    let e = err(&p, &[]);
    assert_eq!(e.line, pos(&text, "ml_train_${method.id}:").0);
    assert!(e.message.contains("expands to `ml_train_mos_rec`"), "{e}");
}

#[test]
fn two_templates_expanding_to_one_equal_stage_declare_it_once() {
    // As equal stages of two `extends` parents merge (paper.yaml extends tables whose
    // templates all expand to `ml_train_mos`): kept once, at the first declaration.
    let d = Dir::new();
    let text = TABLE.replace(
        "  ml_report:",
        "  ml_${x}_mos:\n    matrix: { x: [train] }\n    kind: train\n    inputs: { split: ml_split }\n    params: { model: \"${model}\", method: mos, seed: \"${seed}\" }\n  ml_report:",
    );
    let p = d.write("a.yaml", &text);
    let spec = mosx_spec::load(&p, &[]).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = spec.instances[0]
        .stages
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names.iter().filter(|n| **n == "ml_train_mos").count(), 1);
    let first = names.iter().position(|n| *n == "ml_train_mos").unwrap();
    assert_eq!(
        names[first - 1],
        "ml_train_fairllm",
        "kept in the first template's place"
    );
}

#[test]
fn bad_matrices_and_axis_values_are_errors_at_the_value() {
    let d = Dir::new();
    let cases: &[(&str, &str, &str, &str)] = &[
        // (matrix, needle locating the error, field, message part)
        (
            "[a, b]",
            "[a, b]",
            "stages.x_${m}.matrix",
            "expected a map of axis",
        ),
        ("{}", "matrix", "stages.x_${m}.matrix", "at least one axis"),
        (
            "{ m: [] }",
            "[]",
            "stages.x_${m}.matrix.m",
            "non-empty list",
        ),
        (
            "{ m: mos }",
            "mos",
            "stages.x_${m}.matrix.m",
            "non-empty list of values, found a string `mos`",
        ),
        (
            "{ m: [a, null] }",
            "null",
            "stages.x_${m}.matrix.m.1",
            "found null",
        ),
        (
            "{ m: [a, [b, c]] }",
            "[b, c]",
            "stages.x_${m}.matrix.m.1",
            "found a list",
        ),
        (
            "{ m: [a, \"${v}\"] }",
            "\"${v}\"",
            "stages.x_${m}.matrix.m.1",
            "matrix values are literal",
        ),
        (
            "{ m: [{ id: \"${v}\" }] }",
            "\"${v}\"",
            "stages.x_${m}.matrix.m.0.id",
            "matrix values are literal",
        ),
        (
            "{ m: [a, b, a] }",
            "a] }",
            "stages.x_${m}.matrix.m.2",
            "already value 0",
        ),
        (
            "{ m: [1, 2], v: [3] }",
            "v:",
            "stages.x_${m}.matrix.v",
            "also a variable (`vars.v`)",
        ),
    ];
    for (matrix, needle, field, message) in cases {
        let text = format!(
            "vars: {{ v: 1 }}\nstages:\n  x_${{m}}:\n    matrix: {matrix}\n    kind: load\n"
        );
        let p = d.write("s.yaml", &text);
        let e = err(&p, &[]);
        let line4 = text.lines().nth(3).unwrap();
        let (line, col) = (4, line4.find(needle).unwrap() + 1);
        assert_eq!(
            (e.line, e.col, e.field.as_str()),
            (line, col, *field),
            "{matrix}: {e}"
        );
        assert!(e.message.contains(message), "{matrix}: {e}");
    }
    let p = d.write(
        "seed.yaml",
        "sweep: { seeds: [0, 1] }\nstages:\n  x_${seed}:\n    matrix: { seed: [1, 2] }\n    kind: load\n",
    );
    let e = err(&p, &[]);
    assert!(e.message.contains("also a variable (`vars.seed`)"), "{e}");
    assert_eq!(e.line, 4);
}

#[test]
fn exclude_removes_the_combinations_it_matches() {
    let d = Dir::new();
    let text = "\
stages:
  e_${method.id}_${setting}:
    matrix:
      method: [{ id: mos, fair: true }, { id: up5, fair: true }, { id: lora, fair: false }]
      setting: [implicit, explicit, counterfactual]
      exclude:
        - { method: { fair: false }, setting: counterfactual }
        - { method: { id: up5 }, setting: explicit }
        - { setting: implicit, method: { id: mos, fair: true } }
    kind: evaluate
";
    let p = d.write("s.yaml", text);
    let spec = ok(&p, &[]);
    assert_eq!(
        names(&spec),
        [
            "e_mos_explicit",
            "e_mos_counterfactual",
            "e_up5_implicit",
            "e_up5_counterfactual",
            "e_lora_implicit",
            "e_lora_explicit",
        ]
    );
    // An entry that matches nothing is a typo: an error at the entry.
    let bad = text.replace("setting: explicit }", "setting: explict }");
    let p = d.write("b.yaml", &bad);
    let e = err(&p, &[]);
    assert_eq!(e.line, pos(&bad, "explict").0);
    assert_eq!(e.field, "stages.e_${method.id}_${setting}.matrix.exclude.1");
    assert!(e.message.contains("matches no combination"), "{e}");
    // An entry naming no axis.
    let bad = text.replace("{ setting: implicit,", "{ settings: implicit,");
    let p = d.write("c.yaml", &bad);
    let e = err(&p, &[]);
    assert_eq!(
        at(&e),
        (
            pos(&bad, "settings").0,
            pos(&bad, "settings").1,
            "stages.e_${method.id}_${setting}.matrix.exclude.2.settings"
        )
    );
    assert_eq!(e.suggestion.as_deref(), Some("setting"));
    // Excluding everything.
    let p = d.write(
        "d.yaml",
        "stages:\n  x_${m}:\n    matrix: { m: [a], exclude: [{ m: a }] }\n    kind: load\n",
    );
    let e = err(&p, &[]);
    assert!(e.message.contains("removes every combination"), "{e}");
}

const BASE: &str = "\
vars: { model: m }
stages:
  ml_split: { kind: split }
  ml_eval_${method}_${setting}:
    matrix: { method: [mos, up5], setting: [implicit, explicit] }
    kind: evaluate
    inputs: { split: ml_split }
    params: { model: \"${model}\", setting: \"${setting}\" }
";

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

#[test]
fn expansion_is_deterministic_and_hashes_like_the_written_out_spec() {
    let d = Dir::new();
    let p = d.write("s.yaml", BASE);
    let a = ok(&p, &[]);
    let b = ok(&p, &[]);
    assert_eq!(a.instances, b.instances);
    assert_eq!(a.hash, b.hash);
    let mut written = String::from("vars: { model: m }\nstages:\n  ml_split: { kind: split }\n");
    for m in ["mos", "up5"] {
        for s in ["implicit", "explicit"] {
            written.push_str(&format!(
                "  ml_eval_{m}_{s}:\n    kind: evaluate\n    inputs: {{ split: ml_split }}\n    params: {{ model: \"${{model}}\", setting: {s} }}\n"
            ));
        }
    }
    let w = ok(&d.write("w.yaml", &written), &[]);
    assert_eq!(w.instances, a.instances);
    assert_eq!(w.hash, a.hash, "the hash covers the expanded document");
}
