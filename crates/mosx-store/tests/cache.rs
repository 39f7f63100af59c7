//! Commit / check / read round trips, object verification, NaN metrics, schema versions, entry
//! points. Every test runs on both backends (`backend_tests!`) except the SQLite file specifics
//! at the end (WAL mode, the objects folder beside the database).

#[macro_use]
mod common;

use common::*;
use mosx_store::{
    open_existing, Access, CacheCheck, MissReason, SqliteStore, StoreError, INLINE_MAX,
};
use serde_json::json;

backend_tests!(
    commit_then_check_hit_and_record_round_trips,
    data_persists_across_reopen_and_schema_version_is_set,
    newer_schema_is_refused_with_the_store_name,
    large_artifact_goes_to_a_file_and_back,
    deleted_object_is_a_miss_naming_the_artifact,
    corrupted_object_same_size_or_truncated_is_a_mismatch,
    nan_and_infinite_metrics_round_trip,
    empty_artifact_and_bad_inputs,
    find_prefix_and_list,
    runs_and_lineage,
    lineage_put_many_and_invalidate,
    no_store_there_is_none_and_nothing_is_created,
);

fn commit_then_check_hit_and_record_round_trips(fx: &Fixture) {
    let s = fx.open();
    let k = key(1);
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Miss(MissReason::NotFound));
    assert!(s.record(&k).unwrap().is_none());
    let r = rec(&k, 7);
    s.commit(
        &r,
        &[art("scores.json", b"[1,2,3]".to_vec())],
        &[("ndcg@10".into(), 0.5)],
    )
    .unwrap();
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit);
    let got = s.record(&k).unwrap().unwrap();
    assert_eq!(got.kind, "train");
    assert_eq!(got.params, json!({"lr": 0.001, "epochs": 3}));
    assert_eq!(got.parts, r.parts);
    assert_eq!(got.started_at, r.started_at);
    assert_eq!(got.finished_at, r.finished_at);
    assert_eq!(got.duration_ms, 10_500);
    assert_eq!(got.run_id, 7);
    assert_eq!(got.git_commit.as_deref(), Some("deadbeef"));
    assert!(got.git_dirty);
    assert_eq!(got.seed, Some(42));
    assert_eq!(s.artifact(&k, "scores.json").unwrap(), b"[1,2,3]");
    assert_eq!(s.artifact_path(&k, "scores.json").unwrap(), None);
    let metas = s.artifacts(&k).unwrap();
    assert_eq!(metas.len(), 1);
    assert_eq!(metas[0].location, "inline");
    assert_eq!(metas[0].size, 7);
    assert_eq!(metas[0].hash, blake3::hash(b"[1,2,3]").to_hex().to_string());
    assert_eq!(s.metrics(&k).unwrap(), vec![("ndcg@10".to_string(), 0.5)]);
    // commit without acquire still counts one completed execution
    assert_eq!(s.executions(&k).unwrap(), 1);
}

fn data_persists_across_reopen_and_schema_version_is_set(fx: &Fixture) {
    let k = key(2);
    {
        let s = fx.open();
        s.commit(&rec(&k, 1), &[art("big", noise(BIG, 1))], &[])
            .unwrap();
    }
    let s = fx.open();
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit);
    assert_eq!(s.artifact(&k, "big").unwrap(), noise(BIG, 1));
    assert_eq!(
        s.artifact_path(&k, "big").unwrap().unwrap(),
        fx.objects().join(&k).join("big")
    );
    assert_eq!(fx.schema_version(), mosx_store::SCHEMA_VERSION);
}

fn newer_schema_is_refused_with_the_store_name(fx: &Fixture) {
    drop(fx.open());
    fx.fake_newer_schema(99);
    let err = fx.try_open().map(|_| ()).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
    let err = err.to_string();
    assert!(err.contains("99") && err.contains(&fx.tag()), "{err}");
    let err = fx.open_read_only().map(|_| ()).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
}

