//! Cancelling work nobody needs any more: when a pull request's head moves, the analysis of
//! the old head — queued or running — is cancelled in the same transaction that queues the new
//! one. Its job is marked cancelled (a running worker loses its lease at the next renewal and
//! drops the work, which kills its tools), and its check run is completed `cancelled` with
//! "superseded by <sha>" through the outbox. Pushes to the default branch are never superseded:
//! each becomes a base.

use super::analyses::{AnalysisDetails, Failure};
use super::now_ms;
use super::publish::create_publish_tasks;
use crate::domain::status::Sink;
use anyhow::{Context, Result};
use sqlx::AnyConnection;

/// An analysis left queued or running past its job's deadline with nobody working on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    pub analysis_id: i64,
    /// Its newest job, if it still has one.
    pub job_id: Option<i64>,
}

impl super::Store {
    /// Analyses still queued or running whose newest job is past its deadline and not held by
    /// a live lease (or that have no job at all and were queued longer than a deadline ago).
    pub async fn stuck_analyses(&self, now: i64) -> Result<Vec<Stuck>> {
        let rows: Vec<(i64, Option<i64>)> = sqlx::query_as(
            "SELECT a.id, j.id FROM analyses a
             LEFT JOIN jobs j ON j.id = (SELECT MAX(id) FROM jobs WHERE analysis_id = a.id)
             WHERE a.status IN ('queued', 'running') AND a.trigger <> 'base'
               AND ((j.id IS NULL AND a.queued_at < $2)
                 OR (j.deadline_at < $1
                     AND (j.state NOT IN ('queued', 'running')
                          OR j.state = 'queued'
                          OR j.lease_expires_at IS NULL
                          OR j.lease_expires_at < $1)))",
        )
        .bind(now)
        .bind(now - 24 * 3600 * 1000)
        .fetch_all(&self.pool)
        .await
        .context("looking for stuck analyses")?;
        Ok(rows
            .into_iter()
            .map(|(analysis_id, job_id)| Stuck {
                analysis_id,
                job_id,
            })
            .collect())
    }

    /// Ends a stuck job as failed with the reason, whoever last held it.
    pub async fn end_stuck_job(&self, job_id: i64, reason: &str) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET state = 'failed', last_error = $2, lease_owner = NULL,
               lease_expires_at = NULL, updated_at = $3
             WHERE id = $1 AND state IN ('queued', 'running')",
        )
        .bind(job_id)
        .bind(reason)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .context("ending a stuck job")?;
        Ok(())
    }
}

/// Cancels the analyses of pull request `pr_number` for heads other than `new_sha`; their ids.
pub(super) async fn supersede(
    conn: &mut AnyConnection,
    project_id: i64,
    pr_number: i64,
    new_sha: &str,
    max_attempts: i64,
) -> Result<Vec<i64>> {
    let old: Vec<(i64, Option<String>)> = sqlx::query_as(
        "SELECT id, details FROM analyses
         WHERE project_id = $1 AND pr_number = $2 AND sha <> $3
           AND status IN ('queued', 'running') AND trigger <> 'base'",
    )
    .bind(project_id)
    .bind(pr_number)
    .bind(new_sha)
    .fetch_all(&mut *conn)
    .await
    .context("finding superseded analyses")?;
    let now = now_ms();
    let short = &new_sha[..new_sha.len().min(12)];
    let reason = format!("superseded by {short}");
    for (id, details) in &old {
        let mut details: AnalysisDetails = match details {
            Some(text) => serde_json::from_str(text).unwrap_or_default(),
            None => AnalysisDetails::default(),
        };
        details.failure = Some(Failure {
            conclusion: "cancelled".into(),
            title: format!("Superseded by {short}"),
            summary: format!(
                "The pull request's head moved to `{short}` before this commit's analysis finished, so it was stopped; the new head is analysed instead."
            ),
        });
        sqlx::query(
            "UPDATE jobs SET state = 'cancelled', last_error = $2, lease_owner = NULL,
               lease_expires_at = NULL, updated_at = $3
             WHERE analysis_id = $1 AND state IN ('queued', 'running')",
        )
        .bind(id)
        .bind(&reason)
        .bind(now)
        .execute(&mut *conn)
        .await
        .context("cancelling a superseded job")?;
        sqlx::query(
            "UPDATE analyses SET status = 'cancelled', error = $2, details = $3, completed_at = $4
             WHERE id = $1",
        )
        .bind(id)
        .bind(&reason)
        .bind(serde_json::to_string(&details)?)
        .bind(now)
        .execute(&mut *conn)
        .await
        .context("cancelling a superseded analysis")?;
        create_publish_tasks(&mut *conn, *id, &[Sink::CheckRun], max_attempts).await?;
    }
    Ok(old.into_iter().map(|(id, _)| id).collect())
}
