//! Reports render from the cache alone; export writes tabular artifacts.

mod common;
use common::*;

fn key_of(dir: &std::path::Path, db: &str, name: &str) -> String {
    let c = rusqlite::Connection::open(dir.join(db)).unwrap();
    c.query_row("SELECT key FROM stages WHERE name = ?1", [name], |r| {
        r.get(0)
    })
    .unwrap()
}

#[test]
fn report_renders_from_cache_and_lists_missing_stages() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = repo().join("experiments/table3.yaml");
    let spec = spec.to_str().unwrap();
    let data = format!("vars.data={}", repo().join("data").display());
    let o = mosx(
        tmp.path(),
        &[
            "run",
            spec,
            "-q",
            "--set",
            &data,
            "--set",
            "vars.windows=2000",
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let table = tmp.path().join("results/table3.md");
    let first = std::fs::read_to_string(&table).unwrap();
    assert!(first.contains("| MovieLens-100K |"), "{first}");
    assert!(first.contains("male:female"), "{first}");
    assert!(first.contains("adult:teen 6:4 (60.0% / 40.0%)"), "{first}");

    // Regenerated from the cache only: same bytes, nothing executed.
    std::fs::remove_file(&table).unwrap();
    let o = mosx(
        tmp.path(),
        &["report", spec, "--set", &data, "--set", "vars.windows=2000"],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(std::fs::read_to_string(&table).unwrap(), first);
    assert_eq!(executions(&tmp.path().join("results/mosx.db")).len(), 8);

    // A parameter never run: the report refuses and names every missing stage.
    let o = mosx(
        tmp.path(),
        &["report", spec, "--set", &data, "--set", "vars.windows=1000"],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("6 stage(s) not in the cache"), "{err}");
    assert!(
        err.contains("ml_sample: param windows 2000 → 1000"),
        "{err}"
    );
}

#[test]
fn export_writes_item_table_and_sequences() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_ml_spec(tmp.path(), &[0]);
    assert!(mosx(tmp.path(), &["run", spec.to_str().unwrap(), "-q"])
        .status
        .success());
    let db = "results/mosx.db";

    let measure = key_of(tmp.path(), db, "ml_measure");
    let o = mosx(tmp.path(), &["export", &measure[..10], "--format", "csv"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    assert!(header.contains("title"), "{header}");
    assert_eq!(lines.count(), 1682, "one row per ML-100K item");
    assert!(
        out.contains("Toy Story (1995)"),
        "titles come from the upstream dataset"
    );
    // The item table is a stored artifact of the measure stage; JSON lines too.
    let o = mosx(
        tmp.path(),
        &[
            "export",
            &measure,
            "--artifact",
            "items",
            "--format",
            "jsonl",
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(out.lines().count(), 1682);
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert!(first.get("title").is_some(), "{first}");

    let sample = key_of(tmp.path(), db, "ml_sample");
    let o = mosx(
        tmp.path(),
        &["export", &sample, "--format", "jsonl", "-o", "seq.jsonl"],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let jsonl = std::fs::read_to_string(tmp.path().join("seq.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 2000);
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert!(first.get("label").is_some(), "{first}");

    let o = mosx(tmp.path(), &["export", "zzzz", "--format", "csv"]);
    assert_eq!(o.status.code(), Some(2));
}