fn large_artifact_goes_to_a_file_and_back(fx: &Fixture) {
    let s = fx.open();
    let k = key(3);
    let small = noise(INLINE_MAX, 2); // exactly the limit: inline
    let big = noise(INLINE_MAX + 1, 3);
    s.commit(
        &rec(&k, 1),
        &[
            art("small", small.clone()),
            art("model/weights.bin", big.clone()),
        ],
        &[],
    )
    .unwrap();
    let p = s.artifact_path(&k, "model/weights.bin").unwrap().unwrap();
    assert_eq!(p, fx.objects().join(&k).join("model/weights.bin"));
    assert_eq!(std::fs::read(&p).unwrap(), big);
    assert_eq!(s.artifact_path(&k, "small").unwrap(), None);
    assert_eq!(s.artifact(&k, "model/weights.bin").unwrap(), big);
    assert_eq!(s.artifact(&k, "small").unwrap(), small);
    let metas = s.artifacts(&k).unwrap();
    let m = metas
        .iter()
        .find(|m| m.name == "model/weights.bin")
        .unwrap();
    assert_eq!(m.location, format!("{k}/model/weights.bin"));
    assert_eq!(m.size, (INLINE_MAX + 1) as u64);
    assert_eq!(m.hash, blake3::hash(&big).to_hex().to_string());
    // no temp files left behind
    let leftovers: Vec<_> = std::fs::read_dir(fx.objects().join(&k).join("model"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(leftovers, vec!["weights.bin".to_string()]);
    assert!(s
        .artifact(&k, "nope")
        .unwrap_err()
        .to_string()
        .contains("nope"));
}

fn deleted_object_is_a_miss_naming_the_artifact(fx: &Fixture) {
    let s = fx.open();
    let k = key(4);
    s.commit(
        &rec(&k, 1),
        &[art("a", b"x".to_vec()), art("ckpt", noise(BIG, 4))],
        &[],
    )
    .unwrap();
    std::fs::remove_file(s.artifact_path(&k, "ckpt").unwrap().unwrap()).unwrap();
    let c = s.check(&k).unwrap();
    assert_eq!(
        c,
        CacheCheck::Miss(MissReason::ObjectMissing {
            artifact: "ckpt".into()
        })
    );
    if let CacheCheck::Miss(r) = c {
        assert_eq!(r.to_string(), "object file of artifact 'ckpt' is missing");
    }
    let err = s.artifact(&k, "ckpt").unwrap_err().to_string();
    assert!(err.contains("ckpt") && err.contains("missing"), "{err}");
}

fn corrupted_object_same_size_or_truncated_is_a_mismatch(fx: &Fixture) {
    let s = fx.open();
    let k = key(5);
    s.commit(&rec(&k, 1), &[art("ckpt", noise(BIG, 5))], &[])
        .unwrap();
    let p = s.artifact_path(&k, "ckpt").unwrap().unwrap();
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[1234] ^= 0xff; // same size, different content
    std::fs::write(&p, &bytes).unwrap();
    assert_eq!(
        s.check(&k).unwrap(),
        CacheCheck::Miss(MissReason::ObjectMismatch {
            artifact: "ckpt".into()
        })
    );
    let err = s.artifact(&k, "ckpt").unwrap_err().to_string();
    assert!(
        err.contains("does not match") && err.contains("blake3"),
        "{err}"
    );
    bytes.truncate(100);
    std::fs::write(&p, &bytes).unwrap();
    assert_eq!(
        s.check(&k).unwrap(),
        CacheCheck::Miss(MissReason::ObjectMismatch {
            artifact: "ckpt".into()
        })
    );
}

fn nan_and_infinite_metrics_round_trip(fx: &Fixture) {
    let s = fx.open();
    let k = key(6);
    let ms = vec![
        ("a_nan".to_string(), f64::NAN),
        ("b_inf".to_string(), f64::INFINITY),
        ("c_neg".to_string(), -0.125),
        ("d_ninf".to_string(), f64::NEG_INFINITY),
    ];
    s.commit(&rec(&k, 1), &[], &ms).unwrap();
    let got = s.metrics(&k).unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(got[0].0, "a_nan");
    assert!(got[0].1.is_nan());
    assert_eq!(got[1].1, f64::INFINITY);
    assert_eq!(got[2].1, -0.125);
    assert_eq!(got[3].1, f64::NEG_INFINITY);
}

fn empty_artifact_and_bad_inputs(fx: &Fixture) {
    let s = fx.open();
    let k = key(7);
    s.commit(&rec(&k, 1), &[art("empty", vec![])], &[]).unwrap();
    assert_eq!(s.artifact(&k, "empty").unwrap(), Vec::<u8>::new());
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit);

    let k2 = key(8);
    let e = s
        .commit(&rec(&k2, 1), &[art("../escape", vec![1])], &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("../escape"), "{e}");
    let e = s
        .commit(&rec(&k2, 1), &[art("x", vec![1]), art("x", vec![2])], &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("artifact \"x\" given twice"), "{e}");
    let e = s
        .commit(&rec(&k2, 1), &[], &[("m".into(), 1.0), ("m".into(), 2.0)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("metric \"m\""), "{e}");
    let e = s
        .commit(&rec("bad/key", 1), &[], &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad/key"), "{e}");
    // failed validation wrote nothing
    assert_eq!(
        s.check(&k2).unwrap(),
        CacheCheck::Miss(MissReason::NotFound)
    );
}

fn find_prefix_and_list(fx: &Fixture) {
    let s = fx.open();
    let mut r1 = rec("aa11", 1);
    r1.kind = "load".into();
    r1.finished_at = 10.0;
    let mut r2 = rec("aa22", 1);
    r2.finished_at = 20.0;
    s.commit(&r1, &[], &[]).unwrap();
    s.commit(&r2, &[], &[]).unwrap();
    s.commit(&rec("bb33", 1), &[], &[]).unwrap();
    s.record_failure("aa99", "train/x", "train", 1, "CUDA out of memory")
        .unwrap();
    assert_eq!(s.find_prefix("aa").unwrap(), vec!["aa11", "aa22", "aa99"]);
    assert_eq!(s.find_prefix("aa2").unwrap(), vec!["aa22"]);
    assert!(s.find_prefix("zz").unwrap().is_empty());

    let all = s.list(None, false).unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0].key, "aa11"); // sorted by finished_at
    let loads = s.list(Some("load"), false).unwrap();
    assert_eq!(
        loads.iter().map(|x| x.key.as_str()).collect::<Vec<_>>(),
        vec!["aa11"]
    );
    let failed = s.list(None, true).unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].key, "aa99");
    assert_eq!(failed[0].status, "failed");
    assert_eq!(failed[0].name, "train/x");
    assert_eq!(failed[0].error.as_deref(), Some("CUDA out of memory"));
    assert!(s.list(Some("load"), true).unwrap().is_empty());
    // once the key is committed it is no longer failed
    s.commit(&rec("aa99", 2), &[], &[]).unwrap();
    assert!(s.list(None, true).unwrap().is_empty());
    assert_eq!(s.executions("aa99").unwrap(), 1);
}

