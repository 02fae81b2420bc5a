//! Migrations embedded per backend. Both folders hold the same migration names, so the
//! schema version is the same on SQLite and PostgreSQL.

use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::DbConnection;

const SQLITE: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Applies every pending migration and returns the names of those applied.
pub fn run_pending(conn: &mut DbConnection) -> Result<Vec<String>, BoxError> {
    let applied = match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE)?,
        DbConnection::Postgres(c) => c.run_pending_migrations(POSTGRES)?,
    };
    Ok(applied.iter().map(ToString::to_string).collect())
}

/// Names of migrations not yet applied.
pub fn pending(conn: &mut DbConnection) -> Result<Vec<String>, BoxError> {
    Ok(match conn {
        DbConnection::Sqlite(c) => c
            .pending_migrations(SQLITE)?
            .iter()
            .map(|m| m.name().to_string())
            .collect(),
        DbConnection::Postgres(c) => c
            .pending_migrations(POSTGRES)?
            .iter()
            .map(|m| m.name().to_string())
            .collect(),
    })
}
