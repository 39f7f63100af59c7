//! The bad-input corpus (`tests/bad_inputs/NN_name/`): specs, data files, checkpoints,
//! templates, stores and command lines that must fail with a stated exit code and message,
//! never panic, and leave the store as it was.
//!
//! Each case folder holds a `case` file (`# what`, `args:`, `exit:`, `expect:`, optional
//! `setup:` and `store: none`) and the files it needs; they are copied over a fresh project
//! folder that has `data/tiny` (a 4-user RecBole dataset) and, unless `store: none`, a store
//! seeded by running `_seed/spec.yaml`. After the command:
//! * the exit code and the message fragment (stdout or stderr) are as stated, and nothing
//!   panicked;
//! * the store is byte-for-byte unchanged (SQLite's `-shm` index and an empty `-wal` aside),
//!   except when a `run` fails in a stage (exit 1): then the failure is recorded (a `runs`
//!   and an `executions` row), stages upstream of it that succeeded are cached, nothing that
//!   was cached changes, and the failed stage caches nothing;
//! * nothing was written through a symlink outside the project (`dangling-out`).

mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn corpus() -> PathBuf {
    repo().join("tests/bad_inputs")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// A project folder whose store holds the seed spec's results, built once.
fn seed() -> &'static Path {
    static SEED: OnceLock<PathBuf> = OnceLock::new();
    SEED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        copy_dir(&corpus().join("_data"), &dir.join("data"));
        std::fs::copy(corpus().join("_seed/spec.yaml"), dir.join("spec.yaml")).unwrap();
        let o = mosx(&dir, &["run", "spec.yaml", "-q"]);
        assert!(o.status.success(), "seed run failed: {:?}", text(&o));
        // Fold the WAL into the database file, so a later checkpoint has nothing to move.
        let c = rusqlite::Connection::open(dir.join("results/mosx.db")).unwrap();
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        drop(c);
        dir
    })
}

/// blake3 of every file under `dir` (SQLite's shared-memory index and an empty WAL aside).
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return out;
    }
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
                let h = blake3::hash(&std::fs::read(&p).unwrap()).to_hex();
                out.insert(name, h.to_string());
            }
        }
    }
    out
}

/// The cached results: stage, artifact and metric rows, and the object files.
type Results = (Vec<String>, BTreeMap<String, String>);

fn results(project: &Path) -> Results {
    let db = project.join("results/mosx.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    let mut rows = Vec::new();
    for sql in [
        "SELECT 'stage ' || name || ' ' || key || params || parts FROM stages ORDER BY key",
        "SELECT key || name || hash || size FROM artifacts ORDER BY key, name",
        "SELECT key || name || quote(value) FROM metrics ORDER BY key, name",
    ] {
        let mut s = c.prepare(sql).unwrap();
        let r: Vec<String> = s
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.extend(r);
    }
    (rows, snapshot(&project.join("results/objects")))
}

struct Case {
    name: String,
    what: String,
    args: Vec<String>,
    exit: i32,
    expect: String,
    setup: Option<String>,
    store: bool,
}

fn read_case(dir: &Path) -> Case {
    let text = std::fs::read_to_string(dir.join("case")).unwrap();
    let mut c = Case {
        name: dir.file_name().unwrap().to_string_lossy().into_owned(),
        what: String::new(),
        args: Vec::new(),
        exit: -1,
        expect: String::new(),
        setup: None,
        store: true,
    };
    for line in text.lines() {
        if let Some(w) = line.strip_prefix("# ") {
            c.what = w.to_string();
        } else if let Some((k, v)) = line.split_once(": ") {
            match k {
                "args" => {
                    c.args = v
                        .split_whitespace()
                        .map(|a| if a == "\"\"" { String::new() } else { a.into() })
                        .collect()
                }
                "exit" => c.exit = v.trim().parse().unwrap(),
                "expect" => c.expect = v.to_string(),
                "setup" => c.setup = Some(v.trim().to_string()),
                "store" => c.store = v.trim() != "none",
                _ => panic!("{}: unknown key `{k}`", dir.display()),
            }
        }
    }
    assert!(
        !c.args.is_empty() && c.exit >= 0 && !c.expect.is_empty(),
        "{}: incomplete case",
        dir.display()
    );
    c
}

fn setup(project: &Path, what: &str) {
    let db = project.join("results/mosx.db");
    match what {
        // Change an inline artifact's bytes behind the store's back (size kept).
        "corrupt-inline" => {
            let c = rusqlite::Connection::open(&db).unwrap();
            let n = c
                .execute(
                    "UPDATE artifacts SET inline = X'00' || substr(inline, 2)
                      WHERE rowid = (SELECT MIN(rowid) FROM artifacts WHERE inline IS NOT NULL)",
                    [],
                )
                .unwrap();
            assert_eq!(n, 1);
        }
        "garbage-db" => {
            std::fs::write(&db, vec![b'x'; 4096]).unwrap();
            for side in ["mosx.db-wal", "mosx.db-shm"] {
                let _ = std::fs::remove_file(project.join("results").join(side));
            }
        }
        // A folder inside the project that is a symlink to the root of the file system.
        "symlink-out" => {
            std::os::unix::fs::symlink("/", project.join("outlink")).unwrap();
        }
        // A report output that is a dangling symlink to a file outside the project (writing
        // through it would create the file there; see `outside_target`).
        "dangling-out" => {
            std::fs::create_dir_all(project.join("reports")).unwrap();
            std::os::unix::fs::symlink(outside_target(project), project.join("reports/evil.md"))
                .unwrap();
        }
        // A folder inside the project that is a symlink to the system's temporary folder.
        "symlink-parent" => {
            std::os::unix::fs::symlink(std::env::temp_dir(), project.join("shared")).unwrap();
        }
        // A stage name holding a newline and a right-to-left override, as an old store (or a
        // hand edit) may have: `ls`/`show` must print it escaped, on its own line.
        "forge-name" => {
            let c = rusqlite::Connection::open(&db).unwrap();
            let n = c
                .execute(
                    "UPDATE stages SET name = 'ml_load' || char(8238) || char(10) || 'FAILED x'
                      WHERE name = 'ml_load'",
                    [],
                )
                .unwrap();
            assert_eq!(n, 1);
        }
        // What an older build's store copied without its `-wal` looked like: the file in WAL
        // mode, its schema still in the log that was left behind.
        "drop-wal" => {
            for side in ["mosx.db", "mosx.db-wal", "mosx.db-shm"] {
                let _ = std::fs::remove_file(project.join("results").join(side));
            }
            let c = rusqlite::Connection::open(&db).unwrap();
            let _: String = c
                .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
                .unwrap();
        }
        "schema-99" => {
            let c = rusqlite::Connection::open(&db).unwrap();
            c.pragma_update(None, "user_version", 99).unwrap();
        }
        other => panic!("unknown setup `{other}`"),
    }
}

/// Where the `dangling-out` symlink points: a file in a folder beside the project that
/// nothing creates (mosx must not).
fn outside_target(project: &Path) -> PathBuf {
    PathBuf::from(format!("{}-outside/evil.md", project.display()))
}

/// The case folders of the corpus, in name order.
fn case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("case").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// A fresh project for case `c` (folder `dir`): the data, the seeded store unless
/// `store: none`, the case's own files (all but `case`), then its `setup`.
fn prepare_project(dir: &Path, c: &Case, project: &Path) {
    copy_dir(&corpus().join("_data"), &project.join("data"));
    if c.store {
        copy_dir(&seed().join("results"), &project.join("results"));
    }
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_name() == "case" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &project.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), project.join(e.file_name())).unwrap();
        }
    }
    if let Some(s) = &c.setup {
        setup(project, s);
    }
}

