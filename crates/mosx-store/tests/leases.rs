//! Leases: Busy while the holder lives, takeover of dead holders, Done after commit, races.

mod common;

use std::sync::{Arc, Barrier};

use common::*;
use mosx_store::{CacheCheck, Lease, MissReason, SqliteStore, Store};

fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

fn lease_row(db: &std::path::Path, key: &str) -> Option<(i64, i64)> {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(
        "SELECT run_id, pid FROM leases WHERE key = ?1",
        [key],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .ok()
}

#[test]
fn busy_for_another_run_while_holder_lives_then_done_after_commit() {
    let (dir, s) = open_tmp();
    let k = key(1);
    assert_eq!(s.acquire(&k, 1).unwrap(), Lease::Acquired);
    assert_eq!(
        lease_row(&dir.path().join("store.db"), &k),
        Some((1, std::process::id() as i64))
    );
    match s.acquire(&k, 2).unwrap() {
        Lease::Busy { run_id, pid, host } => {
            assert_eq!(run_id, 1);
            assert_eq!(pid, std::process::id());
            assert!(!host.is_empty());
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    // the same run asking again is also Busy: a key is computed once even within a run
    assert!(matches!(s.acquire(&k, 1).unwrap(), Lease::Busy { .. }));
    s.heartbeat(&k, 1).unwrap();
    s.commit(&rec(&k, 1), &[art("a", vec![1, 2])], &[]).unwrap();
    assert_eq!(
        lease_row(&dir.path().join("store.db"), &k),
        None,
        "commit deletes the lease"
    );
    assert_eq!(s.acquire(&k, 2).unwrap(), Lease::Done);
    assert_eq!(s.executions(&k).unwrap(), 1);
    // heartbeat after commit is a harmless no-op
    s.heartbeat(&k, 1).unwrap();
}

#[test]
fn lease_of_a_dead_pid_is_taken_over() {
    let (dir, s) = open_tmp();
    let db = dir.path().join("store.db");
    let k = key(2);
    assert_eq!(s.acquire(&k, 1).unwrap(), Lease::Acquired);
    let pid = dead_pid();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE leases SET pid = ?1 WHERE key = ?2",
            rusqlite::params![pid, k],
        )
        .unwrap();
    assert_eq!(s.acquire(&k, 2).unwrap(), Lease::Acquired);
    assert_eq!(lease_row(&db, &k), Some((2, std::process::id() as i64)));
    // the old holder learns on heartbeat that its lease is gone
    let e = s.heartbeat(&k, 1).unwrap_err().to_string();
    assert!(e.contains("taken over by run 2"), "{e}");
    // the interrupted execution of run 1 is failed, the new one completes
    s.commit(&rec(&k, 2), &[], &[]).unwrap();
    assert_eq!(s.executions(&k).unwrap(), 1);
    let c = rusqlite::Connection::open(&db).unwrap();
    let st: Vec<(i64, String)> = c
        .prepare("SELECT run_id, status FROM executions WHERE key = ?1 ORDER BY id")
        .unwrap()
        .query_map([&k], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(st, vec![(1, "failed".to_string()), (2, "ok".to_string())]);
}

#[test]
fn ended_run_and_stale_remote_leases_are_dead() {
    let (dir, s) = open_tmp();
    let db = dir.path().join("store.db");
    let info = mosx_store::RunInfo {
        spec_path: "s".into(),
        spec_hash: "h".into(),
        argv: "".into(),
        mosx_version: "0".into(),
        git_commit: None,
        git_dirty: false,
        host: "h".into(),
        device: "cpu".into(),
        pid: std::process::id(),
    };
    let run = s.begin_run(&info).unwrap();
    let k = key(3);
    assert_eq!(s.acquire(&k, run).unwrap(), Lease::Acquired);
    s.end_run(run, "failed", &serde_json::json!({})).unwrap();
    assert_eq!(
        s.acquire(&k, run + 100).unwrap(),
        Lease::Acquired,
        "a lease of an ended run is dead"
    );

    // another host: alive while its heartbeat is fresh, dead after 60 s
    let k2 = key(4);
    let c = rusqlite::Connection::open(&db).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    c.execute(
        "INSERT INTO leases (key, run_id, pid, host, acquired_at, heartbeat_at) VALUES (?1, 77, 1, 'elsewhere', ?2, ?2)",
        rusqlite::params![k2, now - 5.0],
    )
    .unwrap();
    assert_eq!(
        s.acquire(&k2, 5).unwrap(),
        Lease::Busy {
            run_id: 77,
            pid: 1,
            host: "elsewhere".into()
        }
    );
    c.execute(
        "UPDATE leases SET heartbeat_at = ?1 WHERE key = ?2",
        rusqlite::params![now - 61.0, k2],
    )
    .unwrap();
    assert_eq!(s.acquire(&k2, 5).unwrap(), Lease::Acquired);
}

#[test]
fn release_and_record_failure_free_the_key() {
    let (_d, s) = open_tmp();
    let k = key(5);
    assert_eq!(s.acquire(&k, 1).unwrap(), Lease::Acquired);
    s.record_failure(&k, "train/a", "train", 1, "boom").unwrap();
    s.release(&k, 1).unwrap();
    let failed = s.list(None, true).unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].error.as_deref(), Some("boom"));
    assert_eq!(failed[0].kind, "train");
    assert_eq!(s.executions(&k).unwrap(), 0);
    // the key can be acquired again by another run; it is no longer listed as failed while running
    assert_eq!(s.acquire(&k, 2).unwrap(), Lease::Acquired);
    assert!(s.list(None, true).unwrap().is_empty());
    // release without a result marks the execution failed
    s.release(&k, 2).unwrap();
    let failed = s.list(None, true).unwrap();
    assert_eq!(
        failed[0].error.as_deref(),
        Some("released before completion")
    );
    assert_eq!(s.acquire(&k, 3).unwrap(), Lease::Acquired);
}

#[test]
fn acquire_replaces_a_stage_whose_object_is_gone() {
    let (_d, s) = open_tmp();
    let k = key(6);
    s.commit(
        &rec(&k, 1),
        &[art("ckpt", noise(BIG, 6))],
        &[("m".into(), 1.0)],
    )
    .unwrap();
    std::fs::remove_file(s.artifact_path(&k, "ckpt").unwrap().unwrap()).unwrap();
    assert_eq!(
        s.check(&k).unwrap(),
        CacheCheck::Miss(MissReason::ObjectMissing {
            artifact: "ckpt".into()
        })
    );
    assert_eq!(s.acquire(&k, 2).unwrap(), Lease::Acquired);
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Miss(MissReason::NotFound));
    assert!(
        s.metrics(&k).unwrap().is_empty(),
        "metric rows went with the invalid stage row"
    );
    s.commit(&rec(&k, 2), &[art("ckpt", noise(BIG, 7))], &[])
        .unwrap();
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit);
    assert_eq!(s.artifact(&k, "ckpt").unwrap(), noise(BIG, 7));
    assert_eq!(s.executions(&k).unwrap(), 2);
}

