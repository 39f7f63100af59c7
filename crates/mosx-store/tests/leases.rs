//! Leases: Busy while the holder lives, takeover of dead holders, Done after commit, races.
//! Every test runs on both backends, except how a holder is judged dead without being it:
//! SQLite's pid and heartbeat-age rule, PostgreSQL's session lock (one test each at the end).

#[macro_use]
mod common;

use std::sync::{Arc, Barrier};

use common::*;
use mosx_store::{CacheCheck, Lease, MissReason, Store};

backend_tests!(
    busy_for_another_run_while_holder_lives_then_done_after_commit,
    lease_of_a_dead_holder_is_taken_over,
    lease_of_an_ended_run_is_dead,
    release_and_record_failure_free_the_key,
    acquire_replaces_a_stage_whose_object_is_gone,
    second_commit_of_a_valid_key_keeps_the_first_result,
    racing_threads_get_exactly_one_acquired,
);

fn info() -> mosx_store::RunInfo {
    mosx_store::RunInfo {
        spec_path: "s".into(),
        spec_hash: "h".into(),
        argv: "".into(),
        mosx_version: "0".into(),
        git_commit: None,
        git_dirty: false,
        host: "h".into(),
        device: "cpu".into(),
        pid: std::process::id(),
    }
}

fn busy_for_another_run_while_holder_lives_then_done_after_commit(fx: &Fixture) {
    let s = fx.open();
    let k = key(1);
    assert_eq!(s.acquire(&k, 1).unwrap(), Lease::Acquired);
    assert_eq!(fx.lease_row(&k), Some((1, std::process::id() as i64)));
    match s.acquire(&k, 2).unwrap() {
        Lease::Busy { run_id, pid, host } => {
            assert_eq!(run_id, 1);
            assert_eq!(pid, std::process::id());
            assert_eq!(host, hostname());
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    // the same run asking again is also Busy: a key is computed once even within a run
    assert!(matches!(s.acquire(&k, 1).unwrap(), Lease::Busy { .. }));
    // so is another store of the same process (another connection, another lock holder)
    assert!(matches!(
        fx.open().acquire(&k, 3).unwrap(),
        Lease::Busy { run_id: 1, .. }
    ));
    s.heartbeat(&k, 1).unwrap();
    s.commit(&rec(&k, 1), &[art("a", vec![1, 2])], &[]).unwrap();
    assert_eq!(fx.lease_row(&k), None, "commit deletes the lease");
    assert_eq!(s.acquire(&k, 2).unwrap(), Lease::Done);
    assert_eq!(s.executions(&k).unwrap(), 1);
    // heartbeat after commit is a harmless no-op
    s.heartbeat(&k, 1).unwrap();
}

fn lease_of_a_dead_holder_is_taken_over(fx: &Fixture) {
    let s = fx.open();
    let k = key(2);
    assert_eq!(s.acquire(&k, 1).unwrap(), Lease::Acquired);
    fx.kill_lease_holder(&k);
    assert_eq!(s.acquire(&k, 2).unwrap(), Lease::Acquired);
    assert_eq!(fx.lease_row(&k), Some((2, std::process::id() as i64)));
    // the old holder learns on heartbeat that its lease is gone
    let e = s.heartbeat(&k, 1).unwrap_err().to_string();
    assert!(e.contains("taken over by run 2"), "{e}");
    s.heartbeat(&k, 2).unwrap();
    // the interrupted execution of run 1 is failed, the new one completes
    s.commit(&rec(&k, 2), &[], &[]).unwrap();
    assert_eq!(s.executions(&k).unwrap(), 1);
    let st = fx.rows(&format!(
        "SELECT run_id, status FROM executions WHERE key = '{k}' ORDER BY id"
    ));
    assert_eq!(st, vec![vec!["1", "failed"], vec!["2", "ok"]]);
}

fn lease_of_an_ended_run_is_dead(fx: &Fixture) {
    let s = fx.open();
    let run = s.begin_run(&info()).unwrap();
    let k = key(3);
    assert_eq!(s.acquire(&k, run).unwrap(), Lease::Acquired);
    s.end_run(run, "failed", &serde_json::json!({})).unwrap();
    for other in [fx.open(), s.clone()] {
        let next = run + 100;
        assert_eq!(
            other.acquire(&k, next).unwrap(),
            Lease::Acquired,
            "a lease of an ended run is dead"
        );
        other.release(&k, next).unwrap();
    }
}

fn release_and_record_failure_free_the_key(fx: &Fixture) {
    let s = fx.open();
    let k = key(5);
    assert_eq!(s.acquire(&k, 1).unwrap(), Lease::Acquired);
    s.record_failure(&k, "train/a", "train", 1, "boom").unwrap();
    s.release(&k, 1).unwrap();
    let failed = s.list(None, true).unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].error.as_deref(), Some("boom"));
    assert_eq!(failed[0].kind, "train");
    assert_eq!(s.executions(&k).unwrap(), 0);
    // the key can be acquired again by another run (of another store too); it is no longer
    // listed as failed while running
    let other = fx.open();
    assert_eq!(other.acquire(&k, 2).unwrap(), Lease::Acquired);
    assert!(s.list(None, true).unwrap().is_empty());
    // release without a result marks the execution failed
    other.release(&k, 2).unwrap();
    let failed = s.list(None, true).unwrap();
    assert_eq!(
        failed[0].error.as_deref(),
        Some("released before completion")
    );
    assert_eq!(s.acquire(&k, 3).unwrap(), Lease::Acquired);
}

