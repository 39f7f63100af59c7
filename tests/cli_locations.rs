//! Spec locations reach run-time errors and never the cache: a stage that fails because of a
//! parameter's value names where the spec wrote it, and moving the spec's lines changes
//! that location but no stage key.

mod common;
use common::*;

const SPEC: &str = r#"name: tiny
stages:
  ml_load: { kind: load, params: { path: data/tiny } }
  ml_sample:
    kind: sample
    inputs: { dataset: ml_load }
    params: { window: 3, windows: WINDOWS }
"#;

fn project() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let from = repo().join("tests/bad_inputs/_data/tiny");
    let to = tmp.path().join("data/tiny");
    std::fs::create_dir_all(&to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    tmp
}

#[test]
fn a_run_time_parameter_error_names_its_location_and_lines_moved_keep_the_cache() {
    let tmp = project();
    let dir = tmp.path();
    let write = |prefix: &str, windows: u32| {
        let text = format!("{prefix}{}", SPEC.replace("WINDOWS", &windows.to_string()));
        std::fs::write(dir.join("spec.yaml"), text).unwrap();
    };

    // 100 windows of length 3: more than the 4-user dataset has, known only from the data.
    write("", 100);
    let o = mosx(dir, &["run", "spec.yaml", "-q"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(
        err.contains("spec.yaml:7:35: stages.ml_sample.params.windows: 100 windows"),
        "{err}"
    );
    // Two lines more above it: the location follows, the load stage stays cached.
    write("# a comment\n# and another\n", 100);
    let o = mosx(dir, &["run", "spec.yaml", "-q"]);
    let (out, err) = text(&o);
    assert!(
        err.contains("spec.yaml:9:35: stages.ml_sample.params.windows"),
        "{err}"
    );
    assert!(out.contains("1 cached, 0 executed, 1 failed"), "{out}");

    // A valid count runs; moving its lines again is no change at all.
    write("", 8);
    let o = mosx(dir, &["run", "spec.yaml", "-q"]);
    assert!(o.status.success(), "{:?}", text(&o));
    write("\n\n\n", 8);
    let o = mosx(dir, &["run", "spec.yaml", "-q"]);
    let (out, err) = text(&o);
    assert!(
        out.contains("2 stages: 2 cached, 0 executed"),
        "{out}\n{err}"
    );
}
