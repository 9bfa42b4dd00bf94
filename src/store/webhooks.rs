//! What a webhook delivery writes: the delivery record, installation and project bookkeeping,
//! and the analysis job — all in one transaction, so an accepted delivery is never lost and a
//! redelivery never analyses twice.

use super::{col, now_ms, Store};
use anyhow::{Context, Result};
use sqlx::{Any, Transaction};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectUpsert {
    pub id: i64,
    pub installation_id: Option<i64>,
    pub full_name: String,
    pub default_branch: String,
    pub clone_url: String,
}

/// A request to analyse one commit of one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisRequest {
    pub project: ProjectUpsert,
    pub sha: String,
    pub trigger: String,
    /// Ref to fetch for the commit (`refs/pull/7/head`, `refs/heads/main`).
    pub head_ref: Option<String>,
    /// Ref of the branch to compare with (`refs/heads/main`) for pull requests.
    pub base_ref: Option<String>,
    pub base_sha: Option<String>,
    pub pr_number: Option<i64>,
    /// A re-run asked for by a user: analyse again even if the commit was analysed.
    pub force: bool,
}

/// Bookkeeping and work that one webhook delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookWork {
    Nothing,
    InstallationCreated {
        id: i64,
        account_login: String,
        repositories: Vec<ProjectUpsert>,
    },
    InstallationDeleted {
        id: i64,
    },
    InstallationSuspended {
        id: i64,
        suspended: bool,
    },
    RepositoriesRemoved {
        installation_id: i64,
        repository_ids: Vec<i64>,
    },
    RepositoriesAdded {
        installation_id: i64,
        repositories: Vec<ProjectUpsert>,
    },
    ProjectRenamed(ProjectUpsert),
    Analyse(AnalysisRequest),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The delivery id was seen before: nothing was done.
    Duplicate,
    /// A new analysis job was enqueued.
    Enqueued { job_id: i64, analysis_id: i64 },
    /// The commit already has (or is getting) an analysis; it is reused.
    Reused { analysis_id: i64 },
    /// Recorded (and bookkeeping applied) but no analysis needed.
    Recorded,
}

impl DeliveryOutcome {
    fn label(self) -> &'static str {
        match self {
            DeliveryOutcome::Duplicate => "duplicate",
            DeliveryOutcome::Enqueued { .. } => "enqueued",
            DeliveryOutcome::Reused { .. } => "reused",
            DeliveryOutcome::Recorded => "recorded",
        }
    }
}

pub const DEFAULT_MAX_ATTEMPTS: i64 = 3;

