//! Located errors of matrix stages: at the template, naming the combination; bad names,
//! clashing expansions, bad matrices and axis values.

use crate::common::{at, err, ok, Dir};
use crate::{pos, MAPS, TABLE};

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

/// Loads a spec whose one stage `x_${m}` has `matrix: MATRIX` for each (matrix, needle
/// locating the error on the matrix's line, field, message part).
fn assert_matrix_errors(cases: &[(&str, &str, &str, &str)]) {
    let d = Dir::new();
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
}

#[test]
fn bad_matrices_and_axes_are_errors_at_the_matrix_or_the_axis() {
    assert_matrix_errors(&[
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
            "{ m: [1, 2], v: [3] }",
            "v:",
            "stages.x_${m}.matrix.v",
            "also a variable (`vars.v`)",
        ),
    ]);
}

#[test]
fn bad_axis_values_are_errors_at_the_value() {
    assert_matrix_errors(&[
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
    ]);
}

#[test]
fn an_axis_named_like_the_swept_seed_is_an_error_at_the_axis() {
    let d = Dir::new();
    let p = d.write(
        "seed.yaml",
        "sweep: { seeds: [0, 1] }\nstages:\n  x_${seed}:\n    matrix: { seed: [1, 2] }\n    kind: load\n",
    );
    let e = err(&p, &[]);
    assert!(e.message.contains("also a variable (`vars.seed`)"), "{e}");
    assert_eq!(e.line, 4);
}
