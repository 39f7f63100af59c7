//! The store through the real `mosx` binary:
//! * no command prints a store URL's password, whatever characters it holds (user info,
//!   `password`, `sslpassword`, `passfile` parameters), whether the store is given with
//!   `--store` or `MOSX_STORE`, and `--help` does not show `MOSX_STORE`'s value;
//! * the stage worker gets the store location in its environment, never on its command line;
//! * after a run, the database file alone (no `-wal`) is the whole store;
//! * `--force` deletes nothing before the forced stage's new result commits: a forced run
//!   killed while the stage runs leaves the old result, a completed one replaces it.

mod common;
use common::*;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Store URLs on a closed port of 127.0.0.1, each holding `SECRET` where a password goes.
const URLS: &[&str] = &[
    "postgres://u:SECRET@127.0.0.1:1/db",
    "postgres://u:ab/cdSECRET@127.0.0.1:1/db",
    "postgresql://u:a@b#c%d:e?SECRET@127.0.0.1:1/db",
    "postgres://u:SE%2FCRET@127.0.0.1:1/db",
    "postgres://u@127.0.0.1:1/db?password=SECRET&sslmode=disable",
    "postgres://u@127.0.0.1:1/db?sslpassword=SECRET",
    "postgres://u@127.0.0.1:1/db?passfile=/home/u/SECRET",
];

/// Every command that can open (and so name) a store.
fn commands() -> Vec<Vec<&'static str>> {
    vec![
        vec!["run", "ml.yaml", "-q"],
        vec!["run", "ml.yaml", "--dry-run"],
        vec!["run", "ml.yaml", "--explain", "-q"],
        vec!["report", "ml.yaml"],
        vec!["ls"],
        vec!["ls", "--failed"],
        vec!["show", "abc"],
        vec!["export", "abc"],
        vec!["gc"],
        vec!["gc", "--dry-run"],
        vec!["fsck"],
        vec!["fsck", "--repair"],
        vec!["dag", "ml.yaml"],
    ]
}

fn leaks(out: &str) -> bool {
    out.contains("SECRET") || out.contains("CRET") || out.contains("/home/u")
}

#[test]
fn no_command_prints_a_store_password() {
    let tmp = tempfile::tempdir().unwrap();
    write_ml_spec(tmp.path(), &[1]);
    let objects = tmp.path().join("o");
    let mut failures = Vec::new();
    for url in URLS {
        for args in commands() {
            // Given on the command line, and in the environment.
            for via_env in [false, true] {
                let mut cmd = Command::new(bin());
                cmd.args(&args)
                    .arg("--objects")
                    .arg(&objects)
                    .current_dir(tmp.path())
                    .env("NO_COLOR", "1");
                if via_env {
                    cmd.env("MOSX_STORE", url);
                } else {
                    cmd.args(["--store", url]);
                }
                let o = cmd.output().unwrap();
                let (out, err) = text(&o);
                if leaks(&out) || leaks(&err) {
                    failures.push(format!("{args:?} with {url} (env {via_env}):\n{out}{err}"));
                }
            }
        }
    }
    // `--help` shows that MOSX_STORE is read, not its value.
    let o = Command::new(bin())
        .args(["run", "--help"])
        .env("MOSX_STORE", URLS[0])
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(out.contains("MOSX_STORE"), "{out}");
    if leaks(&out) || leaks(&err) {
        failures.push(format!("run --help:\n{out}{err}"));
    }
    assert!(
        failures.is_empty(),
        "secrets printed:\n{}",
        failures.join("\n---\n")
    );
}

/// Data stages, then a tiny-backbone training and its evaluation (stages the worker runs).
fn write_worker_spec(dir: &Path) {
    let o = mosx(
        dir,
        &["tiny-model", "tiny", "--data", ml_data().to_str().unwrap()],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let spec = format!(
        r#"name: w
stages:
  ml_load: {{ kind: load, params: {{ path: "{data}" }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 600, seed: 2 }} }}
  ml_split: {{ kind: split, inputs: {{ sequences: ml_sample }}, params: {{ seed: 2 }} }}
  ml_measure: {{ kind: measure, inputs: {{ split: ml_split }} }}
  ml_train: {{ kind: train, inputs: {{ split: ml_split, measure: ml_measure }}, params: {{ model: tiny, method: {{ name: prompt_tuning, tokens: 4 }}, epochs: 2, seed: 2, max_train_points: 16, max_valid_points: 8 }} }}
  ml_eval: {{ kind: evaluate, inputs: {{ split: ml_split, adapter: ml_train }}, params: {{ model: tiny, setting: implicit, max_points: 16 }} }}
"#,
        data = ml_data().display()
    );
    std::fs::write(dir.join("w.yaml"), spec).unwrap();
}

/// `(pid, cmdline, environ)` of the live `mosx-worker` children of `parent`.
fn worker_of(parent: u32) -> Option<(u32, Vec<u8>, Vec<u8>)> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
                .unwrap_or_default()
        };
        if field("Name:") == "mosx-worker" && field("PPid:") == parent.to_string() {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let environ = std::fs::read(e.path().join("environ")).ok()?;
            if !cmdline.is_empty() {
                return Some((pid, cmdline, environ));
            }
        }
    }
    None
}

