//! Queries only tests need (counting, skipping a back-off, creating databases), compiled only
//! with the `test-support` feature the test suite turns on.

use super::analyses::{Record, ANALYSIS_COLUMNS};
use super::jobs::JOB_COLUMNS;
use super::publish::TASK_COLUMNS;
use super::{flag, now_ms, AnalysisRow, JobRow, PublishTask, Store};
use crate::domain::status::{JobKind, JobState};
use anyhow::{Context, Result};

impl Store {
    /// Number of recorded deliveries.
    pub async fn delivery_count(&self) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM deliveries")
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    /// Counts jobs in a state, of any kind.
    pub async fn count_jobs(&self, state: JobState) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE state = $1")
            .bind(state.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    /// Counts jobs of a kind (all states).
    pub async fn count_jobs_of_kind(&self, kind: JobKind) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE kind = $1")
            .bind(kind.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    /// Makes queued jobs runnable now (skips retry back-offs).
    pub async fn make_all_runnable_now(&self) -> Result<()> {
        sqlx::query("UPDATE jobs SET run_after = $1 WHERE state = 'queued' AND run_after > $1")
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Makes one queued job runnable now.
    pub async fn make_runnable_now(&self, job_id: i64) -> Result<()> {
        sqlx::query("UPDATE jobs SET run_after = $2 WHERE id = $1 AND state = 'queued'")
            .bind(job_id)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether a database of that name exists (PostgreSQL).
    pub async fn database_exists(&self, name: &str) -> Result<bool> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT 1::BIGINT FROM pg_database WHERE datname = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    /// Runs a statement that takes no parameters, such as `CREATE DATABASE`.
    pub async fn execute_admin(&self, sql: &str) -> Result<()> {
        sqlx::query(sql)
            .execute(&self.pool)
            .await
            .with_context(|| format!("running `{sql}`"))?;
        Ok(())
    }

    /// Tables and their columns as the database itself reports them, sorted: for checking that
    /// both engines' migrations give the same schema.
    pub async fn schema(&self) -> Result<Vec<(String, Vec<String>)>> {
        use super::Dialect;
        let tables: Vec<(String,)> = match self.dialect {
            Dialect::Postgres => {
                sqlx::query_as(
                    "SELECT table_name::text FROM information_schema.tables
                 WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations' ORDER BY 1",
                )
                .fetch_all(&self.pool)
                .await?
            }
            Dialect::Sqlite => {
                sqlx::query_as(
                    "SELECT name FROM sqlite_master WHERE type = 'table'
                 AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY 1",
                )
                .fetch_all(&self.pool)
                .await?
            }
        };
        let mut out = Vec::new();
        for (table,) in tables {
            let mut columns: Vec<String> = match self.dialect {
                Dialect::Postgres => sqlx::query_as::<_, (String,)>(
                    "SELECT column_name::text FROM information_schema.columns
                     WHERE table_schema = 'public' AND table_name = $1",
                )
                .bind(&table)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|(c,)| c)
                .collect(),
                Dialect::Sqlite => {
                    sqlx::query_as::<_, (String,)>("SELECT name FROM pragma_table_info($1)")
                        .bind(&table)
                        .fetch_all(&self.pool)
                        .await?
                        .into_iter()
                        .map(|(c,)| c)
                        .collect()
                }
            };
            columns.sort();
            out.push((table, columns));
        }
        Ok(out)
    }

    /// All analyses of a project, newest first.
    pub async fn list_analyses(&self, project_id: i64) -> Result<Vec<AnalysisRow>> {
        let sql = format!(
            "SELECT {ANALYSIS_COLUMNS} FROM analyses WHERE project_id = $1 ORDER BY queued_at DESC, id DESC"
        );
        let rows: Vec<Record> = sqlx::query_as(&sql)
            .bind(project_id)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(AnalysisRow::try_from).collect()
    }

    pub async fn get_job(&self, job_id: i64) -> Result<Option<JobRow>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        Ok(sqlx::query_as(&sql)
            .bind(job_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The jobs of one analysis and of its publish tasks, oldest first.
    pub async fn jobs_of_analysis(&self, analysis_id: i64) -> Result<Vec<JobRow>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE analysis_id = $1
               OR publish_task_id IN (SELECT id FROM publish_tasks WHERE analysis_id = $1)
             ORDER BY id"
        );
        Ok(sqlx::query_as(&sql)
            .bind(analysis_id)
            .fetch_all(&self.pool)
            .await?)
    }
    pub async fn publish_tasks(&self, analysis_id: i64) -> Result<Vec<PublishTask>> {
        let sql =
            format!("SELECT {TASK_COLUMNS} FROM publish_tasks WHERE analysis_id = $1 ORDER BY id");
        Ok(sqlx::query_as(&sql)
            .bind(analysis_id)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Whether an installation is known and not suspended.
    pub async fn installation_active(&self, id: i64) -> Result<Option<bool>> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT suspended FROM installations WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(s,)| !flag(s)))
    }

    /// Every delivery as (id, outcome, job id, received at), by id.
    pub async fn deliveries(&self) -> Result<Vec<(String, String, Option<i64>, i64)>> {
        Ok(sqlx::query_as(
            "SELECT delivery_id, outcome, job_id, received_at FROM deliveries ORDER BY delivery_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every job as (id, kind, state, analysis id), by id.
    pub async fn all_jobs(&self) -> Result<Vec<(i64, String, String, Option<i64>)>> {
        Ok(
            sqlx::query_as("SELECT id, kind, state, analysis_id FROM jobs ORDER BY id")
                .fetch_all(&self.pool)
                .await?,
        )
    }
}
