//! Shared helpers for the mosx-store integration tests, and the backend fixture that runs every
//! test body against both backends.
//!
//! `backend_tests!(a, b, ...)` instantiates `sqlite::a` and `postgres::a` for each test body
//! `fn a(fx: &Fixture)`. The PostgreSQL variants connect to `MOSX_TEST_POSTGRES` (a URL to a
//! database the tests may create schemas in; `tools/ci/postgres.sh` provides one) and run in a
//! fresh schema each, dropped afterwards; with the variable unset they print one
//! "skipped: MOSX_TEST_POSTGRES not set" line and pass; set but unreachable, they fail.
//!
//! The fixture also stands in for what the tests used to do with a raw SQLite connection: run
//! SQL against the store's tables (`exec`, `rows`, `int`), count committed writes
//! (`write_count`), make a lease holder dead (`kill_lease_holder`) and move the schema version.
#![allow(dead_code)]
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use mosx_store::{Artifact, RunId, StageRecord, Store, StoreError};
use serde_json::json;
use sqlx::{Column, Connection, Row, TypeInfo};

/// Instantiate each named test body `fn name(fx: &Fixture)` once per backend.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(&$crate::common::Fixture::sqlite());
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    if let Some(fx) = $crate::common::Fixture::postgres() {
                        super::$name(&fx);
                    }
                }
            )*
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One store location for one test: a SQLite file in a temp dir, or a fresh PostgreSQL schema
/// (objects in the temp dir either way).
pub struct Fixture {
    pub backend: Backend,
    dir: tempfile::TempDir,
    location: String,
    objects: PathBuf,
    pg: Option<PgAdmin>,
    /// SQLite: one outside connection kept open, so `data_version` can be compared.
    outside: Mutex<Option<rusqlite::Connection>>,
}

/// The test's own connection to its PostgreSQL schema.
struct PgAdmin {
    rt: tokio::runtime::Runtime,
    conn: Mutex<Option<sqlx::PgConnection>>,
    schema: String,
    triggers: Mutex<bool>,
}

static SCHEMAS: AtomicUsize = AtomicUsize::new(0);

