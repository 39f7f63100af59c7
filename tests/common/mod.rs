//! Helpers for the CLI tests: run the real `mosx` binary in a temp dir against the
//! fetched ML-100K data (`make data`).
//!
//! Stages that need libtorch run in the stage worker `target/release/mosx-worker`, which
//! `cargo test --release --workspace` builds (its crate has integration tests). Running one
//! root test alone (`-p mosx --test NAME`) after editing sources needs the worker rebuilt
//! first (`cargo build --release -p mosx-worker`): a stale worker refuses the jobs, naming the
//! code unit it runs differently.
#![allow(dead_code)]

pub mod cluster;
pub mod ml1m;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mosx")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn ml_data() -> PathBuf {
    let p = repo().join("data/ml-100k");
    assert!(
        p.join("ml-100k.inter").exists(),
        "ML-100K missing under {}: run `make data`",
        p.display()
    );
    p
}

/// A small spec on ML-100K: load → sample → split → measure, `seeds` sweep points.
pub fn write_ml_spec(dir: &Path, seeds: &[u64]) -> PathBuf {
    let seeds: Vec<String> = seeds.iter().map(|s| s.to_string()).collect();
    let text = format!(
        r#"name: ml
vars:
  seed: 0
stages:
  ml_load:
    kind: load
    params: {{ path: "{data}" }}
  ml_sample:
    kind: sample
    inputs: {{ dataset: ml_load }}
    params: {{ windows: 2000, seed: "${{seed}}" }}
  ml_split:
    kind: split
    inputs: {{ sequences: ml_sample }}
    params: {{ seed: "${{seed}}" }}
  ml_measure:
    kind: measure
    inputs: {{ split: ml_split }}
    params: {{ z_star: 1.0 }}
sweep:
  seeds: [{seeds}]
"#,
        data = ml_data().display(),
        seeds = seeds.join(", ")
    );
    let path = dir.join("ml.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The tiny random backbone at `<dir>/tiny`, its tokenizer knowing ML-100K's titles.
pub fn tiny_model(dir: &Path) -> PathBuf {
    tiny_model_for(dir, &ml_data())
}

/// The tiny random backbone at `<dir>/tiny`, its tokenizer knowing the titles of the dataset
/// folder `data`.
pub fn tiny_model_for(dir: &Path, data: &Path) -> PathBuf {
    tiny_model_arch(dir, "tiny", "gemma3", data)
}

/// A tiny random checkpoint of `arch` (`mosx tiny-model --arch`) at `<dir>/<name>`, its
/// tokenizer knowing the titles of the dataset folder `data`.
pub fn tiny_model_arch(dir: &Path, name: &str, arch: &str, data: &Path) -> PathBuf {
    let model = dir.join(name);
    let o = mosx(
        dir,
        &[
            "tiny-model",
            model.to_str().unwrap(),
            "--arch",
            arch,
            "--data",
            data.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{arch}: {:?}", text(&o));
    model
}

pub fn mosx(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run mosx")
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Metric `name` of the stage named `stage` (NaN when stored as null).
pub fn stage_metric(db: &Path, stage: &str, name: &str) -> f64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(
        "SELECT m.value FROM metrics m JOIN stages s ON s.key = m.key WHERE s.name = ?1 AND m.name = ?2",
        [stage, name],
        |r| r.get::<_, Option<f64>>(0),
    )
    .unwrap_or_else(|e| panic!("{stage}.{name}: {e}"))
    .unwrap_or(f64::NAN)
}

/// The key of the stage named `name`.
pub fn stage_key(db: &Path, name: &str) -> String {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row("SELECT key FROM stages WHERE name = ?1", [name], |r| {
        r.get(0)
    })
    .unwrap()
}

/// `(key, ok executions)` for every key that was ever executed.
pub fn executions(db: &Path) -> Vec<(String, i64)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut s = c
        .prepare("SELECT key, SUM(status = 'ok') FROM executions GROUP BY key ORDER BY key")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// `(key, name)` of every stage row.
pub fn stage_rows(db: &Path) -> Vec<(String, String)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut s = c
        .prepare("SELECT key, name FROM stages ORDER BY key")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Every (key, metric, value) — the observable outputs of a run.
pub fn metrics(db: &Path) -> Vec<(String, String, Option<f64>)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut s = c
        .prepare("SELECT key, name, value FROM metrics ORDER BY key, name")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// `(key, artifact, hash)` of every artifact.
pub fn artifact_hashes(db: &Path) -> Vec<(String, String, String)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut s = c
        .prepare("SELECT key, name, hash FROM artifacts ORDER BY key, name")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The store file has its whole schema (a store file never exists without it: creation is
/// atomic). Reads only: opened read-only, never created.
pub fn assert_store_whole(db: &Path) {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("open {}: {e}", db.display()));
    let version: i64 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(
        version,
        mosx_store::SCHEMA_VERSION,
        "{} exists without its schema",
        db.display()
    );
}

/// Every stage row has its artifacts, and every file artifact exists with its size.
pub fn assert_no_partial_rows(db: &Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    let orphans: i64 = c
        .query_row("SELECT COUNT(*) FROM stages s WHERE NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.key = s.key)", [], |r| r.get(0))
        .unwrap();
    assert_eq!(orphans, 0, "stage rows without artifacts");
    let objects = db.parent().unwrap().join("objects");
    let mut s = c
        .prepare("SELECT path, size FROM artifacts WHERE path IS NOT NULL")
        .unwrap();
    let rows: Vec<(String, i64)> = s
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (p, size) in rows {
        let f = objects.join(&p);
        let meta =
            std::fs::metadata(&f).unwrap_or_else(|_| panic!("object {} missing", f.display()));
        assert_eq!(
            meta.len() as i64,
            size,
            "object {} has the wrong size",
            f.display()
        );
    }
}