#[test]
fn second_commit_of_a_valid_key_keeps_the_first_result() {
    let (_d, s) = open_tmp();
    let k = key(7);
    s.commit(&rec(&k, 1), &[art("ckpt", noise(BIG, 1))], &[])
        .unwrap();
    s.commit(&rec(&k, 2), &[art("ckpt", noise(BIG, 2))], &[])
        .unwrap();
    assert_eq!(s.artifact(&k, "ckpt").unwrap(), noise(BIG, 1));
    assert_eq!(s.record(&k).unwrap().unwrap().run_id, 1);
    let names: Vec<_> = std::fs::read_dir(s.objects_dir().join(&k))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names.len(),
        1,
        "the loser's temp file is removed: {names:?}"
    );
}

#[test]
fn racing_threads_get_exactly_one_acquired() {
    for shared in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        let one = Arc::new(SqliteStore::open(&db).unwrap());
        let n = 8;
        let barrier = Arc::new(Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let store = if shared {
                    one.clone()
                } else {
                    Arc::new(SqliteStore::open(&db).unwrap())
                };
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    store.acquire("racekey", i as i64 + 1).unwrap()
                })
            })
            .collect();
        let results: Vec<Lease> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let acquired = results.iter().filter(|l| **l == Lease::Acquired).count();
        assert_eq!(acquired, 1, "shared={shared}: {results:?}");
        assert_eq!(
            results
                .iter()
                .filter(|l| matches!(l, Lease::Busy { .. }))
                .count(),
            n - 1
        );
    }
}
