//! Read-only opening, crash recovery (`interrupted` runs, dead temp objects) and fsck, on both
//! backends; opening a read-only *file* is SQLite-only.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use mosx_store::{CacheCheck, MissReason, RunInfo, StoreError};

backend_tests!(
    read_only_open_writes_nothing_and_refuses_writes,
    recover_marks_dead_runs_interrupted_and_removes_their_temp_objects,
    fsck_rehashes_what_the_memo_trusts_and_repair_makes_a_miss,
);

fn info(pid: u32) -> RunInfo {
    RunInfo {
        spec_path: "s.yaml".into(),
        spec_hash: "h".into(),
        argv: "mosx run s.yaml".into(),
        mosx_version: "0".into(),
        git_commit: None,
        git_dirty: false,
        host: hostname(),
        device: "cpu".into(),
        pid,
    }
}

/// Every file under `dir` with the blake3 of its bytes, except SQLite's WAL side files (a
/// reader of a WAL database may create an empty `-wal` and the shared-memory `-shm` index;
/// neither holds data).
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.strip_prefix(dir).unwrap().display().to_string();
            if p.is_dir() {
                stack.push(p);
            } else if name.ends_with("-shm")
                || (name.ends_with("-wal") && std::fs::metadata(&p).unwrap().len() == 0)
            {
                continue;
            } else {
                let h = blake3::hash(&std::fs::read(&p).unwrap())
                    .to_hex()
                    .to_string();
                out.insert(name, h);
            }
        }
    }
    out
}

/// A store with one stage holding a file object and an inline artifact; closed.
fn filled(fx: &Fixture) -> String {
    let s = fx.open();
    let run = s.begin_run(&info(std::process::id())).unwrap();
    let k = key(1);
    assert_eq!(s.acquire(&k, run).unwrap(), mosx_store::Lease::Acquired);
    s.commit(
        &rec(&k, run),
        &[art("big", noise(BIG, 1)), art("small", b"abc".to_vec())],
        &[("m".into(), 1.5)],
    )
    .unwrap();
    s.end_run(run, "ok", &serde_json::json!({})).unwrap();
    k
}

fn read_only_open_writes_nothing_and_refuses_writes(fx: &Fixture) {
    let k = filled(fx);
    // A fresh memo-less state: the object must be hashed, which would write a memo.
    fx.exec("DELETE FROM object_stat");
    let (files, writes) = (snapshot(fx.dir()), fx.write_count());
    let s = fx.open_read_only().unwrap();
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit);
    let many = s.check_many(std::slice::from_ref(&k)).unwrap();
    assert_eq!(many[&k], CacheCheck::Hit);
    assert_eq!(s.list(None, false).unwrap().len(), 1);
    assert_eq!(s.artifact(&k, "big").unwrap(), noise(BIG, 1));
    assert!(s.lineage_get("s", "n").unwrap().is_none());
    let e = s.invalidate(&k).unwrap_err();
    assert!(matches!(e, StoreError::ReadOnly { .. }), "{e}");
    assert!(s.begin_run(&info(1)).is_err());
    assert!(s.acquire(&key(2), 1).is_err());
    assert!(s.gc(false).is_err());
    assert_eq!(s.gc(true).unwrap().files_removed, 0);
    drop(s);
    assert_eq!(files, snapshot(fx.dir()), "read-only use changed a file");
    assert_eq!(
        writes,
        fx.write_count(),
        "read-only use wrote to the database"
    );
}

#[test]
fn sqlite_read_only_open_works_on_a_read_only_file() {
    let fx = Fixture::sqlite();
    let k = filled(&fx);
    let db = Path::new(fx.location());
    let mut perm = std::fs::metadata(db).unwrap().permissions();
    perm.set_readonly(true);
    std::fs::set_permissions(db, perm).unwrap();
    let s = fx.open_read_only().unwrap();
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit);
}

fn recover_marks_dead_runs_interrupted_and_removes_their_temp_objects(fx: &Fixture) {
    let s = fx.open();
    // A run whose process died holding a lease: begun by another store, of a pid that exited
    // (SQLite's liveness), which then goes away (PostgreSQL's: its session ends).
    let dead = dead_pid();
    let k = key(2);
    let run = {
        let gone = fx.open();
        let run = gone.begin_run(&info(dead)).unwrap();
        assert_eq!(gone.acquire(&k, run).unwrap(), mosx_store::Lease::Acquired);
        run
    };
    let live = s.begin_run(&info(std::process::id())).unwrap();
    // A temp object the dead writer left, and a scratch folder (kept for resuming).
    let tag = host_tag();
    let kdir = fx.objects().join(&k);
    std::fs::create_dir_all(&kdir).unwrap();
    let tmp = kdir.join(format!(".tmp.{tag}.{dead}.0.big"));
    std::fs::write(&tmp, b"partial").unwrap();
    let mine = kdir.join(format!(".tmp.{tag}.{}.0.big", std::process::id()));
    std::fs::write(&mine, b"in flight").unwrap();
    let work = s.work_dir(&k).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("epoch1.ckpt"), b"x").unwrap();

    let r = s.recover().unwrap();
    assert_eq!(r.runs_interrupted, 1);
    assert_eq!(r.temp_files_removed, 1);
    assert!(!tmp.exists() && mine.exists() && work.join("epoch1.ckpt").exists());
    let status =
        |id: i64| fx.rows(&format!("SELECT status FROM runs WHERE id = {id}"))[0][0].clone();
    assert_eq!(status(run), "interrupted");
    assert_eq!(status(live), "running");
    assert_eq!(fx.int("SELECT COUNT(*) FROM leases"), 0);
    assert_eq!(
        fx.int("SELECT COUNT(*) FROM executions WHERE status = 'running'"),
        0
    );
    assert_eq!(s.recover().unwrap().runs_interrupted, 0, "idempotent");
    assert_eq!(s.acquire(&k, live).unwrap(), mosx_store::Lease::Acquired);
}

