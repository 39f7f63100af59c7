//! Several processes (children of this test binary) and several independently opened stores
//! sharing one store; kill -9 during commits. Both backends.
//!
//! Child mode: when MOSX_STORE_CHILD is set, `child_entry` acts as a worker instead of a test,
//! on the store at MOSX_STORE_LOCATION (objects at MOSX_STORE_OBJECTS if set).

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::*;
use mosx_store::{CacheCheck, Lease, Store};

backend_tests!(
    two_processes_execute_each_key_exactly_once,
    threads_with_separate_stores_execute_each_key_exactly_once,
    kill_9_during_commits_leaves_no_stage_without_its_objects,
);

const KEYS: usize = 50;

/// acquire → (Acquired) commit, polling Busy keys until every key is Done.
fn worker(store: &dyn Store, run: i64) {
    let keys: Vec<String> = (0..KEYS).map(key).collect();
    let mut pending: Vec<&String> = keys.iter().collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "worker {run} stuck on {} keys",
            pending.len()
        );
        let mut still = Vec::new();
        for k in pending {
            match store.acquire(k, run).unwrap() {
                Lease::Acquired => {
                    let i = keys.iter().position(|x| x == k).unwrap();
                    // every 5th key gets an object file, the rest inline
                    let size = if i % 5 == 0 { BIG } else { 100 };
                    store
                        .commit(
                            &rec(k, run),
                            &[art("out", noise(size, i as u64))],
                            &[("i".into(), i as f64)],
                        )
                        .unwrap();
                }
                Lease::Done => {}
                Lease::Busy { .. } => still.push(k),
            }
        }
        pending = still;
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Commit large artifacts forever (until killed).
fn crash_worker(store: &dyn Store, run: i64) {
    for i in 0.. {
        let k = key(10_000 + i);
        if store.acquire(&k, run).unwrap() == Lease::Acquired {
            store
                .commit(
                    &rec(&k, run),
                    &[
                        art("a", noise(BIG, i as u64)),
                        art("b", noise(BIG + 7, i as u64)),
                    ],
                    &[],
                )
                .unwrap();
        }
    }
}

#[test]
fn child_entry() {
    let (Ok(mode), Ok(location)) = (
        std::env::var("MOSX_STORE_CHILD"),
        std::env::var("MOSX_STORE_LOCATION"),
    ) else {
        return; // not a child: nothing to do
    };
    let run: i64 = std::env::var("MOSX_STORE_RUN").unwrap().parse().unwrap();
    let objects = std::env::var_os("MOSX_STORE_OBJECTS").map(PathBuf::from);
    let store = mosx_store::open(&location, objects.as_deref()).unwrap();
    if let Ok(go) = std::env::var("MOSX_STORE_GO") {
        // start together with the sibling worker
        while !Path::new(&go).exists() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    match mode.as_str() {
        "worker" => worker(&*store, run),
        "crash" => crash_worker(&*store, run),
        other => panic!("unknown child mode {other}"),
    }
}

fn go_file(fx: &Fixture) -> PathBuf {
    fx.dir().join("go")
}

fn spawn_child(mode: &str, fx: &Fixture, run: i64) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env("MOSX_STORE_GO", go_file(fx))
        .args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env("MOSX_STORE_CHILD", mode)
        .env("MOSX_STORE_LOCATION", fx.location())
        .env("MOSX_STORE_RUN", run.to_string());
    if let Some(o) = fx.objects_arg() {
        cmd.env("MOSX_STORE_OBJECTS", o);
    }
    cmd.spawn().unwrap()
}

fn assert_each_key_once(fx: &Fixture) {
    let s = fx.open();
    for i in 0..KEYS {
        let k = key(i);
        assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit, "key {i}");
        assert_eq!(
            s.executions(&k).unwrap(),
            1,
            "key {i} executed more than once"
        );
        let size = if i % 5 == 0 { BIG } else { 100 };
        assert_eq!(s.artifact(&k, "out").unwrap(), noise(size, i as u64));
    }
}

fn two_processes_execute_each_key_exactly_once(fx: &Fixture) {
    drop(fx.open());
    let mut children: Vec<Child> = (1..=2).map(|run| spawn_child("worker", fx, run)).collect();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(go_file(fx), b"").unwrap();
    for c in &mut children {
        assert!(c.wait().unwrap().success(), "child worker failed");
    }
    assert_each_key_once(fx);
    let per_run = fx.rows("SELECT run_id, COUNT(*) FROM stages GROUP BY run_id ORDER BY run_id");
    eprintln!("stages committed per run: {per_run:?}");
}

fn threads_with_separate_stores_execute_each_key_exactly_once(fx: &Fixture) {
    let handles: Vec<_> = (1..=4)
        .map(|run| {
            let s = fx.open();
            std::thread::spawn(move || worker(&*s, run))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_each_key_once(fx);
}

fn kill_9_during_commits_leaves_no_stage_without_its_objects(fx: &Fixture) {
    drop(fx.open());
    for (round, delay_ms) in [150u64, 333, 517].into_iter().enumerate() {
        std::fs::write(go_file(fx), b"").unwrap();
        let mut child = spawn_child("crash", fx, 100 + round as i64);
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let s = fx.open();
        let keys = s.find_prefix("").unwrap();
        let stored: Vec<&String> = keys
            .iter()
            .filter(|k| s.record(k).unwrap().is_some())
            .collect();
        for k in &stored {
            assert_eq!(
                s.check(k).unwrap(),
                CacheCheck::Hit,
                "round {round}: stage {k} lost its objects"
            );
            assert_eq!(s.artifacts(k).unwrap().len(), 2);
        }
        let rep = s.gc(false).unwrap();
        eprintln!(
            "round {round}: {} stored stages, gc removed {} files, {} leases",
            stored.len(),
            rep.files_removed,
            rep.leases_cleared
        );
        assert!(
            rep.leases_cleared <= 1,
            "at most the killed child's one lease"
        );
        // after gc every remaining file is referenced and every stage is still a hit
        for k in &stored {
            assert_eq!(s.check(k).unwrap(), CacheCheck::Hit);
        }
        for entry in std::fs::read_dir(fx.objects()).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                stored.iter().any(|k| **k == name),
                "unreferenced object dir {name} survived gc"
            );
        }
        assert_eq!(s.gc(true).unwrap().files_removed, 0);
        // the killed child's key is free (its lease is dead: at once for SQLite's pid rule, as
        // soon as the server has ended the killed client's session for PostgreSQL)
        if let Some(k) = keys.iter().find(|k| s.record(k).unwrap().is_none()) {
            let run = 1000 + round as i64;
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match s.acquire(k, run).unwrap() {
                    Lease::Acquired => break,
                    other => assert!(Instant::now() < deadline, "{k} still {other:?}"),
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            s.release(k, run).unwrap();
        }
    }
}