fn acquire_replaces_a_stage_whose_object_is_gone(fx: &Fixture) {
    let s = fx.open();
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

fn second_commit_of_a_valid_key_keeps_the_first_result(fx: &Fixture) {
    let s = fx.open();
    let k = key(7);
    s.commit(&rec(&k, 1), &[art("ckpt", noise(BIG, 1))], &[])
        .unwrap();
    s.commit(&rec(&k, 2), &[art("ckpt", noise(BIG, 2))], &[])
        .unwrap();
    assert_eq!(s.artifact(&k, "ckpt").unwrap(), noise(BIG, 1));
    assert_eq!(s.record(&k).unwrap().unwrap().run_id, 1);
    let names: Vec<_> = std::fs::read_dir(fx.objects().join(&k))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names.len(),
        1,
        "the loser's temp file is removed: {names:?}"
    );
}

fn racing_threads_get_exactly_one_acquired(fx: &Fixture) {
    for shared in [true, false] {
        let k = format!("racekey{shared}");
        let one = fx.open();
        let n = 8;
        let barrier = Arc::new(Barrier::new(n));
        // Every store outlives the race: a store that goes away is a dead holder.
        let stores: Vec<Arc<dyn Store>> = (0..n)
            .map(|_| if shared { one.clone() } else { fx.open() })
            .collect();
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let store = stores[i].clone();
                let barrier = barrier.clone();
                let k = k.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    store.acquire(&k, i as i64 + 1).unwrap()
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

/// SQLite-only: a lease row of another host is alive while its heartbeat is younger than 60 s.
#[test]
fn sqlite_stale_remote_leases_are_dead() {
    let fx = Fixture::sqlite();
    let s = fx.open();
    let k2 = key(4);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    fx.exec(&format!(
        "INSERT INTO leases (key, run_id, pid, host, acquired_at, heartbeat_at)
         VALUES ('{k2}', 77, 1, 'elsewhere', {t}, {t})",
        t = now - 5.0
    ));
    assert_eq!(
        s.acquire(&k2, 5).unwrap(),
        Lease::Busy {
            run_id: 77,
            pid: 1,
            host: "elsewhere".into()
        }
    );
    fx.exec(&format!(
        "UPDATE leases SET heartbeat_at = {} WHERE key = '{k2}'",
        now - 61.0
    ));
    assert_eq!(s.acquire(&k2, 5).unwrap(), Lease::Acquired);
}

/// PostgreSQL-only: a lease lives exactly as long as its holder's database session, whatever
/// its row says (no pid check, no heartbeat age): a row whose lock nobody holds is dead at once,
/// and a holder that goes away frees its keys at once.
#[test]
fn postgres_a_lease_lives_as_long_as_its_session() {
    let Some(fx) = Fixture::postgres() else {
        return;
    };
    let a = fx.open();
    let b = fx.open();
    // A row claiming a live remote holder, with no session behind it: dead.
    let k = key(8);
    a.acquire(&k, 1).unwrap();
    a.release(&k, 1).unwrap();
    fx.exec(&format!(
        "INSERT INTO leases (key, run_id, pid, host, acquired_at, heartbeat_at, lock_id)
         VALUES ('{k}', 77, 1, 'elsewhere', 0, extract(epoch from now()), 42)"
    ));
    assert_eq!(b.acquire(&k, 2).unwrap(), Lease::Acquired);
    // A live holder in another store is Busy, named by its row; dropped, its key is free.
    let k2 = key(9);
    assert_eq!(a.acquire(&k2, 3).unwrap(), Lease::Acquired);
    assert_eq!(
        b.acquire(&k2, 4).unwrap(),
        Lease::Busy {
            run_id: 3,
            pid: std::process::id(),
            host: hostname()
        }
    );
    drop(a);
    assert_eq!(b.acquire(&k2, 4).unwrap(), Lease::Acquired);
    let st = fx.rows(&format!(
        "SELECT run_id, status FROM executions WHERE key = '{k2}' ORDER BY id"
    ));
    assert_eq!(st, vec![vec!["3", "failed"], vec!["4", "running"]]);
    // A lost session (connection killed) is noticed: its lease is re-taken on heartbeat if
    // nobody took it meanwhile.
    let k3 = key(10);
    assert_eq!(b.acquire(&k3, 5).unwrap(), Lease::Acquired);
    fx.kill_lease_holder(&k3);
    b.heartbeat(&k3, 5).unwrap();
    assert!(matches!(
        fx.open().acquire(&k3, 6).unwrap(),
        Lease::Busy { run_id: 5, .. }
    ));
    // ... and its other leases (k2) were re-taken too, on their heartbeat.
    b.heartbeat(&k2, 4).unwrap();
    assert!(matches!(
        fx.open().acquire(&k2, 7).unwrap(),
        Lease::Busy { run_id: 4, .. }
    ));
}

/// PostgreSQL-only: lock ids are namespaced by database and schema, so two stores in one
/// database never contend for the same key; and a held lock whose row is gone still answers
/// Busy, naming the holding session's host and pid (run unknown: 0).
#[test]
fn postgres_stores_in_two_schemas_do_not_contend_and_busy_names_the_session() {
    let (Some(fx1), Some(fx2)) = (Fixture::postgres(), Fixture::postgres()) else {
        return;
    };
    let (a, b) = (fx1.open(), fx2.open());
    let k = key(11);
    assert_eq!(a.acquire(&k, 1).unwrap(), Lease::Acquired);
    assert_eq!(b.acquire(&k, 1).unwrap(), Lease::Acquired);
    fx1.exec(&format!("DELETE FROM leases WHERE key = '{k}'"));
    assert_eq!(
        fx1.open().acquire(&k, 2).unwrap(),
        Lease::Busy {
            run_id: 0,
            pid: std::process::id(),
            host: hostname()
        }
    );
}