fn fsck_rehashes_what_the_memo_trusts_and_repair_makes_a_miss(fx: &Fixture) {
    let k = filled(fx);
    let s = fx.open();
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit); // records the memo
    let r = s.fsck(false).unwrap();
    assert_eq!((r.stages, r.objects_checked, r.inline_checked), (1, 1, 1));
    assert!(r.problems.is_empty(), "{:?}", r.problems);

    // Flip one byte, keeping size and mtime: the stat memo still vouches for the file.
    let obj = s.artifact_path(&k, "big").unwrap().unwrap();
    let mtime = std::fs::metadata(&obj).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&obj).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&obj, &bytes).unwrap();
    let f = std::fs::File::options().write(true).open(&obj).unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);

    let r = s.fsck(false).unwrap();
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert!(
        r.problems[0].what.contains("does not match"),
        "{:?}",
        r.problems
    );
    assert!(!r.problems[0].repaired);
    assert!(
        s.record(&k).unwrap().is_some(),
        "fsck without --repair changes nothing"
    );

    let r = s.fsck(true).unwrap();
    assert!(r.problems[0].repaired);
    assert_eq!(
        s.check(&k).unwrap(),
        CacheCheck::Miss(MissReason::NotFound),
        "a damaged stage becomes a miss, never a wrong hit"
    );
    assert!(s.fsck(false).unwrap().problems.is_empty());
}

/// PostgreSQL-only: a run is judged by its session on any host (SQLite leaves other hosts'
/// runs alone), and a dead run's lease that a live worker still holds is kept, with its
/// execution, while the dead run's other leases and executions are failed.
#[test]
fn postgres_recover_judges_runs_of_any_host_and_keeps_live_workers() {
    let Some(fx) = Fixture::postgres() else {
        return;
    };
    let s = fx.open();
    let worker = fx.open();
    let (k_live, k_dead) = (key(3), key(4));
    let run = {
        let planner = fx.open();
        let mut i = info(4242);
        i.host = "another-machine".into();
        let run = planner.begin_run(&i).unwrap();
        assert_eq!(
            planner.acquire(&k_dead, run).unwrap(),
            mosx_store::Lease::Acquired
        );
        assert_eq!(
            worker.acquire(&k_live, run).unwrap(),
            mosx_store::Lease::Acquired
        );
        run
    };
    assert_eq!(s.fsck(false).unwrap().problems.len(), 1, "the dead run");
    let r = s.recover().unwrap();
    assert_eq!(r.runs_interrupted, 1);
    let st = |k: &str| {
        fx.rows(&format!(
            "SELECT status FROM executions WHERE key = '{k}' AND run_id = {run}"
        ))[0][0]
            .clone()
    };
    assert_eq!(st(&k_dead), "failed");
    assert_eq!(st(&k_live), "running");
    assert_eq!(fx.lease_row(&k_dead), None);
    assert!(fx.lease_row(&k_live).is_some());
    worker
        .commit(&rec(&k_live, run), &[art("a", vec![1])], &[])
        .unwrap();
    assert_eq!(st(&k_live), "ok");
}

/// PostgreSQL-only: fsck checks the applied migrations against this build's, and opening a
/// store whose migration differs fails with a schema error naming the version.
#[test]
fn postgres_a_modified_migration_is_found() {
    let Some(fx) = Fixture::postgres() else {
        return;
    };
    let s = fx.open();
    assert!(s.fsck(false).unwrap().problems.is_empty());
    fx.exec("UPDATE _sqlx_migrations SET checksum = '\\x00' WHERE version = 1");
    let r = s.fsck(false).unwrap();
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert!(
        r.problems[0].what.contains("migration 1"),
        "{:?}",
        r.problems
    );
    let e = fx.try_open().map(|_| ()).unwrap_err();
    assert!(
        matches!(&e, StoreError::Database { cause, .. } if cause.kind == mosx_store::DbErrorKind::Schema),
        "{e}"
    );
    assert!(e.to_string().contains("migration 1"), "{e}");
}