#[test]
fn the_worker_gets_the_store_in_its_environment_never_on_its_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    write_worker_spec(tmp.path());
    // A store path that stands for a secret: it must not be on the worker's command line.
    let store = "s3cr3t-store/mosx.db";
    let mut child = Command::new(bin())
        .args(["run", "w.yaml", "-q", "--device", "cpu", "--store", store])
        .current_dir(tmp.path())
        .env("MOSX_TEST_STAGE_DELAY_MS", "300")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let seen = loop {
        if let Some(w) = worker_of(child.id()) {
            break Some(w);
        }
        if child.try_wait().unwrap().is_some() || t0.elapsed() > Duration::from_secs(300) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let status = child.wait().unwrap();
    assert!(status.success(), "the run failed");
    let (pid, cmdline, environ) = seen.expect("the run started a worker");
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(
        !cmdline.contains("s3cr3t") && !cmdline.contains("--store"),
        "worker {pid}'s command line names the store: {cmdline}"
    );
    let environ = String::from_utf8_lossy(&environ).into_owned();
    assert!(
        environ
            .split('\0')
            .any(|kv| kv.starts_with("MOSX_STORE=") && kv.contains("s3cr3t-store/mosx.db")),
        "worker {pid} got no MOSX_STORE"
    );
}

#[test]
fn after_a_run_the_database_file_alone_is_the_whole_store() {
    let tmp = tempfile::tempdir().unwrap();
    write_ml_spec(tmp.path(), &[1]);
    let o = mosx(tmp.path(), &["run", "ml.yaml", "-q"]);
    assert!(o.status.success(), "{:?}", text(&o));
    // A reader keeps the database open, so closing the last connection cannot be what folds
    // the write-ahead log into the file: the run's own checkpoint must.
    let db = tmp.path().join("results/mosx.db");
    let reader = rusqlite::Connection::open(&db).unwrap();
    write_ml_spec(tmp.path(), &[1, 2]);
    let o = mosx(tmp.path(), &["run", "ml.yaml", "-q"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let rows = stage_rows(&db);
    assert_eq!(rows.len(), 7, "{rows:?}");
    let copy = tmp.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(&db, copy.join("mosx.db")).unwrap();
    drop(reader);
    assert_eq!(stage_rows(&copy.join("mosx.db")), rows);
    let o = mosx(
        tmp.path(),
        &[
            "ls",
            "--store",
            "copy/mosx.db",
            "--objects",
            "results/objects",
        ],
    );
    let (out, err) = text(&o);
    assert!(
        o.status.success() && out.contains("ml_measure"),
        "{out}{err}"
    );
}

/// The stage row, artifacts and metrics of the stage named `name`.
fn result_of(db: &Path, name: &str) -> (String, Vec<(String, String, String)>) {
    let key = stage_rows(db)
        .into_iter()
        .find(|(_, n)| n == name)
        .unwrap_or_else(|| panic!("no stage row for {name}"))
        .0;
    let arts = artifact_hashes(db)
        .into_iter()
        .filter(|(k, _, _)| *k == key)
        .collect();
    (key, arts)
}

fn running_execution(db: &Path, key: &str) -> bool {
    let Ok(c) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return false;
    };
    c.query_row(
        "SELECT COUNT(*) FROM executions WHERE key = ?1 AND status = 'running'",
        [key],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
    .unwrap_or(false)
}

#[test]
fn a_forced_run_deletes_nothing_until_its_new_result_commits() {
    let tmp = tempfile::tempdir().unwrap();
    write_ml_spec(tmp.path(), &[1]);
    let o = mosx(tmp.path(), &["run", "ml.yaml", "-q"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let db = tmp.path().join("results/mosx.db");
    let before = result_of(&db, "ml_measure");
    let executions_before = executions(&db);

    // Killed while the forced stage runs (or, on a slow machine, whenever it ends first).
    let mut child = Command::new(bin())
        .args(["run", "ml.yaml", "-q", "--force", "ml_measure"])
        .current_dir(tmp.path())
        .env("MOSX_TEST_STAGE_DELAY_MS", "2000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !running_execution(&db, &before.0)
        && child.try_wait().unwrap().is_none()
        && t0.elapsed() < Duration::from_secs(120)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        result_of(&db, "ml_measure"),
        before,
        "a killed forced run left the old result"
    );
    assert_no_partial_rows(&db);

    let o = mosx(
        tmp.path(),
        &["run", "ml.yaml", "-q", "--force", "ml_measure"],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.contains("1 executed"), "{out}");
    // The measure is deterministic: the replaced result has the same key and artifacts.
    assert_eq!(result_of(&db, "ml_measure"), before);
    let count = |ex: &[(String, i64)]| {
        ex.iter()
            .find(|(k, _)| *k == before.0)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    assert_eq!(count(&executions(&db)), count(&executions_before) + 1);
    assert_no_partial_rows(&db);
}
