//! An installation's life: when the App is uninstalled or suspended, its queued and running
//! work is cancelled and nothing more is asked of GitHub for it; when it is unsuspended, the
//! analyses the suspension cancelled are queued again. Removing a repository from the
//! installation archives its project (the history stays); a renamed or transferred repository
//! keeps its history under its numeric id.

use super::jobs::insert_job;
use super::{now_ms, JobLimits, Store};
use crate::domain::status::JobKind;
use anyhow::{Context, Result};
use sqlx::AnyConnection;

/// Why work of a suspended installation stopped (and the mark of what to resume).
pub const SUSPENDED: &str = "the App is suspended on this account";
/// Why work of an uninstalled installation stopped.
pub const UNINSTALLED: &str = "the App was uninstalled from this account";

/// Why work of a repository removed from the installation stopped.
pub const REMOVED: &str = "the repository was removed from the App's installation";

/// The analyses of one project still to be done or being done, cancelled with `reason`.
pub(super) async fn halt_project(
    conn: &mut AnyConnection,
    project_id: i64,
    reason: &str,
) -> Result<()> {
    halt(
        conn,
        "SELECT id FROM analyses WHERE project_id = $1",
        project_id,
        reason,
    )
    .await?;
    Ok(())
}

/// Cancels the analyses `analyses` selects (with `$1` bound to `key`) that are queued or
/// running, with `reason`, and their jobs and the jobs of their publish tasks; how many
/// analyses.
async fn halt(conn: &mut AnyConnection, analyses: &str, key: i64, reason: &str) -> Result<u64> {
    let now = now_ms();
    sqlx::query(&format!(
        "UPDATE jobs SET state = 'cancelled', last_error = $2, lease_owner = NULL,
           lease_expires_at = NULL, updated_at = $3
         WHERE state IN ('queued', 'running')
           AND (analysis_id IN ({analyses})
             OR publish_task_id IN (SELECT id FROM publish_tasks WHERE analysis_id IN ({analyses})))"
    ))
    .bind(key)
    .bind(reason)
    .bind(now)
    .execute(&mut *conn)
    .await
    .context("cancelling jobs")?;
    let n = sqlx::query(&format!(
        "UPDATE analyses SET status = 'cancelled', error = $2, completed_at = $3
         WHERE status IN ('queued', 'running') AND id IN ({analyses})"
    ))
    .bind(key)
    .bind(reason)
    .bind(now)
    .execute(&mut *conn)
    .await
    .context("cancelling analyses")?
    .rows_affected();
    Ok(n)
}

/// Whether the App may act for an installation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallationState {
    Active,
    Suspended,
    /// Uninstalled.
    Gone,
}

impl InstallationState {
    /// Why nothing may be asked of GitHub for it, when that is so.
    pub fn halted(self) -> Option<&'static str> {
        match self {
            InstallationState::Active => None,
            InstallationState::Suspended => Some(SUSPENDED),
            InstallationState::Gone => Some(UNINSTALLED),
        }
    }
}

/// The analyses of an installation still to be done or being done, cancelled with `reason`;
/// their jobs and the jobs of their publish tasks are cancelled too. How many analyses.
pub(super) async fn halt_installation(
    conn: &mut AnyConnection,
    installation_id: i64,
    reason: &str,
) -> Result<u64> {
    halt(
        conn,
        "SELECT a.id FROM analyses a JOIN projects p ON p.id = a.project_id
         WHERE COALESCE(a.installation_id, p.installation_id) = $1",
        installation_id,
        reason,
    )
    .await
}

