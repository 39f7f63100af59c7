//! Creating a store: a store file never exists without its schema, a schemaless file or
//! migrations table is no store, a store path that is a folder and a store copied without its
//! `-wal` are refused by name.

#[macro_use]
mod common;

use std::sync::Arc;

use common::*;
use mosx_store::{Access, StoreError};

backend_tests!(an_empty_store_is_whole_and_schemaless_is_no_store);

/// On both backends: a fresh open has the whole schema; a "store" that holds only the
/// bookkeeping table of an interrupted creation is no store for the read-only and
/// existing-only openers, and the creating opener completes it.
fn an_empty_store_is_whole_and_schemaless_is_no_store(fx: &Fixture) {
    if fx.is_sqlite() {
        // A database file that a creation left without tables (an older build's, killed).
        let c = rusqlite::Connection::open(fx.location()).unwrap();
        c.pragma_update(None, "journal_mode", "DELETE").unwrap();
        c.execute_batch("VACUUM").unwrap();
        drop(c);
    } else {
        // sqlx creates its migrations table before the first migration's transaction.
        fx.exec(
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL,
               installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL,
               checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL)",
        );
    }
    assert!(
        matches!(
            fx.open_read_only().map(|_| ()),
            Err(StoreError::NoStore { .. })
        ),
        "read-only: a schemaless store is no store"
    );
    for access in [Access::ReadOnly, Access::ReadWrite] {
        let got = mosx_store::open_existing(fx.location(), fx.objects_arg(), access).unwrap();
        assert!(got.is_none(), "{access:?}: a schemaless store is no store");
    }
    let s = fx.open();
    drop(s);
    assert_eq!(fx.schema_version(), mosx_store::SCHEMA_VERSION);
    assert!(fx.open_read_only().is_ok());
}

#[test]
fn a_new_sqlite_store_has_its_schema_in_the_file_itself() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sub/mosx.db");
    let s = mosx_store::open(db.to_str().unwrap(), None).unwrap();
    // While the store is open (no checkpoint on close yet), a copy of the file alone is whole.
    let copy = dir.path().join("copy.db");
    std::fs::copy(&db, &copy).unwrap();
    let c = rusqlite::Connection::open(&copy).unwrap();
    let v: i64 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, mosx_store::SCHEMA_VERSION);
    let tables: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'stages'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 1);
    drop(s);
    let names: Vec<String> = std::fs::read_dir(db.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".mosx.db.new."))
        .collect();
    assert!(names.is_empty(), "temp files left: {names:?}");
}

#[test]
fn concurrent_creators_share_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(dir.path().join("mosx.db").to_str().unwrap().to_string());
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let db = db.clone();
            std::thread::spawn(move || {
                let s = mosx_store::open(&db, None).unwrap();
                s.begin_run(&run_info(&format!("s{i}.yaml"))).unwrap()
            })
        })
        .collect();
    let mut runs: Vec<i64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    runs.sort();
    runs.dedup();
    assert_eq!(runs.len(), 8, "every creator wrote into the same store");
}

#[test]
fn a_dead_creators_temp_file_is_removed_by_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mosx.db");
    let stale = dir
        .path()
        .join(format!(".mosx.db.new.{}.{}.1", host_tag(), dead_pid()));
    std::fs::write(&stale, b"half a database").unwrap();
    let live = dir.path().join(format!(
        ".mosx.db.new.{}.{}.1",
        host_tag(),
        std::process::id()
    ));
    std::fs::write(&live, b"being created").unwrap();
    drop(mosx_store::open(db.to_str().unwrap(), None).unwrap());
    assert!(!stale.exists(), "a dead creator's temp file is removed");
    assert!(live.exists(), "a live creator's temp file is kept");
}

#[test]
fn a_store_path_that_is_a_folder_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().to_str().unwrap();
    for e in [
        mosx_store::open(loc, None).map(|_| ()).unwrap_err(),
        mosx_store::open_read_only(loc, None)
            .map(|_| ())
            .unwrap_err(),
        mosx_store::open_existing(loc, None, Access::ReadWrite)
            .map(|_| ())
            .unwrap_err(),
    ] {
        let t = e.to_string();
        assert!(t.contains("is a folder") && t.contains("mosx.db"), "{t}");
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing created"
    );
}

#[test]
fn a_store_copied_without_its_wal_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mosx.db");
    // What an older build's store looks like with the log that held its schema left behind.
    let c = rusqlite::Connection::open(&db).unwrap();
    let _: String = c
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .unwrap();
    drop(c);
    let loc = db.to_str().unwrap();
    for e in [
        mosx_store::open_read_only(loc, None)
            .map(|_| ())
            .unwrap_err(),
        mosx_store::open(loc, None).map(|_| ()).unwrap_err(),
    ] {
        assert!(matches!(e, StoreError::WalMissing { .. }), "{e}");
        assert!(e.to_string().contains("mosx.db-wal"), "{e}");
    }
}