impl Fixture {
    pub fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().join("store.db").to_str().unwrap().to_string();
        let objects = dir.path().join("objects");
        Fixture {
            backend: Backend::Sqlite,
            dir,
            location,
            objects,
            pg: None,
            outside: Mutex::new(None),
        }
    }

    /// None (after printing the skip line) when `MOSX_TEST_POSTGRES` is unset.
    pub fn postgres() -> Option<Fixture> {
        let Ok(base) = std::env::var("MOSX_TEST_POSTGRES") else {
            // CI sets MOSX_TEST_SERVICES=required: there a missing server is a failure, not a skip.
            assert!(
                std::env::var_os("MOSX_TEST_SERVICES").is_none_or(|v| v != "required"),
                "MOSX_TEST_SERVICES=required but MOSX_TEST_POSTGRES is not set"
            );
            println!("skipped: MOSX_TEST_POSTGRES not set");
            return None;
        };
        let schema = format!(
            "mosx_test_{}_{}",
            std::process::id(),
            SCHEMAS.fetch_add(1, Ordering::Relaxed)
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let conn = rt.block_on(async {
            let mut c = sqlx::PgConnection::connect(&base)
                .await
                .unwrap_or_else(|e| {
                    panic!("MOSX_TEST_POSTGRES is set but the database cannot be reached: {e}")
                });
            for sql in [
                format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
                format!("CREATE SCHEMA {schema}"),
                format!("SET search_path TO {schema}"),
            ] {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
            c
        });
        let sep = if base.contains('?') { '&' } else { '?' };
        let location = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        let dir = tempfile::tempdir().unwrap();
        let objects = dir.path().join("objects");
        Some(Fixture {
            backend: Backend::Postgres,
            dir,
            location,
            objects,
            pg: Some(PgAdmin {
                rt,
                conn: Mutex::new(Some(conn)),
                schema,
                triggers: Mutex::new(false),
            }),
            outside: Mutex::new(None),
        })
    }

    pub fn is_sqlite(&self) -> bool {
        self.backend == Backend::Sqlite
    }

    /// The location string `mosx_store::open` takes.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// What an error about this store must name: the file name or the schema.
    pub fn tag(&self) -> String {
        match &self.pg {
            None => "store.db".into(),
            Some(pg) => pg.schema.clone(),
        }
    }

    /// The objects folder (for SQLite the default one beside the database).
    pub fn objects(&self) -> &Path {
        &self.objects
    }

    /// The temp dir holding the SQLite file and the objects folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What `open` gets as `objects`: required for PostgreSQL, the default for SQLite.
    pub fn objects_arg(&self) -> Option<&Path> {
        match self.backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(&self.objects),
        }
    }

    pub fn open(&self) -> Arc<dyn Store> {
        mosx_store::open(&self.location, self.objects_arg())
            .unwrap_or_else(|e| panic!("open {}: {e}", self.location))
    }

    pub fn try_open(&self) -> Result<Arc<dyn Store>, StoreError> {
        mosx_store::open(&self.location, self.objects_arg())
    }

    pub fn open_read_only(&self) -> Result<Arc<dyn Store>, StoreError> {
        mosx_store::open_read_only(&self.location, self.objects_arg())
    }

    fn with_pg<T>(&self, f: impl AsyncFnOnce(&mut sqlx::PgConnection) -> T) -> T {
        let pg = self.pg.as_ref().unwrap();
        let mut guard = pg.conn.lock().unwrap();
        let conn = guard.as_mut().unwrap();
        pg.rt.block_on(f(conn))
    }

    /// Run SQL statements (no parameters) against the store's tables.
    pub fn exec(&self, sql: &str) {
        match self.backend {
            Backend::Sqlite => rusqlite::Connection::open(&self.location)
                .unwrap()
                .execute_batch(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            Backend::Postgres => self.with_pg(async |c| {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                    .execute(c)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }),
        }
    }

    /// Rows of a query, every value as text (NULL as "NULL", booleans as 1/0, blobs as hex).
    pub fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        match self.backend {
            Backend::Sqlite => {
                let c = rusqlite::Connection::open(&self.location).unwrap();
                let mut stmt = c.prepare(sql).unwrap();
                let n = stmt.column_count();
                let rows = stmt
                    .query_map([], |r| {
                        (0..n)
                            .map(|i| {
                                Ok(match r.get_ref(i)? {
                                    rusqlite::types::ValueRef::Null => "NULL".to_string(),
                                    rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                                    rusqlite::types::ValueRef::Real(v) => v.to_string(),
                                    rusqlite::types::ValueRef::Text(t) => {
                                        String::from_utf8_lossy(t).into_owned()
                                    }
                                    rusqlite::types::ValueRef::Blob(b) => hex(b),
                                })
                            })
                            .collect::<rusqlite::Result<Vec<String>>>()
                    })
                    .unwrap();
                rows.map(Result::unwrap).collect()
            }
            Backend::Postgres => self.with_pg(async |c| {
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                    .fetch_all(c)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                rows.iter()
                    .map(|r| {
                        (0..r.columns().len())
                            .map(|i| pg_text(r, i))
                            .collect::<Vec<String>>()
                    })
                    .collect()
            }),
        }
    }

    /// The one integer a query answers.
    pub fn int(&self, sql: &str) -> i64 {
        let rows = self.rows(sql);
        rows[0][0]
            .parse()
            .unwrap_or_else(|e| panic!("{sql}: {:?}: {e}", rows[0][0]))
    }

    /// `(run_id, pid)` of the lease row of `key`.
    pub fn lease_row(&self, key: &str) -> Option<(i64, i64)> {
        self.rows(&format!(
            "SELECT run_id, pid FROM leases WHERE key = '{key}'"
        ))
        .first()
        .map(|r| (r[0].parse().unwrap(), r[1].parse().unwrap()))
    }

    /// Make the holder of `key`'s lease dead: SQLite records a pid that has exited; PostgreSQL
    /// terminates the database session holding the lease's lock (the whole lease session of
    /// that store, as a killed process or a lost connection would).
    pub fn kill_lease_holder(&self, key: &str) {
        match self.backend {
            Backend::Sqlite => self.exec(&format!(
                "UPDATE leases SET pid = {} WHERE key = '{key}'",
                dead_pid()
            )),
            Backend::Postgres => {
                let n = self.int(&format!(
                    "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(p.pid, 10000)
                       FROM pg_locks p JOIN leases l ON l.key = '{key}'
                      WHERE p.locktype = 'advisory' AND p.granted AND p.objsubid = 1
                        AND p.classid::bigint = ((l.lock_id >> 32) & 4294967295)
                        AND p.objid::bigint = (l.lock_id & 4294967295)) t"
                ));
                assert_eq!(n, 1, "one session holds the lease of {key}");
            }
        }
    }

    /// The schema version recorded in the database.
    pub fn schema_version(&self) -> i64 {
        match self.backend {
            Backend::Sqlite => rusqlite::Connection::open(&self.location)
                .unwrap()
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .unwrap(),
            Backend::Postgres => self.int("SELECT MAX(version) FROM _sqlx_migrations"),
        }
    }

    /// Record schema version `v` as applied, as a newer build would.
    pub fn fake_newer_schema(&self, v: i64) {
        match self.backend {
            Backend::Sqlite => self.exec(&format!("PRAGMA user_version = {v}")),
            Backend::Postgres => self.exec(&format!(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
                 VALUES ({v}, 'future', true, '\\x00', 0)"
            )),
        }
    }

    /// Turn the store into exactly what a v1 build leaves (v2 only added `object_stat`, v3
    /// `job_attempts`).
    pub fn downgrade_to_v1(&self) {
        match self.backend {
            Backend::Sqlite => self
                .exec("DROP TABLE job_attempts; DROP TABLE object_stat; PRAGMA user_version = 1;"),
            Backend::Postgres => self.exec(
                "DROP TABLE job_attempts; DROP TABLE object_stat;
                 DELETE FROM _sqlx_migrations WHERE version IN (2, 3)",
            ),
        }
    }

    /// A number that changes iff a write was committed to the store's tables since the last
    /// call: SQLite's `data_version` seen by an outside connection; on PostgreSQL a row counter
    /// fed by triggers on every store table (installed on the first call, after the store was
    /// opened).
    pub fn write_count(&self) -> i64 {
        match self.backend {
            Backend::Sqlite => {
                let mut o = self.outside.lock().unwrap();
                let c =
                    o.get_or_insert_with(|| rusqlite::Connection::open(&self.location).unwrap());
                c.pragma_query_value(None, "data_version", |r| r.get(0))
                    .unwrap()
            }
            Backend::Postgres => {
                let pg = self.pg.as_ref().unwrap();
                let mut installed = pg.triggers.lock().unwrap();
                if !*installed {
                    let mut sql = String::from(
                        "CREATE TABLE write_log (n BIGSERIAL);
                         CREATE FUNCTION log_write() RETURNS trigger LANGUAGE plpgsql AS
                           $$ BEGIN INSERT INTO write_log DEFAULT VALUES; RETURN NULL; END $$;",
                    );
                    for t in [
                        "runs",
                        "stages",
                        "artifacts",
                        "metrics",
                        "leases",
                        "executions",
                        "lineage",
                        "object_stat",
                    ] {
                        sql.push_str(&format!(
                            "CREATE TRIGGER log_{t} AFTER INSERT OR UPDATE OR DELETE ON {t}
                               FOR EACH ROW EXECUTE FUNCTION log_write();"
                        ));
                    }
                    self.exec(&sql);
                    *installed = true;
                }
                self.int("SELECT COUNT(*) FROM write_log")
            }
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(pg) = &self.pg {
            let conn = pg.conn.lock().unwrap().take();
            if let Some(mut c) = conn {
                let schema = pg.schema.clone();
                pg.rt.block_on(async {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE"
                    )))
                    .execute(&mut c)
                    .await;
                    let _ = c.close().await;
                });
            }
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn pg_text(r: &sqlx::postgres::PgRow, i: usize) -> String {
    let ty = r.column(i).type_info().name().to_string();
    let s = match ty.as_str() {
        "INT8" => r
            .try_get::<Option<i64>, _>(i)
            .map(|v| v.map(|x| x.to_string())),
        "INT4" => r
            .try_get::<Option<i32>, _>(i)
            .map(|v| v.map(|x| x.to_string())),
        "INT2" => r
            .try_get::<Option<i16>, _>(i)
            .map(|v| v.map(|x| x.to_string())),
        "FLOAT8" => r
            .try_get::<Option<f64>, _>(i)
            .map(|v| v.map(|x| x.to_string())),
        "BOOL" => r
            .try_get::<Option<bool>, _>(i)
            .map(|v| v.map(|x| (x as i32).to_string())),
        "BYTEA" => r
            .try_get::<Option<Vec<u8>>, _>(i)
            .map(|v| v.map(|x| hex(&x))),
        _ => r.try_get::<Option<String>, _>(i),
    };
    s.unwrap_or_else(|e| panic!("column {i} ({ty}): {e}"))
        .unwrap_or_else(|| "NULL".into())
}

