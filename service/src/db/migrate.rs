//! Migrations embedded per backend. Both folders hold the same migration names, so the
//! schema version is the same on SQLite and PostgreSQL.
//!
//! The first lines of each `up.sql` may carry a safety mark for rolling upgrades:
//! `-- licet: online-safe (why)` when the version before it keeps working on the migrated
//! schema, `-- licet: needs-downtime (why)` when every replica must stop first.
//! `docs/operations.md` ("Changing the schema without downtime") explains the rule.

use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::sqlite::Sqlite;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{Backend, DbConnection};

const SQLITE: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// The text of every migration's `up.sql`, for its safety mark. A unit test checks that the
/// list names every embedded migration.
macro_rules! up_sql {
    ($($name:literal),* $(,)?) => {
        (
            &[$(($name, include_str!(concat!("../../../migrations/sqlite/", $name, "/up.sql")))),*],
            &[$(($name, include_str!(concat!("../../../migrations/postgres/", $name, "/up.sql")))),*],
        )
    };
}

type UpSql = &'static [(&'static str, &'static str)];

const UP_SQL: (UpSql, UpSql) = up_sql![
    "2026-12-01-000001_core",
    "2026-12-03-000001_audit",
    "2026-12-04-000001_restore_epoch",
    "2026-12-05-000001_activation",
];

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Applies every pending migration and returns the names of those applied.
pub fn run_pending(conn: &mut DbConnection) -> Result<Vec<String>, BoxError> {
    let names = pending(conn)?;
    match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE)?,
        DbConnection::Postgres(c) => c.run_pending_migrations(POSTGRES)?,
    };
    Ok(names)
}

/// Names of migrations not yet applied.
pub fn pending(conn: &mut DbConnection) -> Result<Vec<String>, BoxError> {
    Ok(match conn {
        DbConnection::Sqlite(c) => names(c.pending_migrations(SQLITE)?),
        DbConnection::Postgres(c) => names(c.pending_migrations(POSTGRES)?),
    })
}

diesel::table! {
    __diesel_schema_migrations (version) {
        version -> Text,
    }
}

/// Names of the migrations applied to the database, oldest first. A migration this binary
/// does not know (applied by a newer licet) appears as its bare version number.
///
/// Reads the table with a plain query, so that it works inside a read-only transaction.
pub fn applied(conn: &mut DbConnection, backend: Backend) -> Result<Vec<String>, BoxError> {
    use diesel::prelude::*;
    let versions: Vec<String> = __diesel_schema_migrations::table
        .select(__diesel_schema_migrations::version)
        .order(__diesel_schema_migrations::version.asc())
        .load(conn)?;
    let known: Vec<(String, String)> = match backend {
        Backend::Sqlite => versions_and_names(MigrationSource::<Sqlite>::migrations(&SQLITE)?),
        Backend::Postgres => versions_and_names(MigrationSource::<Pg>::migrations(&POSTGRES)?),
    };
    Ok(versions
        .into_iter()
        .map(|v| {
            known
                .iter()
                .find(|(version, _)| *version == v)
                .map_or(v, |(_, name)| name.clone())
        })
        .collect())
}

fn versions_and_names<DB: diesel::backend::Backend>(
    migrations: Vec<Box<dyn diesel::migration::Migration<DB>>>,
) -> Vec<(String, String)> {
    migrations
        .iter()
        .map(|m| (m.name().version().to_string(), m.name().to_string()))
        .collect()
}

/// Names of every migration this binary knows, oldest first.
pub fn all(backend: Backend) -> Result<Vec<String>, BoxError> {
    Ok(match backend {
        Backend::Sqlite => names(MigrationSource::<Sqlite>::migrations(&SQLITE)?),
        Backend::Postgres => names(MigrationSource::<Pg>::migrations(&POSTGRES)?),
    })
}

fn names<DB: diesel::backend::Backend>(
    migrations: Vec<Box<dyn diesel::migration::Migration<DB>>>,
) -> Vec<String> {
    migrations.iter().map(|m| m.name().to_string()).collect()
}

/// Whether a migration may run while replicas of the previous version keep serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Safety {
    /// The previous version works on the migrated schema; the text says why.
    OnlineSafe(String),
    /// Every replica must be stopped first; the text says why.
    NeedsDowntime(String),
    /// The migration carries no mark: someone must read it before running it.
    Unknown,
}

impl std::fmt::Display for Safety {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let with_reason = |f: &mut std::fmt::Formatter<'_>, label: &str, why: &str| {
            if why.is_empty() {
                write!(f, "{label}")
            } else {
                write!(f, "{label} ({why})")
            }
        };
        match self {
            Safety::OnlineSafe(why) => with_reason(f, "online-safe", why),
            Safety::NeedsDowntime(why) => with_reason(f, "needs downtime", why),
            Safety::Unknown => write!(f, "unknown: review before running"),
        }
    }
}

/// Reads the mark from the leading comment lines of an `up.sql`.
pub fn safety_of(up_sql: &str) -> Safety {
    for line in up_sql.lines().map(str::trim) {
        let Some(comment) = line.strip_prefix("--") else {
            break;
        };
        let Some(mark) = comment.trim().strip_prefix("licet:") else {
            continue;
        };
        let mark = mark.trim();
        let (kind, why) = match mark.split_once('(') {
            Some((kind, rest)) => (kind.trim(), rest.trim_end_matches(')').trim()),
            None => (mark, ""),
        };
        return match kind {
            "online-safe" => Safety::OnlineSafe(why.to_string()),
            "needs-downtime" => Safety::NeedsDowntime(why.to_string()),
            _ => Safety::Unknown,
        };
    }
    Safety::Unknown
}

/// The safety mark of the migration `name` for `backend`; [`Safety::Unknown`] when the
/// binary does not hold it.
pub fn safety(backend: Backend, name: &str) -> Safety {
    let table = match backend {
        Backend::Sqlite => UP_SQL.0,
        Backend::Postgres => UP_SQL.1,
    };
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(Safety::Unknown, |(_, text)| safety_of(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_read_from_the_leading_comments() {
        assert_eq!(
            safety_of("-- licet: online-safe (adds a table)\nCREATE TABLE t (x INT);"),
            Safety::OnlineSafe("adds a table".into())
        );
        assert_eq!(
            safety_of("-- what this does\n-- licet: needs-downtime (renames `a`)\nALTER ..."),
            Safety::NeedsDowntime("renames `a`".into())
        );
        assert_eq!(
            safety_of("CREATE TABLE t (x INT);\n-- licet: online-safe"),
            Safety::Unknown
        );
        assert_eq!(safety_of("-- licet: maybe\n"), Safety::Unknown);
        assert_eq!(
            safety_of("-- licet: online-safe\n"),
            Safety::OnlineSafe(String::new())
        );
    }

    #[test]
    fn every_shipped_migration_is_marked_alike_on_both_backends() {
        let sqlite = all(Backend::Sqlite).unwrap();
        assert_eq!(sqlite, all(Backend::Postgres).unwrap());
        let listed: Vec<&str> = UP_SQL.0.iter().map(|(name, _)| *name).collect();
        assert_eq!(listed, sqlite, "list every migration in `up_sql!`");
        for name in &sqlite {
            let mark = safety(Backend::Sqlite, name);
            assert_ne!(mark, Safety::Unknown, "`{name}` has no safety mark");
            assert_eq!(
                std::mem::discriminant(&mark),
                std::mem::discriminant(&safety(Backend::Postgres, name)),
                "`{name}` is marked differently on the two backends"
            );
        }
    }
}
