//! What a matrix expands to: 1-, 2- and 3-axis matrices, map values, `exclude`, equal
//! expansions of two templates, determinism and the hash.

use serde_json::json;

use crate::common::{at, err, ok, Dir};
use crate::{names, pos, stage, BASE, MAPS, TABLE};

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
