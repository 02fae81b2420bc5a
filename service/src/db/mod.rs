//! Data access: one connection type over SQLite and PostgreSQL, an r2d2 pool, embedded
//! migrations per backend, and [`Database::run`] which moves blocking diesel work off the
//! actix worker threads.

mod connection;
pub mod migrate;
pub mod models;
pub mod schema;

use std::sync::Arc;
use std::time::Duration;

pub use connection::{
    Backend, ConnectionManager, DbConnection, redact as connection_redacted, write_transaction,
};

/// The current time as licet stores it: UTC, to the microsecond, which is all PostgreSQL keeps.
/// Every write takes its time from here, so that an answer shows the same time as a later read
/// of the record, on either backend.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::SubsecRound;
    chrono::Utc::now().naive_utc().trunc_subsecs(6)
}

/// A pool of database connections.
pub type Pool = r2d2::Pool<ConnectionManager>;

/// Why a database call failed, split by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had in time, or the server went away: retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The query itself failed: a fault of ours.
    #[error("database query failed: {0}")]
    Query(String),
}

impl From<diesel::result::Error> for DbError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                DbError::Unavailable(info.message().to_string())
            }
            other => DbError::Query(other.to_string()),
        }
    }
}

impl From<r2d2::Error> for DbError {
    fn from(err: r2d2::Error) -> Self {
        DbError::Unavailable(err.to_string())
    }
}

/// A handle on the pool, cheap to clone.
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    backend: Backend,
    /// Observes how long [`Database::run`] waits for a connection, when set.
    wait: Option<prometheus::Histogram>,
}

impl Database {
    /// Opens a pool for `url` (`sqlite://PATH` or `postgres://...`). The first connection is
    /// made at once so that a wrong URL or password is reported at start.
    pub fn connect(url: &str, size: u32, timeout: Duration) -> Result<Self, DbError> {
        let manager = ConnectionManager::new(url).map_err(DbError::Unavailable)?;
        let backend = manager.backend();
        let pool = r2d2::Pool::builder()
            .max_size(size)
            .connection_timeout(timeout)
            .build(manager)
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        Ok(Self {
            pool,
            backend,
            wait: None,
        })
    }

    /// Observes connection waits in `histogram`.
    pub fn with_wait_metric(mut self, histogram: prometheus::Histogram) -> Self {
        self.wait = Some(histogram);
        self
    }

    /// Which backend the URL selected.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Takes a connection from the pool on the current thread. For command-line tools and
    /// start-up; request handlers use [`Database::run`].
    pub fn conn(&self) -> Result<r2d2::PooledConnection<ConnectionManager>, DbError> {
        Ok(self.pool.get()?)
    }

    /// Runs blocking database work on actix's blocking thread pool.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let wait = self.wait.clone();
        let outcome = actix_web::rt::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let got = pool.get();
            if let Some(wait) = &wait {
                wait.observe(started.elapsed().as_secs_f64());
            }
            let mut conn = got.map_err(DbError::from)?;
            work(&mut conn)
        })
        .await;
        match outcome {
            Ok(result) => result,
            Err(join) => Err(DbError::Query(format!("database task failed: {join}")).into()),
        }
    }

    /// Connections in use and idle, for metrics.
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (
            state.connections - state.idle_connections,
            state.idle_connections,
        )
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run(|conn| {
            use diesel::RunQueryDsl;
            diesel::sql_query("SELECT 1")
                .execute(conn)
                .map(|_| ())
                .map_err(DbError::from)
        })
        .await
    }
}

/// Shared handle type used across the service.
pub type SharedDatabase = Arc<Database>;