/// Queues again what a suspension cancelled: its analyses, and the publish tasks left pending.
pub(super) async fn resume_installation(
    conn: &mut AnyConnection,
    installation_id: i64,
    limits: JobLimits,
) -> Result<usize> {
    let now = now_ms();
    let analyses: Vec<(i64,)> = sqlx::query_as(
        "SELECT a.id FROM analyses a JOIN projects p ON p.id = a.project_id
         WHERE COALESCE(a.installation_id, p.installation_id) = $1
           AND a.status = 'cancelled' AND a.error = $2",
    )
    .bind(installation_id)
    .bind(SUSPENDED)
    .fetch_all(&mut *conn)
    .await
    .context("finding what a suspension stopped")?;
    for (id,) in &analyses {
        sqlx::query(
            "UPDATE analyses SET status = 'queued', error = NULL, queued_at = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        insert_job(
            &mut *conn,
            JobKind::Analyse,
            Some(*id),
            None,
            limits.max_attempts,
            now,
            Some(now + limits.deadline_ms),
        )
        .await?;
    }
    let tasks: Vec<(i64,)> = sqlx::query_as(
        "SELECT t.id FROM publish_tasks t JOIN analyses a ON a.id = t.analysis_id
           JOIN projects p ON p.id = a.project_id
         WHERE COALESCE(a.installation_id, p.installation_id) = $1 AND t.state = 'pending'
           AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.publish_task_id = t.id
                           AND j.state IN ('queued', 'running'))",
    )
    .bind(installation_id)
    .fetch_all(&mut *conn)
    .await?;
    for (task,) in &tasks {
        insert_job(
            &mut *conn,
            JobKind::Publish,
            None,
            Some(*task),
            limits.max_attempts,
            now,
            None,
        )
        .await?;
    }
    Ok(analyses.len() + tasks.len())
}

impl Store {
    /// The installation a job acts for: its analysis's (directly or through its publish task),
    /// or for a command its project's; `None` when it names none.
    pub async fn job_installation(&self, job: &super::ClaimedJob) -> Result<Option<i64>> {
        let analysis = match (job.analysis_id, job.publish_task_id) {
            (Some(a), _) => Some(a),
            (None, Some(task)) => {
                sqlx::query_as::<_, (i64,)>("SELECT analysis_id FROM publish_tasks WHERE id = $1")
                    .bind(task)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|r| r.0)
            }
            (None, None) => None,
        };
        if let Some(a) = analysis {
            let row: Option<(Option<i64>,)> = sqlx::query_as(
                "SELECT COALESCE(a.installation_id, p.installation_id) FROM analyses a
                 JOIN projects p ON p.id = a.project_id WHERE a.id = $1",
            )
            .bind(a)
            .fetch_optional(&self.pool)
            .await?;
            return Ok(row.and_then(|r| r.0));
        }
        let project = job
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str::<crate::domain::events::Command>(p).ok())
            .map(|c| match c {
                crate::domain::events::Command::Rerun { project_id, .. }
                | crate::domain::events::Command::AnalyseRef { project_id, .. } => project_id,
            });
        let Some(project) = project else {
            return Ok(None);
        };
        let row: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT installation_id FROM projects WHERE id = $1")
                .bind(project)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.and_then(|r| r.0))
    }

    pub async fn installation_state(&self, installation_id: i64) -> Result<InstallationState> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT suspended FROM installations WHERE id = $1")
                .bind(installation_id)
                .fetch_optional(&self.pool)
                .await
                .context("reading an installation")?;
        Ok(match row {
            // Never told about (installed before this server saw it): the App may act.
            None | Some((0,)) => InstallationState::Active,
            Some((1,)) => InstallationState::Suspended,
            Some(_) => InstallationState::Gone,
        })
    }

    /// Stops one job because its installation may not be acted for: the job is cancelled, and
    /// an analysis it was running is cancelled with `reason` (a suspension's is resumed later).
    pub async fn halt_job(
        &self,
        job_id: i64,
        analysis_id: Option<i64>,
        reason: &str,
    ) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "UPDATE jobs SET state = 'cancelled', last_error = $2, lease_owner = NULL,
               lease_expires_at = NULL, updated_at = $3 WHERE id = $1",
        )
        .bind(job_id)
        .bind(reason)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if let Some(id) = analysis_id {
            sqlx::query(
                "UPDATE analyses SET status = 'cancelled', error = $2, completed_at = $3
                 WHERE id = $1 AND status IN ('queued', 'running')",
            )
            .bind(id)
            .bind(reason)
            .bind(now)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }
}
