//! Read-only commands (`ls`, `show`, `report`, `run --dry-run`) write nothing to the store,
//! not even the verification memo; a rerun after a kill marks the dead run `interrupted`.

mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::Path;

/// blake3 of the store's files (SQLite's `-shm` index and an empty `-wal` aside).
fn snapshot(results: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![results.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.strip_prefix(results).unwrap().display().to_string();
            if p.is_dir() {
                stack.push(p);
            } else if name.ends_with("-shm")
                || name.ends_with(".md")
                || (name.ends_with("-wal") && std::fs::metadata(&p).unwrap().len() == 0)
            {
                continue;
            } else {
                out.insert(
                    name,
                    blake3::hash(&std::fs::read(&p).unwrap())
                        .to_hex()
                        .to_string(),
                );
            }
        }
    }
    out
}

#[test]
fn read_only_commands_write_nothing_not_even_the_memo() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_ml_spec(tmp.path(), &[0]);
    let mut text_in = std::fs::read_to_string(&spec).unwrap();
    text_in.push_str("report:\n  - template: r.md.j2\n    output: results/r.md\n");
    std::fs::write(&spec, text_in).unwrap();
    std::fs::create_dir_all(tmp.path().join("templates")).unwrap();
    std::fs::write(tmp.path().join("templates/r.md.j2"), "{{ spec.name }}\n").unwrap();
    let spec = spec.to_str().unwrap();
    let o = mosx(tmp.path(), &["run", spec, "-q"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let db = tmp.path().join("results/mosx.db");
    let objects: i64 = {
        let c = rusqlite::Connection::open(&db).unwrap();
        // Forget every verification memo: a writing check would record them again.
        c.execute("DELETE FROM object_stat", []).unwrap();
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        c.query_row(
            "SELECT COUNT(*) FROM artifacts WHERE path IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert!(
        objects > 0,
        "the spec should store at least one object file"
    );
    let before = snapshot(&tmp.path().join("results"));
    let key = stage_rows(&db)[0].0.clone();
    for args in [
        vec!["run", spec, "--dry-run", "--explain"],
        vec!["ls"],
        vec!["ls", "--failed"],
        vec!["show", &key[..10]],
        vec!["report", spec],
        vec!["dag", spec],
    ] {
        let o = mosx(tmp.path(), &args);
        assert!(o.status.success(), "{args:?}: {:?}", text(&o));
        assert_eq!(
            before,
            snapshot(&tmp.path().join("results")),
            "`mosx {}` changed the store",
            args.join(" ")
        );
    }
    let memos: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM object_stat", [], |r| r.get(0))
        .unwrap();
    assert_eq!(memos, 0, "a read-only command recorded a memo");
}
