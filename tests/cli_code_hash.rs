//! Keys cover code: a stage recorded with another build's code hash is dirty, and
//! `--explain` names the code unit that changed.

mod common;
use common::*;

/// Rewrite the store as if `node` had been computed by a build whose `unit` sources differed:
/// its stage row, artifacts, metrics and lineage get the fingerprint (and so the key) that
/// build would have recorded.
fn pretend_built_with_other_code(db: &std::path::Path, node: &str, unit: &str) -> String {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    let (key, parts): (String, String) = c
        .query_row(
            "SELECT key, parts FROM stages WHERE name = ?1",
            [node],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let mut parts: serde_json::Value = serde_json::from_str(&parts).unwrap();
    let code = parts["code"]
        .as_object_mut()
        .expect("parts record code hashes");
    assert!(
        code.contains_key(unit),
        "{node} does not record code of {unit}: {code:?}"
    );
    assert!(code.contains_key("mosx-stage"), "implied unit missing");
    code.insert(unit.into(), serde_json::json!("0".repeat(64)));
    let old_key = format!("{:0>64}", "c0de");
    let parts = parts.to_string();
    for sql in [
        "UPDATE stages SET key = ?1, parts = ?3 WHERE key = ?2",
        "UPDATE artifacts SET key = ?1 WHERE key = ?2 AND ?3 IS NOT NULL",
        "UPDATE metrics SET key = ?1 WHERE key = ?2 AND ?3 IS NOT NULL",
        "UPDATE executions SET key = ?1 WHERE key = ?2 AND ?3 IS NOT NULL",
        "UPDATE lineage SET key = ?1, parts = ?3 WHERE key = ?2",
    ] {
        c.execute(sql, rusqlite::params![old_key, key, parts])
            .unwrap();
    }
    key
}

#[test]
fn changed_code_hash_makes_the_stage_dirty_and_explain_names_the_unit() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_ml_spec(tmp.path(), &[0]);
    let spec = spec.to_str().unwrap();
    let o = mosx(tmp.path(), &["run", spec, "-q"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let db = tmp.path().join("results/mosx.db");
    let key = pretend_built_with_other_code(&db, "ml_sample", "mosx-data");

    let o = mosx(tmp.path(), &["run", spec, "-q", "--explain"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains("dirty  sample   ml_sample: code of mosx-data changed"),
        "{out}"
    );
    // Only the stage whose code changed reruns; its downstream key is unchanged (the
    // current build's sample key), so split and measure come from the cache.
    assert!(out.contains("4 stages: 3 cached, 1 executed"), "{out}");
    assert!(err.contains("ran ml_sample"), "{err}");
    let rows = stage_rows(&db);
    assert!(
        rows.iter().any(|(k, n)| k == &key && n == "ml_sample"),
        "{rows:?}"
    );
}

/// The same for a stage the worker runs: its key covers the worker's runner file, and
/// `--explain` names that file.
#[test]
fn changed_worker_runner_makes_the_training_dirty_and_explain_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let o = mosx(
        tmp.path(),
        &["tiny-model", "tiny", "--data", ml_data().to_str().unwrap()],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let spec = tmp.path().join("train.yaml");
    std::fs::write(
        &spec,
        format!(
            r#"name: code
stages:
  ml_load: {{ kind: load, params: {{ path: "{data}" }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 300, seed: 1 }} }}
  ml_split: {{ kind: split, inputs: {{ sequences: ml_sample }}, params: {{ seed: 1 }} }}
  ml_measure: {{ kind: measure, inputs: {{ split: ml_split }} }}
  ml_train: {{ kind: train, inputs: {{ split: ml_split, measure: ml_measure }}, params: {{ model: tiny, method: {{ name: prompt_tuning, tokens: 2 }}, epochs: 1, max_train_points: 16, max_valid_points: 8 }} }}
"#,
            data = ml_data().display()
        ),
    )
    .unwrap();
    let spec = spec.to_str().unwrap();
    let o = mosx(tmp.path(), &["run", spec, "-q", "--device", "cpu"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let db = tmp.path().join("results/mosx.db");
    let unit = "crates/mosx-worker/src/runners/train.rs";
    pretend_built_with_other_code(&db, "ml_train", unit);

    let o = mosx(
        tmp.path(),
        &["run", spec, "-q", "--device", "cpu", "--explain"],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains(&format!("dirty  train    ml_train: code of {unit} changed")),
        "{out}"
    );
    assert!(out.contains("5 stages: 4 cached, 1 executed"), "{out}");
}

/// The build is part of every key, as cargo's fingerprints cover it: a store built with another
/// `Cargo.lock` or another compiler is stale, and `--explain` names which.
#[test]
fn another_lock_file_or_compiler_makes_stages_dirty_and_explain_names_it() {
    for unit in ["Cargo.lock", "rustc"] {
        let tmp = tempfile::tempdir().unwrap();
        let spec = write_ml_spec(tmp.path(), &[0]);
        let spec = spec.to_str().unwrap();
        let o = mosx(tmp.path(), &["run", spec, "-q"]);
        assert!(o.status.success(), "{:?}", text(&o));
        let db = tmp.path().join("results/mosx.db");
        pretend_built_with_other_code(&db, "ml_load", unit);
        let o = mosx(tmp.path(), &["run", spec, "-q", "--explain", "--dry-run"]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{out}\n{err}");
        assert!(
            out.contains(&format!("ml_load: code of {unit} changed")),
            "{unit}: {out}"
        );
    }
}
