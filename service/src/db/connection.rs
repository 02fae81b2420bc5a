//! The multi-backend connection and the r2d2 manager that picks a backend from the URL.
//!
//! diesel's derived `establish` reports every failure as an invalid URL; choosing the backend
//! here keeps the backend's own message (a wrong password reads as a wrong password).

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};

/// A connection to either supported database.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// Runs `f` in a transaction that writes.
///
/// On SQLite the transaction starts with `BEGIN IMMEDIATE`, taking the write lock first. A
/// plain (deferred) transaction that reads and then writes cannot wait for another writer in
/// WAL mode: when the other writer commits in between, SQLite answers "database is locked" at
/// once, without honouring `busy_timeout`. PostgreSQL starts an ordinary transaction.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    match conn {
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
        }
        DbConnection::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    // The derived manager of `DbConnection` hands commit and rollback to the variant's own
    // manager, which now holds the transaction begun above.
    type Manager = <DbConnection as Connection>::TransactionManager;
    match f(conn) {
        Ok(value) => {
            Manager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(err) => match Manager::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(err),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

/// The database kinds licet runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Creates connections for the pool.
#[derive(Debug)]
pub struct ConnectionManager {
    backend: Backend,
    target: String,
}

impl ConnectionManager {
    /// Reads the backend from the URL scheme. `sqlite://PATH` and `sqlite:PATH` name a file.
    pub fn new(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self {
                backend: Backend::Postgres,
                target: url.to_string(),
            });
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                format!(
                    "database url `{}` must start with `sqlite:` or `postgres://`",
                    redact(url)
                )
            })?;
        if path.is_empty() {
            return Err("database url `sqlite://` names no file".into());
        }
        if let Some(parent) = std::path::Path::new(path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create directory `{}`: {e}", parent.display()))?;
        }
        Ok(Self {
            backend: Backend::Sqlite,
            target: path.to_string(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
}

/// Hides a password in a URL for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_string(),
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = ConnectionError;

    fn connect(&self) -> Result<DbConnection, ConnectionError> {
        match self.backend {
            Backend::Postgres => PgConnection::establish(&self.target).map(DbConnection::Postgres),
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.target)?;
                // Writers wait for each other instead of failing at once; WAL (kept in the
                // file once set, so setting it again is free) lets readers work beside the
                // one writer, and other processes (`licet import`) write beside a server.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                )
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), ConnectionError> {
        conn.batch_execute("SELECT 1")
            .map_err(ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_hidden_in_messages() {
        assert_eq!(
            redact("postgres://licet:s3cret@db:5432/licet"),
            "postgres://***@db:5432/licet"
        );
        assert_eq!(redact("sqlite://data/licet.db"), "sqlite://data/licet.db");
    }

    #[test]
    fn sqlite_files_are_in_wal_mode() {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Mode {
            #[diesel(sql_type = diesel::sql_types::Text)]
            journal_mode: String,
        }
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/x.db", dir.path().display());
        let manager = ConnectionManager::new(&url).unwrap();
        let mut conn = r2d2::ManageConnection::connect(&manager).unwrap();
        let DbConnection::Sqlite(conn) = &mut conn else {
            panic!("not SQLite")
        };
        let mode: Mode = diesel::sql_query("PRAGMA journal_mode")
            .get_result(conn)
            .unwrap();
        assert_eq!(mode.journal_mode, "wal");
    }

    #[test]
    fn a_writer_that_read_first_waits_for_another_writer_instead_of_failing() {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/x.db", dir.path().display());
        let manager = std::sync::Arc::new(ConnectionManager::new(&url).unwrap());
        let mut first = r2d2::ManageConnection::connect(&*manager).unwrap();
        first.batch_execute("CREATE TABLE t (v INTEGER)").unwrap();

        // The first writer reads, another writer tries to write meanwhile, then the first
        // writes. With a deferred transaction the other writer would commit in between and
        // the first one's write would fail with "database is locked".
        let count = |conn: &mut DbConnection| -> i64 {
            diesel::sql_query("SELECT COUNT(*) AS n FROM t")
                .get_result::<Count>(conn)
                .unwrap()
                .n
        };
        let other = std::sync::Arc::clone(&manager);
        let seen = write_transaction(&mut first, |conn| {
            let before = count(conn);
            let writer = std::thread::spawn(move || {
                let mut conn = r2d2::ManageConnection::connect(&*other).unwrap();
                write_transaction(&mut conn, |c| c.batch_execute("INSERT INTO t VALUES (2)"))
            });
            std::thread::sleep(std::time::Duration::from_millis(200));
            conn.batch_execute("INSERT INTO t VALUES (1)")?;
            Ok::<_, diesel::result::Error>((before, writer))
        })
        .unwrap();
        let (before, writer) = seen;
        writer.join().unwrap().unwrap();
        assert_eq!((before, count(&mut first)), (0, 2));
    }

    #[test]
    fn scheme_selects_the_backend() {
        assert_eq!(
            ConnectionManager::new("postgres://h/db").unwrap().backend(),
            Backend::Postgres
        );
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/x.db", dir.path().display());
        assert_eq!(
            ConnectionManager::new(&url).unwrap().backend(),
            Backend::Sqlite
        );
        assert!(
            ConnectionManager::new("mysql://h/db")
                .unwrap_err()
                .contains("must start with")
        );
    }
}