/// Whether the case is a `run` that fails in a stage (exit 1, not a dry run).
fn is_stage_failure(c: &Case) -> bool {
    c.exit == 1
        && c.args.first().map(String::as_str) == Some("run")
        && !c.args.iter().any(|a| a == "--dry-run")
}

/// What is wrong with the exit code and the output (`all`: stdout then stderr), and whether
/// anything was written through a symlink outside the project.
fn output_problems(c: &Case, code: Option<i32>, all: &str, project: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    if code != Some(c.exit) {
        problems.push(format!("exit {code:?}, expected {}", c.exit));
    }
    if !all.contains(&c.expect) {
        problems.push(format!("no `{}` in the output", c.expect));
    }
    if all.contains("panicked") {
        problems.push("panicked".into());
    }
    if outside_target(project).parent().unwrap().exists() {
        problems.push("wrote through the symlink, outside the project".into());
    }
    problems
}

/// After a run that failed in a stage: upstream stages that succeeded may add results;
/// nothing that was cached changes, and the failed stage caches nothing.
fn stage_failure_problems(before: Results, project: &Path, err: &str) -> Vec<String> {
    let (rows, objects) = before;
    let mut problems = Vec::new();
    let (rows2, objects2) = results(project);
    if rows.iter().any(|r| !rows2.contains(r))
        || objects.iter().any(|(k, v)| objects2.get(k) != Some(v))
    {
        problems.push("cached results changed".into());
    }
    let failed: Vec<&str> = err
        .lines()
        .filter_map(|l| l.trim().strip_prefix("FAILED "))
        .filter_map(|l| l.split(':').next())
        .collect();
    if failed.is_empty() {
        problems.push("no stage FAILED line".into());
    }
    for f in failed {
        let new = rows2.iter().filter(|r| !rows.contains(r));
        if new.clone().any(|r| r.starts_with(&format!("stage {f} "))) {
            problems.push(format!("failed stage {f} has a cached result"));
        }
    }
    problems
}

/// Runs the case in folder `dir` on a fresh project: `None` if it behaved as stated, else
/// what went wrong, with its output.
fn check_case(dir: &Path) -> Option<String> {
    let c = read_case(dir);
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path();
    prepare_project(dir, &c, project);
    let before = snapshot(&project.join("results"));
    let before_results = is_stage_failure(&c).then(|| results(project));
    let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
    let o = mosx(project, &args);
    let (out, err) = text(&o);
    let mut problems = output_problems(&c, o.status.code(), &format!("{out}{err}"), project);
    match before_results {
        Some(before_results) => {
            problems.extend(stage_failure_problems(before_results, project, &err));
        }
        None => {
            if before != snapshot(&project.join("results")) {
                problems.push("store changed".into());
            }
        }
    }
    (!problems.is_empty()).then(|| {
        format!(
            "{} ({}): {}\n--- stdout\n{out}--- stderr\n{err}",
            c.name,
            c.what,
            problems.join("; ")
        )
    })
}

#[test]
fn bad_inputs_fail_as_stated_and_leave_the_store_unchanged() {
    let dirs = case_dirs();
    assert!(dirs.len() >= 40, "only {} cases", dirs.len());
    let failures: Vec<String> = dirs.iter().filter_map(|dir| check_case(dir)).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}
