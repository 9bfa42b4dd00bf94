//! The outbox: one publish task per (analysis, sink), each run by its own job, retried on its
//! own, and remembering what it created (a check run id, a comment id) so a retry updates
//! instead of duplicating.

use super::{jobs::insert_job, now_ms, Store};
use crate::domain::status::{JobKind, PublishState, Sink};
use anyhow::{Context, Result};
use sqlx::AnyConnection;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PublishTask {
    pub id: i64,
    pub analysis_id: i64,
    #[sqlx(try_from = "String")]
    pub sink: Sink,
    #[sqlx(try_from = "String")]
    pub state: PublishState,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// What the sink created (a check run id, a comment id), so retries update it.
    pub external_id: Option<String>,
}

pub(super) const TASK_COLUMNS: &str =
    "id, analysis_id, sink, state, attempts, last_error, external_id";

/// Creates (or resets to pending) one task per sink and queues a job for each, in the
/// caller's transaction.
pub(super) async fn create_publish_tasks(
    conn: &mut AnyConnection,
    analysis_id: i64,
    sinks: &[Sink],
    max_attempts: i64,
) -> Result<()> {
    let now = now_ms();
    for sink in sinks {
        let (task_id,): (i64,) = sqlx::query_as(
            "INSERT INTO publish_tasks (analysis_id, sink, state, attempts, created_at, updated_at)
             VALUES ($1, $2, $3, 0, $4, $4)
             ON CONFLICT (analysis_id, sink) DO UPDATE SET state = excluded.state,
               attempts = 0, last_error = NULL, external_id = NULL,
               updated_at = excluded.updated_at
             RETURNING id",
        )
        .bind(analysis_id)
        .bind(sink.as_str())
        .bind(PublishState::Pending.as_str())
        .bind(now)
        .fetch_one(&mut *conn)
        .await
        .context("recording a publish task")?;
        // A task already being published keeps its job; the new outcome is read when it runs.
        let live = sqlx::query(
            "SELECT id FROM jobs WHERE publish_task_id = $1 AND state IN ('queued', 'running')",
        )
        .bind(task_id)
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
        if !live {
            insert_job(
                &mut *conn,
                JobKind::Publish,
                None,
                Some(task_id),
                max_attempts,
                now,
                None,
            )
            .await?;
        }
    }
    Ok(())
}

impl Store {
    pub async fn get_publish_task(&self, id: i64) -> Result<Option<PublishTask>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM publish_tasks WHERE id = $1");
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Remembers what the sink created, before anything else can fail.
    pub async fn set_publish_external_id(&self, id: i64, external_id: &str) -> Result<()> {
        sqlx::query("UPDATE publish_tasks SET external_id = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(external_id)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .context("saving what was published")?;
        Ok(())
    }

    /// Records an attempt's end: done, failed for good, or still pending (it will be retried).
    pub async fn finish_publish_attempt(
        &self,
        id: i64,
        state: PublishState,
        error: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE publish_tasks SET state = $2, attempts = attempts + 1, last_error = $3,
               updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(error)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .context("recording a publish attempt")?;
        Ok(())
    }
}
