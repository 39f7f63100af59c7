//! Crash safety and concurrency through the real binary: SIGKILL mid-run then
//! rerun; two concurrent runs on one store.

mod common;
use common::*;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn spawn_slow(dir: &std::path::Path, spec: &str, db: &str, delay_ms: u64) -> std::process::Child {
    Command::new(bin())
        .args(["run", spec, "-q", "-j", "1", "--store", db])
        .current_dir(dir)
        .env("MOSX_TEST_STAGE_DELAY_MS", delay_ms.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mosx")
}

fn wait_for_rows(db: &std::path::Path, n: usize, limit: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if db.exists() {
            if let Ok(c) = rusqlite::Connection::open(db) {
                let k: Result<i64, _> =
                    c.query_row("SELECT COUNT(*) FROM stages", [], |r| r.get(0));
                if matches!(k, Ok(k) if k as usize >= n) {
                    return;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("fewer than {n} stage rows after {limit:?}");
}

#[test]
fn sigkill_mid_run_then_rerun_completes_with_same_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_ml_spec(tmp.path(), &[0, 1]);
    let spec = spec.to_str().unwrap();

    // Reference: an uninterrupted run in its own store.
    let o = mosx(tmp.path(), &["run", spec, "-q", "--store", "ref/mosx.db"]);
    assert!(o.status.success(), "{:?}", text(&o));

    let db = tmp.path().join("killed/mosx.db");
    let mut child = spawn_slow(tmp.path(), spec, "killed/mosx.db", 400);
    wait_for_rows(&db, 3, Duration::from_secs(60));
    // SIGKILL: no handler runs, no lease is released, nothing is flushed.
    child.kill().unwrap();
    let _ = child.wait();
    let rows_after_kill = stage_rows(&db).len();
    assert!(
        (3..7).contains(&rows_after_kill),
        "killed after {rows_after_kill} of 7 stages"
    );
    assert_no_partial_rows(&db);

    let o = mosx(
        tmp.path(),
        &["run", spec, "-q", "--store", "killed/mosx.db"],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains(&format!("7 stages: {rows_after_kill} cached")),
        "{out}"
    );
    assert_no_partial_rows(&db);
    let reference = tmp.path().join("ref/mosx.db");
    assert_eq!(metrics(&db), metrics(&reference));
    assert_eq!(artifact_hashes(&db), artifact_hashes(&reference));
}

#[test]
fn concurrent_runs_execute_every_stage_once() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_ml_spec(tmp.path(), &[0, 1, 2]);
    let spec = spec.to_str().unwrap();
    let a = spawn_slow(tmp.path(), spec, "shared/mosx.db", 150);
    let b = spawn_slow(tmp.path(), spec, "shared/mosx.db", 150);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{:?}", text(&a));
    assert!(b.status.success(), "{:?}", text(&b));
    let db = tmp.path().join("shared/mosx.db");
    let ex = executions(&db);
    assert_eq!(ex.len(), 10, "{ex:?}");
    assert!(ex.iter().all(|(_, n)| *n == 1), "a stage ran twice: {ex:?}");
    assert_eq!(stage_rows(&db).len(), 10);
    assert_no_partial_rows(&db);
}

#[test]
fn ctrl_c_releases_leases_and_rerun_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_ml_spec(tmp.path(), &[0, 1]);
    let spec = spec.to_str().unwrap();
    let db = tmp.path().join("int/mosx.db");
    let child = spawn_slow(tmp.path(), spec, "int/mosx.db", 400);
    wait_for_rows(&db, 2, Duration::from_secs(60));
    // SAFETY: sending SIGINT to our own child process.
    unsafe { libc_kill(child.id() as i32, 2) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{:?}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("interrupted"),
        "{:?}",
        text(&out)
    );
    let c = rusqlite::Connection::open(&db).unwrap();
    let leases: i64 = c
        .query_row("SELECT COUNT(*) FROM leases", [], |r| r.get(0))
        .unwrap();
    assert_eq!(leases, 0, "Ctrl-C left leases behind");
    assert_no_partial_rows(&db);
    let done = stage_rows(&db).len();
    let o = mosx(tmp.path(), &["run", spec, "-q", "--store", "int/mosx.db"]);
    let (o_out, o_err) = text(&o);
    assert!(o.status.success(), "{o_out}\n{o_err}");
    assert!(
        o_out.contains(&format!("7 stages: {done} cached, {} executed", 7 - done)),
        "{o_out}"
    );
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