/// A pid that belonged to a process that has exited.
pub fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// A run of `mosx run SPEC` on this host and process, as the store records it.
#[allow(dead_code)]
pub fn run_info(spec_path: &str) -> mosx_store::RunInfo {
    mosx_store::RunInfo {
        spec_path: spec_path.into(),
        spec_hash: "h".into(),
        argv: format!("mosx run {spec_path}"),
        mosx_version: "0".into(),
        git_commit: None,
        git_dirty: false,
        host: hostname(),
        device: "cpu".into(),
        pid: std::process::id(),
    }
}

/// This machine's host name.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    assert_eq!(rc, 0);
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).trim().to_string()
}

/// The host name as it appears in temp file names.
pub fn host_tag() -> String {
    hostname()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

pub fn key(i: usize) -> String {
    blake3::hash(format!("key-{i}").as_bytes())
        .to_hex()
        .to_string()
}

pub fn rec(key: &str, run: RunId) -> StageRecord {
    StageRecord {
        key: key.to_string(),
        kind: "train".into(),
        name: format!("train/{}", &key[..8.min(key.len())]),
        params: json!({"lr": 0.001, "epochs": 3}),
        parts: json!({"code": "abc", "data": "def"}),
        started_at: 1_700_000_000.25,
        finished_at: 1_700_000_010.75,
        duration_ms: 10_500,
        run_id: run,
        mosx_version: "0.1.0".into(),
        git_commit: Some("deadbeef".into()),
        git_dirty: true,
        host: "testhost".into(),
        device: "cpu".into(),
        seed: Some(42),
        spec_hash: "spec".into(),
    }
}

pub fn art(name: &str, bytes: Vec<u8>) -> Artifact {
    Artifact {
        name: name.to_string(),
        format: "bin".into(),
        bytes,
    }
}

/// Deterministic pseudo-random bytes (so a large artifact is not trivially compressible).
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub const BIG: usize = 300 * 1024;
