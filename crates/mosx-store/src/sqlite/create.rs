//! Creating a SQLite store atomically, and telling what a database file that holds no schema is.
//!
//! Invariants:
//! - a store file never exists without its schema: a new store is built in a temp file in the
//!   same folder (`.<name>.new.<host>.<pid>.<nanos>`, rollback journal, so the schema is in
//!   the file itself, then switched to WAL and closed), fsynced, and hard-linked to its name,
//!   which fails rather than replaces when another process created the store first (then
//!   that store is used; a file system without hard links gets a rename instead, checked
//!   first but not atomically against a concurrent creator); a kill at any point leaves either
//!   no store or a complete empty one, and maybe a temp file naming the host and process that
//!   left it, removed by the next writable open on that host once the process is gone;
//! - a database file without a schema (`user_version` 0, no table) is *no store* for every
//!   command (read-only commands say so, writing commands create the schema in it, as a
//!   creation an older build left half done), except when it is in WAL mode and its `-wal`
//!   file is missing: a store copied without its write-ahead log, which is an error that says
//!   so, never an empty store;
//! - a store path that is a folder is refused by name before anything is created.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::schema::migrate;
use crate::error::{SqlCtx, StoreError, StoreLocation};
use crate::liveness::{hostname, pid_alive};
use crate::objects::host_tag;

/// Create the store file `db` (with its schema) unless it exists; the folder must exist.
pub(super) fn create_if_absent(db: &Path, loc: &StoreLocation) -> Result<(), StoreError> {
    if db.exists() {
        return Ok(());
    }
    let dir = db.parent().unwrap_or(Path::new("/"));
    let io = |path: &Path, context: &str, cause: std::io::Error| StoreError::Io {
        db: loc.clone(),
        path: path.to_path_buf(),
        context: context.into(),
        cause,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, "create the store's folder", e))?;
    let tmp = temp_name(db);
    let built = build(&tmp, loc).and_then(|()| {
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| io(&tmp, "sync the new store file", e))
    });
    let linked = built.and_then(|()| match std::fs::hard_link(&tmp, db) {
        Ok(()) => Ok(()),
        // Another process created the store first: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        // A file system without hard links: rename, unless a store appeared meanwhile.
        Err(_) if !db.exists() => {
            std::fs::rename(&tmp, db).map_err(|e| io(db, "move the new store file into place", e))
        }
        Err(_) => Ok(()),
    });
    remove_temp(&tmp);
    linked?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// `.<name>.new.<host>.`: the start of this host's temp files for `db`.
fn temp_prefix(db: &Path) -> String {
    let name = db
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "mosx.db".into());
    format!(".{name}.new.{}.", host_tag(&hostname()))
}

/// `<dir>/.<name>.new.<host>.<pid>.<nanos>`.
fn temp_name(db: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    db.with_file_name(format!("{}{}.{nanos}", temp_prefix(db), std::process::id()))
}

/// Remove the temp files of creations of `db` that a process of this host, now gone, left
/// (killed while creating). Best effort: a file that cannot be removed stays.
pub(super) fn remove_stale_temps(db: &Path) {
    let (Some(dir), prefix) = (db.parent(), temp_prefix(db)) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let pid = rest.split('.').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !pid_alive(p)) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn remove_temp(tmp: &Path) {
    let _ = std::fs::remove_file(tmp);
    for side in ["-journal", "-wal", "-shm"] {
        let mut p = tmp.as_os_str().to_os_string();
        p.push(side);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// The schema in a fresh file, in the file itself (rollback journal), then the file switched to
/// WAL and closed (a clean close leaves no `-wal`).
fn build(tmp: &Path, loc: &StoreLocation) -> Result<(), StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(tmp, flags).ctx(loc, || "create database".into())?;
    migrate(&mut conn, loc)?;
    let _: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .ctx(loc, || "set PRAGMA journal_mode = WAL".into())?;
    conn.close()
        .map_err(|(_, e)| e)
        .ctx(loc, || "close the new database".into())
}

/// A store path that is a folder: refused by name.
pub(super) fn refuse_folder(db: &Path, loc: &StoreLocation) -> Result<(), StoreError> {
    if db.is_dir() {
        return Err(StoreError::BadLocation {
            location: loc.to_string(),
            reason: format!(
                "this is a folder; a SQLite store is a file, e.g. --store {}",
                db.join("mosx.db").display()
            ),
        });
    }
    Ok(())
}

/// What a database file with `user_version` 0 is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Schemaless {
    /// It holds tables: an old, unversioned layout (migration decides).
    HasTables,
    /// No table: a creation left half done, or an empty file: no store.
    Empty,
    /// No table, WAL mode, and no `-wal` beside it: copied without its write-ahead log.
    MissingWal,
}

/// Classify a database whose `user_version` is 0 (reads only).
/// `wal_absent` is [`wal_absent`] taken before the connection opened (opening creates a `-wal`).
pub(super) fn schemaless(
    conn: &Connection,
    wal_absent: bool,
    loc: &StoreLocation,
) -> Result<Schemaless, StoreError> {
    let tables: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .ctx(loc, || "read the schema".into())?;
    if tables > 0 {
        return Ok(Schemaless::HasTables);
    }
    Ok(if wal_absent {
        Schemaless::MissingWal
    } else {
        Schemaless::Empty
    })
}

/// Whether `db` is in WAL mode with no `-wal` beside it, or one without a frame (shorter than
/// its 32-byte header: what a reader's open creates): what a clean close leaves, and what a copy
/// without the log looks like.
pub(super) fn wal_absent(db: &Path) -> bool {
    in_wal_mode(db) && std::fs::metadata(wal_file(db)).map_or(true, |m| m.len() < 32)
}

/// `<db>-wal`.
pub(super) fn wal_file(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_os_string();
    p.push("-wal");
    PathBuf::from(p)
}

/// Whether the file header says WAL (bytes 18 and 19 are 2).
fn in_wal_mode(db: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 20];
    std::fs::File::open(db)
        .and_then(|mut f| f.read_exact(&mut head))
        .map(|()| head[18] == 2 && head[19] == 2)
        .unwrap_or(false)
}

/// The error for [`Schemaless::MissingWal`].
pub(super) fn missing_wal(db: &Path, loc: &StoreLocation) -> StoreError {
    StoreError::WalMissing {
        db: loc.clone(),
        wal: wal_file(db),
    }
}