impl Store {
    /// Records a delivery and applies what it asks for, atomically.
    pub async fn accept_delivery(
        &self,
        delivery_id: &str,
        event: &str,
        action: Option<&str>,
        work: &WebhookWork,
        max_attempts: i64,
    ) -> Result<DeliveryOutcome> {
        let now = now_ms();
        let mut tx = self.pool.begin().await.context("starting transaction")?;
        let inserted = sqlx::query(
            "INSERT INTO deliveries (delivery_id, event, action, outcome, received_at)
             VALUES ($1, $2, $3, 'pending', $4) ON CONFLICT (delivery_id) DO NOTHING",
        )
        .bind(delivery_id)
        .bind(event)
        .bind(action)
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("recording delivery")?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await.ok();
            return Ok(DeliveryOutcome::Duplicate);
        }
        let outcome = apply_work(&mut tx, work, now, max_attempts).await?;
        let job_id = match outcome {
            DeliveryOutcome::Enqueued { job_id, .. } => Some(job_id),
            _ => None,
        };
        sqlx::query("UPDATE deliveries SET outcome = $1, job_id = $2 WHERE delivery_id = $3")
            .bind(outcome.label())
            .bind(job_id)
            .bind(delivery_id)
            .execute(&mut *tx)
            .await
            .context("updating delivery outcome")?;
        tx.commit().await.context("committing delivery")?;
        Ok(outcome)
    }

    /// Number of recorded deliveries (for tests and metrics).
    pub async fn delivery_count(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM deliveries")
            .fetch_one(&self.pool)
            .await?;
        col(&row, "n")
    }

    pub async fn get_project(&self, id: i64) -> Result<Option<ProjectUpsert>> {
        let row = sqlx::query(
            "SELECT id, installation_id, full_name, default_branch, clone_url FROM projects WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("loading project")?;
        row.map(|r| {
            Ok(ProjectUpsert {
                id: col(&r, "id")?,
                installation_id: col(&r, "installation_id")?,
                full_name: col(&r, "full_name")?,
                default_branch: col(&r, "default_branch")?,
                clone_url: col(&r, "clone_url")?,
            })
        })
        .transpose()
    }

    /// Whether an installation is known and not suspended.
    pub async fn installation_active(&self, id: i64) -> Result<Option<bool>> {
        let row = sqlx::query("SELECT suspended FROM installations WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| col::<i64>(&r, "suspended").map(|s| s == 0))
            .transpose()
    }
}

async fn apply_work(
    tx: &mut Transaction<'static, Any>,
    work: &WebhookWork,
    now: i64,
    max_attempts: i64,
) -> Result<DeliveryOutcome> {
    match work {
        WebhookWork::Nothing => {}
        WebhookWork::InstallationCreated {
            id,
            account_login,
            repositories,
        } => {
            sqlx::query(
                "INSERT INTO installations (id, account_login, suspended, created_at, updated_at)
                 VALUES ($1, $2, 0, $3, $3)
                 ON CONFLICT (id) DO UPDATE SET account_login = excluded.account_login,
                   suspended = 0, updated_at = excluded.updated_at",
            )
            .bind(id)
            .bind(account_login)
            .bind(now)
            .execute(&mut **tx)
            .await
            .context("saving installation")?;
            for p in repositories {
                upsert_project(tx, p, now).await?;
            }
        }
        WebhookWork::InstallationDeleted { id } => {
            sqlx::query("UPDATE projects SET installation_id = NULL, updated_at = $2 WHERE installation_id = $1")
                .bind(id)
                .bind(now)
                .execute(&mut **tx)
                .await?;
            sqlx::query("DELETE FROM installations WHERE id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await
                .context("deleting installation")?;
        }
        WebhookWork::InstallationSuspended { id, suspended } => {
            sqlx::query("UPDATE installations SET suspended = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(i64::from(*suspended))
                .bind(now)
                .execute(&mut **tx)
                .await?;
        }
        WebhookWork::RepositoriesAdded {
            installation_id: _,
            repositories,
        } => {
            for p in repositories {
                upsert_project(tx, p, now).await?;
            }
        }
        WebhookWork::RepositoriesRemoved {
            installation_id,
            repository_ids,
        } => {
            for repo_id in repository_ids {
                sqlx::query(
                    "UPDATE projects SET installation_id = NULL, updated_at = $3
                     WHERE id = $1 AND installation_id = $2",
                )
                .bind(repo_id)
                .bind(installation_id)
                .bind(now)
                .execute(&mut **tx)
                .await?;
            }
        }
        WebhookWork::ProjectRenamed(p) => upsert_project(tx, p, now).await?,
        WebhookWork::Analyse(request) => {
            return enqueue_analysis(tx, request, now, max_attempts).await
        }
    }
    Ok(DeliveryOutcome::Recorded)
}

async fn upsert_project(
    tx: &mut Transaction<'static, Any>,
    p: &ProjectUpsert,
    now: i64,
) -> Result<()> {
    // An empty clone URL or default branch (installation payloads carry neither) never
    // overwrites a known one.
    sqlx::query(
        "INSERT INTO projects (id, installation_id, full_name, default_branch, clone_url, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (id) DO UPDATE SET
           installation_id = COALESCE(excluded.installation_id, projects.installation_id),
           full_name = excluded.full_name,
           default_branch = CASE WHEN excluded.default_branch = '' THEN projects.default_branch ELSE excluded.default_branch END,
           clone_url = CASE WHEN excluded.clone_url = '' THEN projects.clone_url ELSE excluded.clone_url END,
           updated_at = excluded.updated_at",
    )
    .bind(p.id)
    .bind(p.installation_id)
    .bind(&p.full_name)
    .bind(&p.default_branch)
    .bind(&p.clone_url)
    .bind(now)
    .execute(&mut **tx)
    .await
    .with_context(|| format!("saving project {}", p.full_name))?;
    Ok(())
}

async fn enqueue_analysis(
    tx: &mut Transaction<'static, Any>,
    r: &AnalysisRequest,
    now: i64,
    max_attempts: i64,
) -> Result<DeliveryOutcome> {
    upsert_project(tx, &r.project, now).await?;
    let existing = sqlx::query(
        "SELECT id, status, check_run_id, pr_number FROM analyses
         WHERE project_id = $1 AND sha = $2 AND config_key = ''",
    )
    .bind(r.project.id)
    .bind(&r.sha)
    .fetch_optional(&mut **tx)
    .await
    .context("looking up analysis")?;

    let analysis_id = match existing {
        None => {
            let row = sqlx::query(
                "INSERT INTO analyses (project_id, sha, config_key, trigger, head_ref, base_ref, base_sha,
                   pr_number, installation_id, status, queued_at)
                 VALUES ($1, $2, '', $3, $4, $5, $6, $7, $8, 'queued', $9) RETURNING id",
            )
            .bind(r.project.id)
            .bind(&r.sha)
            .bind(&r.trigger)
            .bind(&r.head_ref)
            .bind(&r.base_ref)
            .bind(&r.base_sha)
            .bind(r.pr_number)
            .bind(r.project.installation_id)
            .bind(now)
            .fetch_one(&mut **tx)
            .await
            .context("creating analysis")?;
            col::<i64>(&row, "id")?
        }
        Some(row) => {
            let id: i64 = col(&row, "id")?;
            let status: String = col(&row, "status")?;
            let check_run: Option<i64> = col(&row, "check_run_id")?;
            let pr_number: Option<i64> = col(&row, "pr_number")?;
            // Live means a job is queued or running for it; a row left `running` by a base
            // analysis that never finished has no job and must not block a real trigger.
            let live = sqlx::query(
                "SELECT id FROM jobs WHERE analysis_id = $1 AND state IN ('queued', 'running')",
            )
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .is_some();
            // A pull-request trigger brings the base to compare with; an analysis created by a
            // bare check suite lacks it, so the richer context wins while it has not started.
            if status == "queued" && pr_number.is_none() && r.pr_number.is_some() {
                sqlx::query(
                    "UPDATE analyses SET trigger = $2, head_ref = $3, base_ref = $4, base_sha = $5,
                       pr_number = $6 WHERE id = $1",
                )
                .bind(id)
                .bind(&r.trigger)
                .bind(&r.head_ref)
                .bind(&r.base_ref)
                .bind(&r.base_sha)
                .bind(r.pr_number)
                .execute(&mut **tx)
                .await?;
            }
            let needs_run = !live && (r.force || status == "failed" || check_run.is_none());
            if !needs_run {
                return Ok(DeliveryOutcome::Reused { analysis_id: id });
            }
            sqlx::query(
                "UPDATE analyses SET status = 'queued', check_run_id = NULL, error = NULL, trigger = $2,
                   head_ref = COALESCE($3, head_ref), base_ref = COALESCE($4, base_ref),
                   base_sha = COALESCE($5, base_sha), pr_number = COALESCE($6, pr_number),
                   installation_id = COALESCE($7, installation_id), queued_at = $8
                 WHERE id = $1",
            )
            .bind(id)
            .bind(&r.trigger)
            .bind(&r.head_ref)
            .bind(&r.base_ref)
            .bind(&r.base_sha)
            .bind(r.pr_number)
            .bind(r.project.installation_id)
            .bind(now)
            .execute(&mut **tx)
            .await
            .context("re-queueing analysis")?;
            id
        }
    };
    let job = sqlx::query(
        "INSERT INTO jobs (kind, analysis_id, state, attempts, max_attempts, run_after, created_at, updated_at)
         VALUES ('analyse', $1, 'queued', 0, $2, $3, $3, $3) RETURNING id",
    )
    .bind(analysis_id)
    .bind(max_attempts)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .context("enqueueing job")?;
    Ok(DeliveryOutcome::Enqueued {
        job_id: col(&job, "id")?,
        analysis_id,
    })
}
