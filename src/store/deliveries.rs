//! What a webhook delivery writes: the delivery record, installation and project bookkeeping,
//! and the analysis job — all in one transaction, so an accepted delivery is never lost and a
//! redelivery never analyses twice. Whether to create, reuse or queue again an analysis is
//! decided by [`crate::domain::enqueue::decide`]; this module only carries it out.

use super::{jobs::insert_job, lifecycle, now_ms, projects, Store};
use crate::domain::enqueue::{self, Decision};
use crate::domain::events::{AnalysisRequest, Command, Event};
use crate::domain::status::{AnalysisStatus, DeliveryOutcome, JobKind};
use anyhow::{Context, Result};
use sqlx::AnyConnection;

/// What accepting a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// The delivery id was seen before: nothing was done.
    Duplicate,
    /// A new analysis job was enqueued.
    Enqueued { job_id: i64, analysis_id: i64 },
    /// The commit already has (or is getting) an analysis; it is reused.
    Reused { analysis_id: i64 },
    /// Recorded (and bookkeeping applied) but no analysis needed.
    Recorded,
    /// A command job was queued (it checks who asked before doing anything).
    Command { job_id: i64 },
}

impl Accepted {
    /// What the delivery led to, as recorded (and counted in `/metrics`).
    pub fn outcome(self) -> DeliveryOutcome {
        match self {
            Accepted::Duplicate => DeliveryOutcome::Duplicate,
            Accepted::Enqueued { .. } => DeliveryOutcome::Enqueued,
            Accepted::Reused { .. } => DeliveryOutcome::Reused,
            Accepted::Recorded => DeliveryOutcome::Recorded,
            Accepted::Command { .. } => DeliveryOutcome::Enqueued,
        }
    }
}

/// How analysis jobs are queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobLimits {
    pub max_attempts: i64,
    /// How long after it is queued a job may run at most, in milliseconds.
    pub deadline_ms: i64,
}

impl Store {
    /// Records a delivery and applies what it asks for, atomically.
    pub async fn accept_delivery(
        &self,
        delivery_id: &str,
        event_name: &str,
        action: Option<&str>,
        event: &Event,
        limits: JobLimits,
    ) -> Result<Accepted> {
        let now = now_ms();
        let mut tx = self.pool.begin().await.context("starting transaction")?;
        let inserted = sqlx::query(
            "INSERT INTO deliveries (delivery_id, event, action, outcome, received_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (delivery_id) DO NOTHING",
        )
        .bind(delivery_id)
        .bind(event_name)
        .bind(action)
        .bind(DeliveryOutcome::Pending.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("recording delivery")?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await.ok();
            return Ok(Accepted::Duplicate);
        }
        let accepted = apply(&mut tx, event, now, limits).await?;
        let job_id = match accepted {
            Accepted::Enqueued { job_id, .. } => Some(job_id),
            _ => None,
        };
        sqlx::query("UPDATE deliveries SET outcome = $1, job_id = $2 WHERE delivery_id = $3")
            .bind(accepted.outcome().as_str())
            .bind(job_id)
            .bind(delivery_id)
            .execute(&mut *tx)
            .await
            .context("updating delivery outcome")?;
        tx.commit().await.context("committing delivery")?;
        Ok(accepted)
    }
}

impl Store {
    /// Queues an analysis asked for by something other than a delivery (a command).
    pub async fn enqueue_analysis(
        &self,
        request: &AnalysisRequest,
        limits: JobLimits,
    ) -> Result<Accepted> {
        let mut tx = self.pool.begin().await?;
        let accepted = enqueue_analysis(&mut tx, request, now_ms(), limits).await?;
        tx.commit()
            .await
            .context("committing the queued analysis")?;
        Ok(accepted)
    }
}

async fn apply(
    conn: &mut AnyConnection,
    event: &Event,
    now: i64,
    limits: JobLimits,
) -> Result<Accepted> {
    match event {
        Event::Ignored(_) => {}
        Event::InstallationCreated {
            id,
            account_login,
            repositories,
        } => {
            projects::upsert_installation(conn, *id, account_login, now).await?;
            for p in repositories {
                projects::upsert_project(conn, p).await?;
            }
        }
        Event::InstallationDeleted { id } => {
            lifecycle::halt_installation(conn, *id, lifecycle::UNINSTALLED).await?;
            projects::delete_installation(conn, *id, now).await?
        }
        Event::InstallationSuspended { id, suspended } => {
            projects::suspend_installation(conn, *id, *suspended, now).await?;
            if *suspended {
                lifecycle::halt_installation(conn, *id, lifecycle::SUSPENDED).await?;
            } else {
                lifecycle::resume_installation(conn, *id, limits).await?;
            }
        }
        Event::RepositoriesAdded { repositories, .. } => {
            for p in repositories {
                projects::upsert_project(conn, p).await?;
            }
        }
        Event::RepositoriesRemoved {
            installation_id,
            repository_ids,
        } => {
            for repo_id in repository_ids {
                projects::detach_project(conn, *installation_id, *repo_id, now).await?;
            }
        }
        Event::ProjectRenamed(p) => projects::upsert_project(conn, p).await?,
        Event::Analyse(request) => return enqueue_analysis(conn, request, now, limits).await,
        Event::RerunRequested {
            project,
            pr_number,
            user,
        } => {
            projects::upsert_project(conn, project).await?;
            let command = Command::Rerun {
                project_id: project.id,
                pr_number: *pr_number,
                user: user.clone(),
            };
            let job_id = super::jobs::insert_command_job(conn, &command, limits, now).await?;
            return Ok(Accepted::Command { job_id });
        }
    }
    Ok(Accepted::Recorded)
}

