//! Migrations embedded per backend. Both folders hold the same migration names, so the
//! schema version is the same on SQLite and PostgreSQL.

use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::sqlite::Sqlite;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{Backend, DbConnection};

const SQLITE: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

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
