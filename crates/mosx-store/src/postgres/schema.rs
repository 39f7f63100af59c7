//! The PostgreSQL schema: sqlx migrations embedded from `migrations/` (`<version>_<name>.sql`,
//! the same steps as SQLite's, so version N means the same tables on both backends), recorded
//! by sqlx in `_sqlx_migrations` of the store's schema.
//!
//! Invariants:
//! - the applied migrations are read before anything runs: a version newer than
//!   [`SCHEMA_VERSION`] is refused (`SchemaTooNew`), a migration that failed part-way or whose
//!   text differs from this build's is refused (a schema error naming the version);
//! - a writable open applies the missing migrations through sqlx's migrator, which holds a
//!   database-wide advisory lock while it checks and applies, so concurrent openers apply each
//!   step exactly once; when nothing is missing the migrator is not run at all;
//! - a read-only open never writes: a store older than this build is `SchemaTooOld`, a database
//!   without `_sqlx_migrations`, or with that table empty, is `NoStore`;
//! - a schema never exists half made: each migration is one transaction (sqlx), taken under the
//!   migrator's advisory lock; the table of applied migrations sqlx creates before the first
//!   one is not a store until a migration is recorded in it (a kill between the two leaves
//!   "no store", which the next writable open completes).

use sqlx::migrate::Migrator;
use sqlx::PgConnection;

use super::{Mode, PgCtx, Site};
use crate::error::{DbError, DbErrorKind, StoreError};
use crate::SCHEMA_VERSION;

pub(super) static MIGRATOR: Migrator = sqlx::migrate!();

/// An applied migration: version, whether it completed, its checksum.
type Applied = (i64, bool, Vec<u8>);

/// The rows of `_sqlx_migrations`, or None if the table does not exist.
async fn applied(conn: &mut PgConnection, site: &Site) -> Result<Option<Vec<Applied>>, StoreError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await
        .ctx(site, || "look for the migrations table".into())?;
    if !exists {
        return Ok(None);
    }
    let rows =
        sqlx::query_as("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await
            .ctx(site, || "read the applied migrations".into())?;
    Ok(Some(rows))
}

/// What is wrong with the applied migrations (empty if they are a prefix of this build's).
fn problems(applied: &[Applied]) -> Vec<String> {
    let mut out = Vec::new();
    for (version, success, checksum) in applied {
        if !success {
            out.push(format!(
                "migration {version} failed part-way; repair the schema by hand"
            ));
        }
        match MIGRATOR.iter().find(|m| m.version == *version) {
            Some(m) if m.checksum.as_ref() != checksum.as_slice() => out.push(format!(
                "migration {version} ({}) applied to the database differs from this build's",
                m.description
            )),
            Some(_) => {}
            None if *version <= SCHEMA_VERSION => {
                out.push(format!("migration {version} is unknown to this build"))
            }
            None => {}
        }
    }
    out
}

fn schema_error(site: &Site, context: &str, message: String) -> StoreError {
    StoreError::Database {
        db: site.loc.clone(),
        context: context.to_string(),
        cause: DbError {
            kind: DbErrorKind::Schema,
            code: None,
            message,
        },
    }
}

/// Check the schema version and, in a writable mode, bring the schema up to date.
pub(super) async fn prepare(
    conn: &mut PgConnection,
    site: &Site,
    mode: Mode,
) -> Result<(), StoreError> {
    debug_assert_eq!(
        MIGRATOR.iter().map(|m| m.version).max(),
        Some(SCHEMA_VERSION)
    );
    // An empty `_sqlx_migrations` (the migrator creates it before its first migration's
    // transaction) is no store, like no table at all.
    let found = applied(conn, site).await?.filter(|rows| !rows.is_empty());
    let Some(rows) = found else {
        return match mode {
            Mode::Create => run(conn, site).await,
            Mode::Existing | Mode::ReadOnly => Err(StoreError::NoStore {
                db: site.loc.clone(),
                what: "the database holds no mosx schema (no _sqlx_migrations table)".into(),
            }),
        };
    };
    let version = rows.iter().map(|r| r.0).max().unwrap_or(0);
    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            db: site.loc.clone(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    let bad = problems(&rows);
    if !bad.is_empty() {
        return Err(schema_error(site, "check the schema", bad.join("; ")));
    }
    let missing = MIGRATOR
        .iter()
        .any(|m| !rows.iter().any(|r| r.0 == m.version));
    if !missing {
        return Ok(());
    }
    match mode {
        Mode::ReadOnly => Err(StoreError::SchemaTooOld {
            db: site.loc.clone(),
            found: version,
            supported: SCHEMA_VERSION,
        }),
        Mode::Create | Mode::Existing => run(conn, site).await,
    }
}

async fn run(conn: &mut PgConnection, site: &Site) -> Result<(), StoreError> {
    MIGRATOR.run(&mut *conn).await.map_err(|e| {
        schema_error(
            site,
            &format!("migrate the schema to version {SCHEMA_VERSION}"),
            e.to_string(),
        )
    })
}

/// fsck's view of the schema: what is wrong with the applied migrations.
pub(super) async fn audit(conn: &mut PgConnection, site: &Site) -> Result<Vec<String>, StoreError> {
    Ok(match applied(conn, site).await? {
        None => vec!["no _sqlx_migrations table: the schema is not mosx's".into()],
        Some(rows) => {
            let mut out: Vec<String> = problems(&rows)
                .into_iter()
                .map(|p| format!("schema: {p}"))
                .collect();
            for m in MIGRATOR.iter() {
                if !rows.iter().any(|r| r.0 == m.version) {
                    out.push(format!("schema: migration {} is not applied", m.version));
                }
            }
            out
        }
    })
}

#[cfg(test)]
mod tests {
    use super::MIGRATOR;
    use crate::SCHEMA_VERSION;

    #[test]
    fn migrations_are_numbered_like_sqlite_versions() {
        let versions: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    }
}
