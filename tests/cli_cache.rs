//! The cache contract, through the real binary: a rerun executes nothing; a changed
//! parameter reruns exactly its downstream stages and `--explain` says why.

mod common;
use common::*;

use std::path::Path;

#[test]
fn second_run_executes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_ml_spec(tmp.path(), &[0]);
    let spec = spec.to_str().unwrap();
    let first = mosx(tmp.path(), &["run", spec, "-q"]);
    let (out, err) = text(&first);
    assert!(first.status.success(), "{out}\n{err}");
    assert!(out.contains("4 stages: 0 cached, 4 executed"), "{out}");
    let second = mosx(tmp.path(), &["run", spec, "-q"]);
    let (out, err) = text(&second);
    assert!(second.status.success(), "{out}\n{err}");
    assert!(out.contains("4 stages: 4 cached, 0 executed"), "{out}");
    let db = tmp.path().join("results/mosx.db");
    let ex = executions(&db);
    assert_eq!(ex.len(), 4);
    assert!(ex.iter().all(|(_, n)| *n == 1), "{ex:?}");
    assert_no_partial_rows(&db);
}

/// `mosx run SPEC -q --explain --set SET`, which must succeed: (stdout, stderr).
fn run_explained_with(dir: &Path, spec: &str, set: &str) -> (String, String) {
    let o = mosx(dir, &["run", spec, "-q", "--explain", "--set", set]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    (out, err)
}

/// Dry run: says what would run and why, writes nothing.
fn assert_dry_run_explains_and_writes_nothing(dir: &Path, spec: &str) {
    let before = stage_rows(&dir.join("results/mosx.db"));
    let dry = mosx(
        dir,
        &[
            "run",
            spec,
            "--dry-run",
            "--explain",
            "--set",
            "stages.ml_measure.params.z_star=1.645",
        ],
    );
    let (out, _) = text(&dry);
    assert!(
        out.contains("dirty  measure  ml_measure: param z_star 1.0 → 1.645"),
        "{out}"
    );
    assert!(out.contains("4 stages: 3 cached, 1 would run"), "{out}");
    assert_eq!(before, stage_rows(&dir.join("results/mosx.db")));
}

/// The leaf parameter: only the leaf reruns.
fn assert_leaf_param_reruns_only_the_leaf(dir: &Path, spec: &str) {
    let (out, err) = run_explained_with(dir, spec, "stages.ml_measure.params.z_star=1.645");
    assert!(
        out.contains("ml_measure: param z_star 1.0 → 1.645"),
        "{out}"
    );
    assert!(out.contains("4 stages: 3 cached, 1 executed"), "{out}");
    assert!(err.contains("ran ml_measure"), "{err}");
    assert!(!err.contains("ran ml_split"), "{err}");
}

/// A middle parameter: split and measure rerun, load and sample come from the cache.
fn assert_middle_param_reruns_split_and_measure(dir: &Path, spec: &str) {
    let (out, err) = run_explained_with(dir, spec, "stages.ml_split.params.by=random");
    assert!(
        out.contains("ml_split: param by \"user\" → \"random\""),
        "{out}"
    );
    // The last recorded run of ml_measure had z_star=1.645; this one is back to 1.0.
    assert!(
        out.contains("ml_measure: param z_star 1.645 → 1.0; upstream `split` changed"),
        "{out}"
    );
    assert!(out.contains("4 stages: 2 cached, 2 executed"), "{out}");
    assert!(
        err.contains("ran ml_split") && err.contains("ran ml_measure"),
        "{err}"
    );
    assert!(
        !err.contains("ran ml_sample") && !err.contains("ran ml_load"),
        "{err}"
    );
}

#[test]
fn changed_param_reruns_exactly_downstream_and_explains() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_ml_spec(tmp.path(), &[0]);
    let spec = spec.to_str().unwrap();
    assert!(mosx(tmp.path(), &["run", spec, "-q"]).status.success());
    assert_dry_run_explains_and_writes_nothing(tmp.path(), spec);
    assert_leaf_param_reruns_only_the_leaf(tmp.path(), spec);
    assert_middle_param_reruns_split_and_measure(tmp.path(), spec);
}

#[test]
fn sweep_shares_upstream_stages() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_ml_spec(tmp.path(), &[0, 1, 2]);
    let o = mosx(tmp.path(), &["run", spec.to_str().unwrap(), "-q"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    // One load shared by three seeds: 1 + 3 * 3 stages.
    assert!(out.contains("10 stages: 0 cached, 10 executed"), "{out}");
    let names: Vec<String> = stage_rows(&tmp.path().join("results/mosx.db"))
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert!(names.contains(&"ml_load".to_string()), "{names:?}");
    assert!(
        names.contains(&"ml_measure[seed=2]".to_string()),
        "{names:?}"
    );
}

#[test]
fn force_reruns_matching_stages() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_ml_spec(tmp.path(), &[0]);
    let spec = spec.to_str().unwrap();
    assert!(mosx(tmp.path(), &["run", spec, "-q"]).status.success());
    let o = mosx(
        tmp.path(),
        &["run", spec, "-q", "--explain", "--force", "ml_me*"],
    );
    let (out, _) = text(&o);
    assert!(out.contains("ml_measure: forced (--force)"), "{out}");
    assert!(out.contains("1 executed"), "{out}");
}

/// A kill between a stage's commit and the removal of its scratch folder leaves
/// `objects/.work/KEY`; the rerun finds the stage cached, so it removes the folder itself.
#[test]
fn a_rerun_removes_the_scratch_folder_of_a_stored_stage() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_ml_spec(tmp.path(), &[0]);
    let spec = spec.to_str().unwrap();
    let o = mosx(tmp.path(), &["run", spec]);
    assert!(o.status.success(), "{:?}", text(&o));
    let db = tmp.path().join("results/mosx.db");
    let key = stage_key(&db, "ml_split");
    let work = tmp.path().join("results/objects/.work").join(&key);
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("epoch_0.safetensors"), b"partial").unwrap();
    let o = mosx(tmp.path(), &["run", spec]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("0 executed"), "{out}");
    assert!(
        !work.exists(),
        "the stored stage's scratch folder is still there"
    );
}
