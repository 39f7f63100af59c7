//! `${name}` substitution: typed vs interpolated, var-to-var, unknown names, cycles.
mod common;

use common::{at, err, ok, Dir};
use serde_json::json;

fn spec_with(vars: &str, params: &str) -> String {
    format!("vars:\n{vars}stages:\n  s:\n    kind: load\n    params: {params}\n")
}

#[test]
fn whole_string_keeps_the_type_and_partial_strings_interpolate() {
    let d = Dir::new();
    let p = d.write(
        "v.yaml",
        &spec_with(
            "  seed: 3\n  z: 1.645\n  on: true\n  list: [1, 2]\n  data: data\n",
            "{ seed: \"${seed}\", z: \"${z}\", on: \"${on}\", list: \"${list}\", path: \"${data}/ml-${seed}\", \
             tag: \"z=${z};on=${on}\", esc: \"$${data}\", spaced: \"${ seed }\" }",
        ),
    );
    let s = ok(&p, &[]);
    let params = serde_json::Value::Object(s.instances[0].stages[0].params.clone());
    assert_eq!(
        params,
        json!({"seed": 3, "z": 1.645, "on": true, "list": [1, 2], "path": "data/ml-3",
               "tag": "z=1.645;on=true", "esc": "${data}", "spaced": 3})
    );
}

#[test]
fn vars_may_reference_vars() {
    let d = Dir::new();
    let p = d.write(
        "v.yaml",
        &spec_with(
            "  root: /srv\n  data: \"${root}/data\"\n  ml: \"${data}/ml-100k\"\n",
            "{ path: \"${ml}\" }",
        ),
    );
    let s = ok(&p, &[]);
    assert_eq!(
        s.instances[0].stages[0].params["path"],
        json!("/srv/data/ml-100k")
    );
}

#[test]
fn inputs_are_substituted_too() {
    let d = Dir::new();
    let p = d.write(
        "v.yaml",
        "vars: { src: a }\nstages:\n  a: { kind: load }\n  b: { kind: sample, inputs: { dataset: \"${src}\" } }\n",
    );
    let s = ok(&p, &[]);
    assert_eq!(s.instances[0].stages[1].inputs["dataset"], "a");
}

#[test]
fn unknown_variable_suggests_the_closest_name() {
    let d = Dir::new();
    let p = d.write(
        "v.yaml",
        &spec_with("  seed: 0\n  data: data\n", "{ n: 1, path: \"${dat}/x\" }"),
    );
    let e = err(&p, &[]);
    assert_eq!(at(&e), (7, 27, "stages.s.params.path"));
    assert_eq!(e.suggestion.as_deref(), Some("data"));
    assert!(
        e.to_string()
            .ends_with("unknown variable `dat` (did you mean `data`?)"),
        "{e}"
    );
}

#[test]
fn self_reference_and_cycles_are_errors() {
    let d = Dir::new();
    let p = d.write("v.yaml", &spec_with("  a: \"x${a}\"\n", "{}"));
    let e = err(&p, &[]);
    assert_eq!(at(&e), (2, 6, "vars.a"));
    assert!(e.message.contains("refers to itself"), "{e}");

    let p = d.write(
        "w.yaml",
        &spec_with("  a: \"${b}\"\n  b: \"${c}\"\n  c: \"${a}\"\n", "{}"),
    );
    let e = err(&p, &[]);
    assert_eq!(at(&e), (4, 6, "vars.c"));
    assert!(e.message.contains("a -> b -> c -> a"), "{e}");
}

#[test]
fn maps_cannot_be_interpolated_and_braces_must_close() {
    let d = Dir::new();
    let p = d.write("v.yaml", &spec_with("  m: { a: 1 }\n", "{ x: \"p-${m}\" }"));
    let e = err(&p, &[]);
    assert_eq!(at(&e), (6, 18, "stages.s.params.x"));
    assert!(e.message.contains("holds a map"), "{e}");

    let p = d.write("w.yaml", &spec_with("  m: 1\n", "{ x: \"p-${m\" }"));
    let e = err(&p, &[]);
    assert!(e.message.contains("unterminated"), "{e}");
}

#[test]
fn whole_var_replacement_may_insert_a_map() {
    let d = Dir::new();
    let p = d.write(
        "v.yaml",
        &spec_with("  opts: { lr: 0.001, epochs: 3 }\n", "\"${opts}\""),
    );
    let s = ok(&p, &[]);
    assert_eq!(
        serde_json::Value::Object(s.instances[0].stages[0].params.clone()),
        json!({"lr": 0.001, "epochs": 3})
    );
}

#[test]
fn vars_are_not_substituted_in_name_or_description() {
    let d = Dir::new();
    let p = d.write(
        "v.yaml",
        "name: \"${x}\"\nvars: { x: 1 }\nstages:\n  s: { kind: load }\n",
    );
    assert_eq!(ok(&p, &[]).name, "${x}");
}
