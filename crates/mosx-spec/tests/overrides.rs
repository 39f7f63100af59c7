//! `--set path=VALUE`: typed YAML values, creation of missing keys, deletion, locations, hash.
mod common;

use common::{at, err, ok, Dir};
use serde_json::json;

const SPEC: &str = "\
vars: { seed: 0 }
stages:
  ml_load:
    kind: load
    params: { path: data/ml-100k }
  ml_measure:
    kind: measure
    inputs: { samples: ml_load }
    params: { z_star: 1.96, seed: \"${seed}\" }
";

#[test]
fn values_are_typed_yaml() {
    let d = Dir::new();
    let p = d.write("s.yaml", SPEC);
    let s = ok(
        &p,
        &[
            "stages.ml_measure.params.z_star=1.645",
            "stages.ml_measure.params.windows=[1, 2]",
            "stages.ml_measure.params.label=abc",
            "stages.ml_measure.params.flag=true",
            "stages.ml_measure.params.quoted='7'",
            "vars.seed=42",
        ],
    );
    let m = &s.instances[0].stages[1].params;
    assert_eq!(m["z_star"], json!(1.645));
    assert_eq!(m["windows"], json!([1, 2]));
    assert_eq!(m["label"], json!("abc"));
    assert_eq!(m["flag"], json!(true));
    assert_eq!(m["quoted"], json!("7"));
    assert_eq!(m["seed"], json!(42));
}

#[test]
fn missing_keys_are_created_and_null_deletes() {
    let d = Dir::new();
    let p = d.write("s.yaml", SPEC);
    let s = ok(
        &p,
        &[
            "stages.extra.kind=metrics",
            "stages.extra.inputs.m=ml_measure",
            "stages.ml_load.params.path=null",
        ],
    );
    let st = &s.instances[0].stages;
    assert_eq!(st.len(), 3);
    assert_eq!(st[2].name, "extra");
    assert_eq!(st[2].inputs["m"], "ml_measure");
    assert!(st[0].params.is_empty());
}

#[test]
fn errors_from_set_values_are_located_on_the_command_line() {
    let d = Dir::new();
    let p = d.write("s.yaml", SPEC);
    let e = err(&p, &["vars.seed=1", "stages.ml_load.kinds=load"]);
    assert_eq!(e.file, std::path::PathBuf::from("--set"));
    assert_eq!(at(&e), (1, 2, "stages.ml_load.kinds"));
    assert_eq!(e.suggestion.as_deref(), Some("kind"));
    assert_eq!(
        e.to_string(),
        "--set:1:2: stages.ml_load.kinds: unknown field (did you mean `kind`?)"
    );

    let e = err(&p, &["stages.ml_load.kind=3"]);
    assert_eq!(at(&e), (1, 1, "stages.ml_load.kind"));

    let s = ok(&p, &["vars.seed=1", "stages.ml_measure.params.z_star=2.5"]);
    let e = s.error_at("stages.ml_measure.params.z_star", "bad z", None);
    assert_eq!((e.file.to_str().unwrap(), e.line, e.col), ("--set", 1, 2));
    let e = s.error_at("stages.ml_measure.kind", "x", None);
    assert_eq!((e.file.clone(), e.line, e.col), (p.clone(), 7, 11));
}

#[test]
fn malformed_set_arguments_are_errors() {
    let d = Dir::new();
    let p = d.write("s.yaml", SPEC);
    assert_eq!(at(&err(&p, &["novalue"])), (1, 1, ""));
    assert_eq!(at(&err(&p, &["a..b=1"])), (1, 1, "a..b"));
    let e = err(&p, &["vars.seed=1", "stages.ml_load.kind.x=1"]);
    assert_eq!(at(&e), (1, 2, "stages.ml_load.kind.x"));
    assert!(e.message.contains("a string"), "{e}");
    let e = err(&p, &["vars.seed=[1,"]);
    assert!(e.message.contains("invalid value"), "{e}");
}

#[test]
fn hash_covers_the_merged_document_after_set_and_ignores_key_order() {
    let d = Dir::new();
    let p = d.write("s.yaml", SPEC);
    let h0 = ok(&p, &[]).hash;
    assert_eq!(h0.len(), 64);
    assert_eq!(ok(&p, &[]).hash, h0, "deterministic");
    assert_ne!(ok(&p, &["vars.seed=1"]).hash, h0);
    assert_eq!(
        ok(&p, &["vars.seed=0"]).hash,
        h0,
        "setting the same value keeps the hash"
    );
    let reordered = d.write(
        "r.yaml",
        &SPEC.replace(
            "params: { z_star: 1.96, seed: \"${seed}\" }",
            "params: { seed: \"${seed}\", z_star: 1.96 }",
        ),
    );
    assert_eq!(ok(&reordered, &[]).hash, h0);
    // The same content reached through extends hashes the same (extends itself is not hashed).
    d.write("sub/base.yaml", SPEC);
    let child = d.write("sub/child.yaml", "extends: base.yaml\n");
    assert_eq!(ok(&child, &[]).hash, h0);
}

#[test]
fn unknown_variable_is_an_error_with_the_closest_name() {
    let d = Dir::new();
    let p = d.write("s.yaml", SPEC);
    let e = err(&p, &["vars.sed=3"]);
    assert_eq!(at(&e), (1, 1, "vars.sed"));
    assert_eq!(
        e.to_string(),
        "--set:1:1: vars.sed: unknown variable `sed` (did you mean `seed`?)"
    );
    let p2 = d.write("novars.yaml", "stages: { a: { kind: load } }\n");
    let e = err(&p2, &["vars.seed=3"]);
    assert!(e.message.contains("defines no `vars`"), "{e}");
}

#[test]
fn null_is_a_value_in_vars() {
    let d = Dir::new();
    let p = d.write(
        "s.yaml",
        "vars: { points: 10 }\nstages:\n  a:\n    kind: evaluate\n    params: { max_points: \"${points}\" }\n",
    );
    let s = ok(&p, &["vars.points=null"]);
    assert_eq!(s.instances[0].stages[0].params["max_points"], json!(null));
}

#[test]
fn unknown_stage_is_an_error_with_the_closest_name() {
    let d = Dir::new();
    let p = d.write("s.yaml", SPEC);
    let e = err(&p, &["stages.ml_mesure.params.z_star=2"]);
    assert_eq!(at(&e), (1, 1, "stages.ml_mesure.params.z_star"));
    assert_eq!(e.message, "unknown stage `ml_mesure`");
    assert_eq!(e.suggestion.as_deref(), Some("ml_measure"));
    // Deleting a stage that does not exist is the same typo.
    let e = err(&p, &["vars.seed=1", "stages.ml_lod=null"]);
    assert_eq!(at(&e), (1, 2, "stages.ml_lod"));
    assert_eq!(e.suggestion.as_deref(), Some("ml_load"));
    // A whole new stage (with its kind) may still be created.
    let s = ok(
        &p,
        &["stages.extra={kind: metrics, inputs: {m: ml_measure}}"],
    );
    assert_eq!(s.instances[0].stages.len(), 3);
}