fn runs_and_lineage(fx: &Fixture) {
    let s = fx.open();
    let info = mosx_store::RunInfo {
        spec_path: "experiments/a.yaml".into(),
        spec_hash: "h".into(),
        argv: "mosx run a.yaml".into(),
        mosx_version: "0.1.0".into(),
        git_commit: None,
        git_dirty: false,
        host: "h".into(),
        device: "cpu".into(),
        pid: std::process::id(),
    };
    let r1 = s.begin_run(&info).unwrap();
    let r2 = s.begin_run(&info).unwrap();
    assert_ne!(r1, r2);
    s.end_run(r1, "ok", &json!({"stages": 3})).unwrap();
    assert!(s
        .end_run(12345, "ok", &json!({}))
        .unwrap_err()
        .to_string()
        .contains("12345"));

    assert_eq!(s.lineage_get("spec.yaml", "train").unwrap(), None);
    s.lineage_put("spec.yaml", "train", "k1", &json!({"lr": "x"}))
        .unwrap();
    s.lineage_put("spec.yaml", "train", "k2", &json!({"lr": "y"}))
        .unwrap();
    assert_eq!(
        s.lineage_get("spec.yaml", "train").unwrap(),
        Some(("k2".to_string(), json!({"lr": "y"})))
    );
    assert_eq!(s.lineage_get("other.yaml", "train").unwrap(), None);
}

