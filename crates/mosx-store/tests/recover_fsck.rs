//! Read-only opening, crash recovery (`interrupted` runs, dead temp objects) and fsck.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use mosx_store::{CacheCheck, MissReason, RunInfo, SqliteStore, Store, StoreError};

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

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    assert_eq!(rc, 0);
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).trim().to_string()
}

/// A pid that belonged to a process that has exited.
fn dead_pid() -> u32 {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
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
fn filled(dir: &Path) -> (std::path::PathBuf, String) {
    let db = dir.join("store.db");
    let s = SqliteStore::open(&db).unwrap();
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
    drop(s);
    (db, k)
}

#[test]
fn read_only_open_writes_nothing_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (db, k) = filled(dir.path());
    // A fresh memo-less state: the object must be hashed, which would write a memo.
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute("DELETE FROM object_stat", []).unwrap();
    }
    let before = snapshot(dir.path());
    let s = SqliteStore::open_read_only(&db).unwrap();
    assert!(s.is_read_only());
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit);
    let many = s.check_many(std::slice::from_ref(&k)).unwrap();
    assert_eq!(many[&k], CacheCheck::Hit);
    assert_eq!(s.list(None, false).unwrap().len(), 1);
    assert_eq!(s.artifact(&k, "big").unwrap(), noise(BIG, 1));
    assert!(s.lineage_get("s", "n").unwrap().is_none());
    let e = s.invalidate(&k).unwrap_err();
    assert!(matches!(e, StoreError::ReadOnly { .. }), "{e}");
    assert!(s.begin_run(&info(1)).is_err());
    drop(s);
    assert_eq!(
        before,
        snapshot(dir.path()),
        "read-only use changed the store"
    );
}

#[test]
fn read_only_open_works_on_a_read_only_file() {
    let dir = tempfile::tempdir().unwrap();
    let (db, k) = filled(dir.path());
    let mut perm = std::fs::metadata(&db).unwrap().permissions();
    perm.set_readonly(true);
    std::fs::set_permissions(&db, perm).unwrap();
    let s = SqliteStore::open_read_only(&db).unwrap();
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit);
    assert!(SqliteStore::open_read_only(&dir.path().join("nope.db")).is_err());
}

#[test]
fn recover_marks_dead_runs_interrupted_and_removes_their_temp_objects() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let s = SqliteStore::open(&db).unwrap();
    let dead = dead_pid();
    let run = s.begin_run(&info(dead)).unwrap();
    let k = key(2);
    assert_eq!(s.acquire(&k, run).unwrap(), mosx_store::Lease::Acquired);
    let live = s.begin_run(&info(std::process::id())).unwrap();
    // A temp object the dead writer left, and a scratch folder (kept for resuming).
    let tag: String = hostname()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let kdir = s.objects_dir().join(&k);
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
    let c = rusqlite::Connection::open(&db).unwrap();
    let status = |id: i64| -> String {
        c.query_row("SELECT status FROM runs WHERE id = ?1", [id], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(status(run), "interrupted");
    assert_eq!(status(live), "running");
    let leases: i64 = c
        .query_row("SELECT COUNT(*) FROM leases", [], |r| r.get(0))
        .unwrap();
    assert_eq!(leases, 0);
    let running: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM executions WHERE status = 'running'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(running, 0);
    assert_eq!(s.recover().unwrap().runs_interrupted, 0, "idempotent");
}

#[test]
fn fsck_rehashes_what_the_memo_trusts_and_repair_makes_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let (db, k) = filled(dir.path());
    let s = SqliteStore::open(&db).unwrap();
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