#[derive(sqlx::FromRow)]
struct ExistingRow {
    id: i64,
    #[sqlx(try_from = "String")]
    status: AnalysisStatus,
    check_run_id: Option<i64>,
    pr_number: Option<i64>,
}

async fn enqueue_analysis(
    conn: &mut AnyConnection,
    r: &AnalysisRequest,
    now: i64,
    limits: JobLimits,
) -> Result<Accepted> {
    projects::upsert_project(&mut *conn, &r.project).await?;
    if let Some(pr) = r.pr_number {
        let cancelled =
            super::cancel::supersede(&mut *conn, r.project.id, pr, &r.sha, limits.max_attempts)
                .await?;
        if !cancelled.is_empty() {
            tracing::info!(
                ?cancelled,
                pr,
                "superseded analyses of the old head cancelled"
            );
        }
    }
    let existing: Option<ExistingRow> = sqlx::query_as(
        "SELECT id, status, check_run_id, pr_number FROM analyses
         WHERE project_id = $1 AND sha = $2 ORDER BY id DESC LIMIT 1",
    )
    .bind(r.project.id)
    .bind(&r.sha)
    .fetch_optional(&mut *conn)
    .await
    .context("looking up analysis")?;
    let live_job = match &existing {
        Some(e) => sqlx::query(
            "SELECT id FROM jobs WHERE analysis_id = $1 AND state IN ('queued', 'running')",
        )
        .bind(e.id)
        .fetch_optional(&mut *conn)
        .await?
        .is_some(),
        None => false,
    };
    let decision = enqueue::decide(
        existing
            .as_ref()
            .map(|e| enqueue::Existing {
                status: e.status,
                live_job,
                has_check_run: e.check_run_id.is_some(),
                has_pull_request: e.pr_number.is_some(),
            })
            .as_ref(),
        &enqueue::Request {
            force: r.force,
            has_pull_request: r.pr_number.is_some(),
        },
    );
    let analysis_id = match (decision, existing) {
        (Decision::Create, _) | (_, None) => {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO analyses (project_id, sha, config_key, trigger, head_ref, base_ref, base_sha,
                   pr_number, installation_id, status, queued_at, requested_by)
                 VALUES ($1, $2, '', $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            )
            .bind(r.project.id)
            .bind(&r.sha)
            .bind(r.trigger.as_str())
            .bind(&r.head_ref)
            .bind(&r.base_ref)
            .bind(&r.base_sha)
            .bind(r.pr_number)
            .bind(r.project.installation_id)
            .bind(AnalysisStatus::Queued.as_str())
            .bind(now)
            .bind(&r.requested_by)
            .fetch_one(&mut *conn)
            .await
            .context("creating analysis")?;
            id
        }
        (Decision::Reuse { adopt_pull_request }, Some(e)) => {
            if adopt_pull_request {
                sqlx::query(
                    "UPDATE analyses SET trigger = $2, head_ref = $3, base_ref = $4, base_sha = $5,
                       pr_number = $6 WHERE id = $1",
                )
                .bind(e.id)
                .bind(r.trigger.as_str())
                .bind(&r.head_ref)
                .bind(&r.base_ref)
                .bind(&r.base_sha)
                .bind(r.pr_number)
                .execute(&mut *conn)
                .await?;
            }
            return Ok(Accepted::Reused { analysis_id: e.id });
        }
        (Decision::Requeue, Some(e)) => {
            sqlx::query(
                "UPDATE analyses SET status = $9, check_run_id = NULL, error = NULL, trigger = $2,
                   head_ref = COALESCE($3, head_ref), base_ref = COALESCE($4, base_ref),
                   base_sha = COALESCE($5, base_sha), pr_number = COALESCE($6, pr_number),
                   installation_id = COALESCE($7, installation_id), queued_at = $8,
                   requested_by = COALESCE($10, requested_by)
                 WHERE id = $1",
            )
            .bind(e.id)
            .bind(r.trigger.as_str())
            .bind(&r.head_ref)
            .bind(&r.base_ref)
            .bind(&r.base_sha)
            .bind(r.pr_number)
            .bind(r.project.installation_id)
            .bind(now)
            .bind(AnalysisStatus::Queued.as_str())
            .bind(&r.requested_by)
            .execute(&mut *conn)
            .await
            .context("re-queueing analysis")?;
            e.id
        }
    };
    let job_id = insert_job(
        conn,
        JobKind::Analyse,
        Some(analysis_id),
        None,
        limits.max_attempts,
        now,
        Some(now + limits.deadline_ms),
    )
    .await?;
    Ok(Accepted::Enqueued {
        job_id,
        analysis_id,
    })
}
