//! The only place with SQL: installations, projects, deliveries, the job queue, analyses, their
//! findings and publish tasks, outgoing event hooks and their delivery log, on PostgreSQL
//! (production) or an embedded SQLite file (the default).
//!
//! Queries go through sqlx's `Any` driver so one text serves both engines; where the engines
//! differ (claiming a job) the query is chosen by [`Dialect`]. Times are Unix milliseconds.
//! Rows are read with `sqlx::FromRow`; states and kinds are the enums of
//! [`crate::domain::status`], stored as text.

mod accounts;
mod analyses;
mod cancel;
mod conversation;
mod dashboard;
mod deliveries;
mod events;
mod group_commit;
mod jobs;
mod lifecycle;
mod projects;
mod publish;
mod read;
mod reconcile;
#[cfg(feature = "test-support")]
mod test_support;

pub use accounts::*;
pub use analyses::*;
pub use cancel::Stuck;
pub use conversation::*;
pub use dashboard::*;
pub use deliveries::*;
pub use events::*;
pub use jobs::*;
pub use lifecycle::{InstallationState, SUSPENDED, UNINSTALLED};
pub use publish::*;
pub use read::*;

use anyhow::{Context, Result};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Connection};
use std::time::Duration;

/// Which SQL engine the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    /// Where webhook deliveries queue to be written together (see [`group_commit`]).
    ingress: group_commit::Ingress,
}

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// Milliseconds since the Unix epoch, the time unit of every column.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The database error without anything of the URL (which may hold a password).
fn describe(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::Tls(tls) => format!("TLS: {tls}"),
        sqlx::Error::Database(db) => db.message().to_owned(),
        sqlx::Error::Configuration(c) => format!("configuration: {c}"),
        other => other.to_string(),
    }
}

impl Store {
    /// Connects to `url` (`postgres://…` or `sqlite://…`). The URL may carry a password, so it
    /// never appears in errors. A server that cannot be reached is reported at once, with its
    /// cause (connection refused, unknown host, authentication), not after a pool timeout.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Dialect::Postgres
        } else if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else {
            anyhow::bail!("DATABASE_URL must start with postgres:// or sqlite:");
        };
        let what = match dialect {
            Dialect::Postgres => "cannot connect to the PostgreSQL database in DATABASE_URL",
            Dialect::Sqlite => "cannot open the SQLite database",
        };
        let probe =
            tokio::time::timeout(Duration::from_secs(10), sqlx::AnyConnection::connect(url))
                .await
                .map_err(|_| anyhow::anyhow!("{what}: no answer within 10 s"))?
                .map_err(|e| anyhow::anyhow!("{what}: {}", describe(&e)))?;
        probe.close().await.ok();
        let options = match dialect {
            Dialect::Postgres => AnyPoolOptions::new().max_connections(10),
            // SQLite has one writer at a time; a single connection turns lock contention into
            // queueing instead of SQLITE_BUSY errors.
            Dialect::Sqlite => AnyPoolOptions::new().max_connections(1),
        };
        let pool = options
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await
            .map_err(|e| anyhow::anyhow!("{what}: {}", describe(&e)))?;
        if dialect == Dialect::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .context("enabling SQLite WAL mode")?;
            sqlx::query("PRAGMA foreign_keys = ON")
                .execute(&pool)
                .await
                .context("enabling SQLite foreign keys")?;
        }
        Ok(Store {
            pool,
            dialect,
            ingress: group_commit::Ingress::default(),
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Applies any pending migrations of this engine.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.dialect {
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .context("applying database migrations")
    }

    /// Migrations this binary knows that the database has not applied (for `/readyz`: an
    /// instance of a newer release must not serve an older schema).
    pub async fn pending_migrations(&self) -> Result<Vec<i64>> {
        let migrator = match self.dialect {
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
        };
        let applied: Vec<(i64,)> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_all(&self.pool)
                .await
                .context("reading the applied migrations")?;
        let applied: std::collections::HashSet<i64> = applied.into_iter().map(|r| r.0).collect();
        Ok(migrator
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }

    /// True when the database answers a trivial query within 2 s (for `/readyz`: with the
    /// database down, the pool would keep retrying for its whole acquire timeout, longer than
    /// a health check waits).
    pub async fn ping(&self) -> bool {
        let query = sqlx::query("SELECT 1").execute(&self.pool);
        matches!(
            tokio::time::timeout(Duration::from_secs(2), query).await,
            Ok(Ok(_))
        )
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// True when `e` says the database could not be reached (down, restarting, the connection
/// cut, the pool gave up waiting for one) rather than that a statement was wrong: work that met
/// it did nothing wrong and can be tried again once the database is back.
pub fn unavailable(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|cause| match cause.downcast_ref::<sqlx::Error>() {
            Some(
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed,
            ) => true,
            // SQLSTATE class 08: connection exception; 57P: the server is shutting down, starting
            // up, or was restarted under the connection.
            Some(sqlx::Error::Database(db)) => db
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
            _ => false,
        })
}

/// Reads a 0/1 column as a bool (both engines store booleans as integers).
fn flag(v: i64) -> bool {
    v != 0
}
