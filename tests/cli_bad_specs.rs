//! Every spec in tests/bad_specs/ must be rejected with exit code 2, the
//! `file:line:col` and field its first line announces (`# expect: L:C FIELD`),
//! and no store written.

mod common;
use common::*;

#[test]
fn bad_specs_exit_2_with_location_and_leave_no_store() {
    let dir = repo().join("tests/bad_specs");
    let mut seen = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text_in = std::fs::read_to_string(&path).unwrap();
        let first = text_in.lines().next().unwrap_or_default();
        let Some(expect) = first.strip_prefix("# expect: ") else {
            continue;
        };
        let (loc, field) = expect.trim().split_once(' ').unwrap_or((expect.trim(), ""));
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("store/mosx.db");
        let o = mosx(
            &repo(),
            &[
                "run",
                path.to_str().unwrap(),
                "--store",
                db.to_str().unwrap(),
            ],
        );
        let (out, err) = text(&o);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{}: exit {:?}\n{out}\n{err}",
            path.display(),
            o.status.code()
        );
        let want = format!("{}:{loc}:", path.display());
        assert!(
            err.contains(&want),
            "{}: expected `{want}` in:\n{err}",
            path.display()
        );
        assert!(
            err.contains(field.trim()),
            "{}: expected field `{field}` in:\n{err}",
            path.display()
        );
        assert!(
            !db.exists() && !tmp.path().join("store").exists(),
            "{}: store written",
            path.display()
        );
        seen += 1;
    }
    assert!(
        seen >= 8,
        "only {seen} bad specs found in {}",
        dir.display()
    );
}
