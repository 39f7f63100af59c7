//! extends: deep merge, null deletion, per-file locations, cycles and missing targets.
mod common;

use common::{at, err, ok, Dir};
use serde_json::json;

const BASE: &str = "\
name: base
vars:
  seed: 0
  data: data
stages:
  ml_load:
    kind: load
    params: { path: \"${data}/ml-100k\", encoding: utf-8 }
  ml_sample:
    kind: sample
    inputs: { dataset: ml_load }
    params: { seed: \"${seed}\", windows: 10000, sizes: [1, 2] }
  bx_load:
    kind: load
    params: { path: \"${data}/bx\" }
report:
  - template: base.md.j2
    output: results/base.md
";

#[test]
fn child_wins_maps_merge_sequences_replace_and_null_deletes() {
    let d = Dir::new();
    d.write("base.yaml", BASE);
    let child = d.write(
        "child.yaml",
        "\
extends: base.yaml
vars:
  seed: 7
stages:
  ml_sample:
    params: { windows: 500, sizes: [9] }
  bx_load: null
",
    );
    let spec = ok(&child, &[]);
    assert_eq!(spec.name, "base", "name inherited from the base");
    assert_eq!(spec.instances.len(), 1);
    let stages = &spec.instances[0].stages;
    let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["ml_load", "ml_sample"],
        "bx_load deleted, order kept"
    );
    let sample = &stages[1];
    assert_eq!(sample.kind, "sample", "kind kept from base");
    assert_eq!(sample.inputs["dataset"], "ml_load");
    assert_eq!(
        serde_json::Value::Object(sample.params.clone()),
        json!({"seed": 7, "windows": 500, "sizes": [9]})
    );
    assert_eq!(stages[0].params["path"], json!("data/ml-100k"));
    assert_eq!(spec.files(), &[child.clone(), d.path("base.yaml")]);
}

#[test]
fn chains_resolve_relative_to_the_including_file() {
    let d = Dir::new();
    d.write("conf/base.yaml", BASE);
    d.write(
        "conf/mid/mid.yaml",
        "extends: ../base.yaml\nvars: { data: /srv }\n",
    );
    let top = d.write(
        "exp/top.yaml",
        "extends: ./../conf/mid/mid.yaml\nname: top\n",
    );
    let spec = ok(&top, &[]);
    assert_eq!(spec.name, "top");
    assert_eq!(
        spec.instances[0].stages[0].params["path"],
        json!("/srv/ml-100k")
    );
    let files: Vec<String> = spec
        .files()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(files.len(), 3);
    assert!(files[1].ends_with("exp/../conf/mid/mid.yaml"), "{files:?}");
    assert!(
        files[2].ends_with("exp/../conf/mid/../base.yaml"),
        "{files:?}"
    );
}

#[test]
fn default_name_is_the_file_stem() {
    let d = Dir::new();
    let p = d.write("table3.yaml", "stages:\n  a: { kind: load }\n");
    assert_eq!(ok(&p, &[]).name, "table3");
}

#[test]
fn errors_point_into_the_file_that_last_defined_the_value() {
    let d = Dir::new();
    d.write(
        "base2.yaml",
        &BASE.replace(
            "    inputs: { dataset: ml_load }",
            "    input: { dataset: ml_load }",
        ),
    );
    let child = d.write("child.yaml", "extends: base2.yaml\nvars: { seed: 3 }\n");
    let e = err(&child, &[]);
    assert_eq!(e.file, d.path("base2.yaml"));
    assert_eq!(at(&e), (11, 5, "stages.ml_sample.input"));
    assert_eq!(e.suggestion.as_deref(), Some("inputs"));
}

#[test]
fn error_locations_follow_overrides_across_files() {
    let d = Dir::new();
    d.write("base.yaml", BASE);
    let child = d.write(
        "child.yaml",
        "extends: base.yaml\nstages:\n  ml_sample:\n    kind: 5\n",
    );
    let e = err(&child, &[]);
    assert_eq!(e.file, child);
    assert_eq!(at(&e), (4, 11, "stages.ml_sample.kind"));

    let child2 = d.write(
        "child2.yaml",
        "extends: base.yaml\nstages:\n  ml_load:\n    kind: load\n",
    );
    let spec = ok(&child2, &[]);
    // `kind` re-declared in the child, `params` only in the base.
    assert_eq!(
        spec.location("stages.ml_load.kind"),
        (child2.clone(), 4, 11)
    );
    assert_eq!(
        spec.location("stages.ml_load.params.path"),
        (d.path("base.yaml"), 8, 21)
    );
    assert_eq!(
        spec.location("stages.bx_load"),
        (d.path("base.yaml"), 13, 3)
    );
}

#[test]
fn extends_cycle_is_reported_at_the_closing_extends() {
    let d = Dir::new();
    let a = d.write("a.yaml", "extends: b.yaml\nstages:\n  x: { kind: load }\n");
    d.write("b.yaml", "name: b\nextends: a.yaml\n");
    let e = err(&a, &[]);
    assert_eq!(e.file, d.path("b.yaml"));
    assert_eq!(at(&e), (2, 10, "extends"));
    assert!(e.message.contains("extends cycle"), "{e}");
    assert!(
        e.message.contains("a.yaml -> ") && e.message.ends_with("a.yaml"),
        "{e}"
    );

    let s = d.write("self.yaml", "extends: self.yaml\n");
    let e = err(&s, &[]);
    assert_eq!(at(&e), (1, 10, "extends"));
}

#[test]
fn missing_extends_target_is_reported_at_the_extends_value() {
    let d = Dir::new();
    let a = d.write("a.yaml", "name: a\nextends: nothere.yaml\n");
    let e = err(&a, &[]);
    assert_eq!(e.file, a);
    assert_eq!(at(&e), (2, 10, "extends"));
    assert!(e.message.contains("nothere.yaml"), "{e}");
}

#[test]
fn missing_top_file_names_it() {
    let d = Dir::new();
    let p = d.path("absent.yaml");
    let e = err(&p, &[]);
    assert_eq!(e.file, p);
    assert!(e.to_string().contains("absent.yaml"), "{e}");
    assert!(e.message.contains("cannot read"), "{e}");
}

#[test]
fn extends_must_be_a_path_or_a_list_of_paths() {
    let d = Dir::new();
    let a = d.write("a.yaml", "extends: 3\n");
    let e = err(&a, &[]);
    assert_eq!(at(&e), (1, 10, "extends"));
    let b = d.write("b.yaml", "extends: [base.yaml, { x: 1 }]\n");
    let e = err(&b, &[]);
    assert_eq!(at(&e), (1, 22, "extends.1"));
    let c = d.write("c.yaml", "extends: [nothere.yaml]\n");
    let e = err(&c, &[]);
    assert_eq!(at(&e), (1, 11, "extends.0"));
    assert!(e.message.contains("nothere.yaml"), "{e}");
}

const TABLE_A: &str = "\
extends: base.yaml
name: a
vars: { seed: 3 }
stages:
  a_train: { kind: train, inputs: { x: ml_sample }, params: { lr: 1 } }
report:
  - template: a.md.j2
    output: results/a.md
claims:
  - name: first
    test: \"a_train.x > a_train.y\"
";
const TABLE_B: &str = "\
extends: base.yaml
name: b
stages:
  b_train: { kind: train, inputs: { x: ml_sample }, params: { lr: 2 } }
report:
  - template: b.md.j2
    output: results/b.md
";

#[test]
fn a_list_of_parents_is_their_union_with_reports_and_claims_merged_by_key() {
    let d = Dir::new();
    d.write("base.yaml", BASE);
    d.write("a.yaml", TABLE_A);
    d.write("b.yaml", TABLE_B);
    let paper = d.write(
        "paper.yaml",
        "\
extends: [a.yaml, b.yaml]
name: paper
report:
  - template: claims.md.j2
    output: results/claims.md
  - template: a2.md.j2
    output: results/a.md
claims:
  - name: second
    test: \"b_train.x > a_train.x\"
",
    );
    let spec = ok(&paper, &[]);
    assert_eq!(spec.name, "paper");
    assert_eq!(spec.parents, vec![d.path("a.yaml"), d.path("b.yaml")]);
    let names: Vec<&str> = spec.instances[0]
        .stages
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["ml_load", "ml_sample", "bx_load", "a_train", "b_train"],
        "the base (a diamond) once, then each parent's stages in order"
    );
    assert_eq!(
        spec.instances[0].stages[1].params["seed"],
        json!(3),
        "a's vars kept"
    );
    let outputs: Vec<String> = spec.report.iter().map(|r| format!("{r:?}")).collect();
    assert_eq!(
        outputs.len(),
        4,
        "base + a (replaced in place) + b + claims: {outputs:?}"
    );
    assert!(outputs[0].contains("results/base.md"), "{outputs:?}");
    assert!(
        outputs[1].contains("a2.md.j2"),
        "a's entry replaced by the child's: {outputs:?}"
    );
    assert!(outputs[2].contains("results/b.md"), "{outputs:?}");
    assert!(outputs[3].contains("results/claims.md"), "{outputs:?}");
    let claims: Vec<&str> = spec.claims.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(claims, ["first", "second"]);
    // base.yaml is read once although both parents extend it.
    let files = spec.files();
    assert_eq!(
        files.iter().filter(|f| f.ends_with("base.yaml")).count(),
        1,
        "{files:?}"
    );
    // A later parent wins over an earlier one.
    d.write(
        "c.yaml",
        "extends: base.yaml\nvars: { seed: 9 }\nstages: {}\n",
    );
    let later = d.write("later.yaml", "extends: [a.yaml, c.yaml]\n");
    assert_eq!(
        ok(&later, &[]).instances[0].stages[1].params["seed"],
        json!(9)
    );
}

#[test]
fn a_cycle_through_a_list_is_reported_at_the_list_item() {
    let d = Dir::new();
    let a = d.write(
        "a.yaml",
        "extends: [b.yaml]\nstages:\n  x: { kind: load }\n",
    );
    d.write("b.yaml", "name: b\nextends: [c.yaml, a.yaml]\n");
    d.write("c.yaml", "name: c\n");
    let e = err(&a, &[]);
    assert_eq!(e.file, d.path("b.yaml"));
    assert_eq!(at(&e), (2, 19, "extends.1"));
    assert!(e.message.contains("extends cycle"), "{e}");
}

#[test]
fn resources_are_typed_maps_per_kind() {
    let d = Dir::new();
    d.write("base.yaml", BASE);
    let s = d.write(
        "s.yaml",
        "extends: base.yaml\nresources:\n  default: { partition: cpu, time: \"00:10:00\", cpus: 2 }\n  train: { gres: \"gpu:1\", mem: 32G }\n",
    );
    let spec = ok(&s, &[]);
    assert_eq!(spec.resources["default"]["cpus"], json!(2));
    assert_eq!(spec.resources["train"]["gres"], json!("gpu:1"));
    let bad = d.write(
        "bad.yaml",
        "extends: base.yaml\nresources:\n  train: { partiton: gpu }\n",
    );
    let e = err(&bad, &[]);
    assert_eq!(at(&e), (3, 12, "resources.train.partiton"));
    assert_eq!(e.suggestion.as_deref(), Some("partition"));
    let bad = d.write(
        "bad2.yaml",
        "extends: base.yaml\nresources:\n  train: { cpus: -1 }\n",
    );
    assert_eq!(at(&err(&bad, &[])), (3, 18, "resources.train.cpus"));
}

#[test]
fn null_is_a_value_in_vars_and_a_new_kind_replaces_the_stage() {
    let d = Dir::new();
    d.write("base.yaml", BASE);
    let child = d.write(
        "child.yaml",
        "\
extends: base.yaml
vars:
  seed: null
stages:
  ml_sample:
    kind: split
    params: { ratios: [0.5, 0.5, 0] }
",
    );
    let spec = ok(&child, &[]);
    let stages = &spec.instances[0].stages;
    let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["ml_load", "ml_sample", "bx_load"], "order kept");
    let s = &stages[1];
    assert_eq!(s.kind, "split");
    assert!(s.inputs.is_empty(), "inputs not inherited: {:?}", s.inputs);
    assert_eq!(
        serde_json::Value::Object(s.params.clone()),
        json!({"ratios": [0.5, 0.5, 0]}),
        "params not merged from the replaced stage"
    );
}