fn lineage_put_many_and_invalidate(fx: &Fixture) {
    let s = fx.open();

    let entries = vec![
        (
            "a".to_string(),
            "k1".to_string(),
            serde_json::json!({"x": 1}),
        ),
        (
            "b".to_string(),
            "k2".to_string(),
            serde_json::json!({"x": 2}),
        ),
    ];
    s.lineage_put_many("spec.yaml", &entries).unwrap();
    assert_eq!(s.lineage_get("spec.yaml", "b").unwrap().unwrap().0, "k2");
    s.lineage_put_many(
        "spec.yaml",
        &[("b".into(), "k3".into(), serde_json::json!({"x": 3}))],
    )
    .unwrap();
    assert_eq!(
        s.lineage_get("spec.yaml", "b").unwrap().unwrap(),
        ("k3".to_string(), serde_json::json!({"x": 3}))
    );
    assert!(!s.invalidate("nope").unwrap());
}

fn no_store_there_is_none_and_nothing_is_created(fx: &Fixture) {
    let loc = fx.location();
    let e = fx.open_read_only().map(|_| ()).unwrap_err();
    assert!(matches!(e, StoreError::NoStore { .. }), "{e}");
    assert!(open_existing(loc, fx.objects_arg(), Access::ReadOnly)
        .unwrap()
        .is_none());
    assert!(open_existing(loc, fx.objects_arg(), Access::ReadWrite)
        .unwrap()
        .is_none());
    assert!(!fx.objects().exists(), "no objects folder was created");
    let k = key(9);
    fx.open()
        .commit(&rec(&k, 1), &[art("a", vec![1])], &[])
        .unwrap();
    for access in [Access::ReadOnly, Access::ReadWrite] {
        let s = open_existing(loc, fx.objects_arg(), access)
            .unwrap()
            .expect("the store exists now");
        assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit);
    }
}

// SQLite-only: the file's journal mode, and the objects folder beside the database by default
// and elsewhere when given (a PostgreSQL store always names its folder).

#[test]
fn sqlite_store_is_in_wal_mode_with_objects_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sub").join("store.db");
    let s = SqliteStore::open(&db).unwrap();
    assert_eq!(s.objects_dir(), dir.path().join("sub").join("objects"));
    drop(s);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let elsewhere = dir.path().join("shared-objects");
    let s = mosx_store::open(db.to_str().unwrap(), Some(&elsewhere)).unwrap();
    let k = key(1);
    s.commit(&rec(&k, 1), &[art("big", noise(BIG, 1))], &[])
        .unwrap();
    assert_eq!(
        s.artifact_path(&k, "big").unwrap().unwrap(),
        elsewhere.join(&k).join("big")
    );
}

/// PostgreSQL-only: the store owns its runtime, so an async caller (inside another tokio
/// runtime, where blocking on a runtime is refused) can open, use and drop it.
#[test]
fn postgres_store_works_from_inside_an_async_caller() {
    let Some(fx) = Fixture::postgres() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = fx.open();
        let k = key(1);
        s.commit(&rec(&k, 1), &[art("a", vec![1])], &[]).unwrap();
        assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit);
        drop(s);
    });
}
