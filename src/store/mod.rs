//! The only place with SQL: installations, projects, deliveries, the job queue, analyses and
//! findings, on PostgreSQL (production) or an embedded SQLite file (the default).
//!
//! Queries go through sqlx's `Any` driver so one text serves both engines; where the engines
//! differ (claiming a job) the query is chosen by [`Engine`]. Times are Unix milliseconds.

mod analyses;
mod jobs;
mod webhooks;

pub use analyses::*;
pub use jobs::*;
pub use webhooks::*;

use anyhow::{Context, Result};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::AnyPool;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    Sqlite,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    engine: Engine,
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

impl Store {
    /// Connects to `url` (`postgres://…` or `sqlite://…`). The URL may carry a password, so it
    /// never appears in errors.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let engine = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Engine::Postgres
        } else if url.starts_with("sqlite:") {
            Engine::Sqlite
        } else {
            anyhow::bail!("DATABASE_URL must start with postgres:// or sqlite:");
        };
        let options = match engine {
            Engine::Postgres => AnyPoolOptions::new().max_connections(10),
            // SQLite has one writer at a time; a single connection turns lock contention into
            // queueing instead of SQLITE_BUSY errors.
            Engine::Sqlite => AnyPoolOptions::new().max_connections(1),
        };
        let pool = options
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await
            .with_context(|| match engine {
                Engine::Postgres => "cannot connect to the PostgreSQL database in DATABASE_URL",
                Engine::Sqlite => "cannot open the SQLite database",
            })?;
        if engine == Engine::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .context("enabling SQLite WAL mode")?;
            sqlx::query("PRAGMA foreign_keys = ON")
                .execute(&pool)
                .await
                .context("enabling SQLite foreign keys")?;
        }
        Ok(Store { pool, engine })
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Applies any pending migrations of this engine.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.engine {
            Engine::Postgres => &POSTGRES_MIGRATIONS,
            Engine::Sqlite => &SQLITE_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .context("applying database migrations")
    }

    /// True when the database answers a trivial query (for `/readyz`).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Runs a statement that takes no parameters, such as `CREATE DATABASE` (for tools and tests).
    pub async fn execute_admin(&self, sql: &str) -> Result<()> {
        sqlx::query(sql)
            .execute(&self.pool)
            .await
            .with_context(|| format!("running `{sql}`"))?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Reads an optional column, turning sqlx's error into anyhow with the column's name.
fn col<'r, T>(row: &'r AnyRow, name: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row;
    row.try_get(name)
        .with_context(|| format!("reading column `{name}`"))
}
