//! A failing stage fails only its descendants: the rest of the run finishes, the
//! summary lists the failure with its error, the exit code is 1, and nothing of the
//! failed stage is cached.

mod common;
use common::*;

#[test]
fn failure_skips_only_descendants() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("fail.yaml");
    std::fs::write(
        &spec,
        format!(
            r#"stages:
  ml_load:
    kind: load
    params: {{ path: "{data}" }}
  good_sample:
    kind: sample
    inputs: {{ dataset: ml_load }}
    params: {{ windows: 2000 }}
  good_split:
    kind: split
    inputs: {{ sequences: good_sample }}
  bad_sample:
    kind: sample
    inputs: {{ dataset: ml_load }}
    params: {{ windows: 90000, group_ratio: {{ male: 0.01, female: 0.99 }} }}
  bad_split:
    kind: split
    inputs: {{ sequences: bad_sample }}
"#,
            data = ml_data().display()
        ),
    )
    .unwrap();
    let spec = spec.to_str().unwrap();
    let o = mosx(tmp.path(), &["run", spec, "-q"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(
        out.contains("5 stages: 0 cached, 3 executed, 1 failed, 1 skipped"),
        "{out}"
    );
    assert!(err.contains("failures:"), "{err}");
    assert!(
        err.contains("bad_sample: ") && err.contains("female"),
        "the error names the group: {err}"
    );
    assert!(
        err.contains("bad_split: skipped (upstream bad_sample failed)"),
        "{err}"
    );
    let names: Vec<String> = stage_rows(&tmp.path().join("results/mosx.db"))
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert_eq!(names.len(), 3);
    assert!(!names.iter().any(|n| n.starts_with("bad_")), "{names:?}");

    let o = mosx(tmp.path(), &["ls", "--failed"]);
    let (out, _) = text(&o);
    assert!(
        out.contains("bad_sample") && out.contains("failed"),
        "{out}"
    );

    // Rerun: the good branch comes from the cache, the failed stage is tried again.
    let o = mosx(tmp.path(), &["run", spec, "-q"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out.contains("5 stages: 3 cached, 0 executed, 1 failed, 1 skipped"),
        "{out}"
    );
}
