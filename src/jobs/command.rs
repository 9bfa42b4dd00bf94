//! A command job: something a person asked for in a comment. `/flext-quality rerun` queues a
//! fresh analysis of the pull request's current head — if the person may write to the
//! repository, which is asked of GitHub (the webhook alone cannot be trusted to say).

use super::{JobContext, Permanent};
use crate::domain::events::{AnalysisRequest, Command};
use crate::domain::status::Trigger;
use crate::github::app::{Access, TokenScope};
use crate::github::client::InstallationClient;
use crate::github::comments::can_write;
use crate::store::JobLimits;
use anyhow::{Context, Result};

pub async fn run(cx: &JobContext, payload: Option<&str>) -> Result<()> {
    let command: Command = serde_json::from_str(payload.unwrap_or("null"))
        .map_err(|e| Permanent(format!("the job's command is unreadable: {e}")))?;
    match command {
        Command::Rerun {
            project_id,
            pr_number,
            user,
        } => rerun(cx, project_id, pr_number, &user).await,
        Command::AnalyseRef {
            project_id,
            git_ref,
            user,
        } => analyse_ref(cx, project_id, &git_ref, &user).await,
    }
}

/// The command's project and a client for it with `access`; a missing project, App or
/// installation is permanent.
async fn project_client(
    cx: &JobContext,
    project_id: i64,
    access: Access,
) -> Result<(crate::domain::events::Project, InstallationClient)> {
    let project = cx
        .store
        .get_project(project_id)
        .await?
        .ok_or_else(|| Permanent(format!("project {project_id} does not exist")))?;
    tracing::Span::current().record("repo", project.full_name.as_str());
    let app = cx
        .github
        .clone()
        .ok_or_else(|| Permanent("the GitHub App is not configured".into()))?;
    let installation = project
        .installation_id
        .ok_or_else(|| Permanent(format!("{} has no installation", project.full_name)))?;
    let client = InstallationClient::new(
        app,
        installation,
        TokenScope {
            repository_id: project.id,
            access,
        },
    );
    Ok((project, client))
}

/// Resolves the ref in the mirror and queues a forced analysis of that commit (the API
/// checked the person's role when it queued this).
async fn analyse_ref(cx: &JobContext, project_id: i64, git_ref: &str, user: &str) -> Result<()> {
    let (project, client) = project_client(cx, project_id, Access::Analyse).await?;
    if let Some(app) = &cx.github {
        crate::github::clone_url::check(app.api_url(), &project.clone_url).map_err(Permanent)?;
    }
    let token = client
        .token()
        .await
        .context("getting an installation token")?;
    let lock = cx.mirror_lock(project.id).await;
    let _guard = lock.lock().await;
    let mirrors = cx.mirrors.clone();
    let (id, url, wanted) = (project.id, project.clone_url.clone(), git_ref.to_owned());
    let sha =
        tokio::task::spawn_blocking(move || mirrors.resolve_ref(id, &url, Some(&token), &wanted))
            .await
            .context("fetch task")?
            .map_err(|e| Permanent(format!("{e:#}")))?;
    let head_ref = if git_ref.len() == 40 {
        None
    } else if git_ref.starts_with("refs/") {
        Some(git_ref.to_owned())
    } else {
        Some(format!("refs/heads/{git_ref}"))
    };
    let request = AnalysisRequest {
        project: project.clone(),
        sha: sha.clone(),
        trigger: Trigger::Rerun,
        head_ref,
        base_ref: None,
        base_sha: None,
        pr_number: None,
        force: true,
        requested_by: Some(user.to_owned()),
    };
    let limits = JobLimits {
        max_attempts: cx.max_attempts,
        deadline_ms: cx.job_deadline.as_millis() as i64,
    };
    let accepted = cx.store.enqueue_analysis(&request, limits).await?;
    tracing::info!(user, git_ref, sha, ?accepted, "analysis of a ref queued");
    Ok(())
}

async fn rerun(cx: &JobContext, project_id: i64, pr_number: i64, user: &str) -> Result<()> {
    let (project, client) = project_client(cx, project_id, Access::Converse).await?;
    let repo = &project.full_name;
    let permission = client
        .permission_of(repo, user)
        .await
        .context("asking GitHub for the commenter's permission")?;
    if !can_write(&permission) {
        tracing::warn!(
            user,
            permission,
            pr = pr_number,
            "`/flext-quality rerun` refused: it needs write access to the repository"
        );
        return Ok(());
    }
    let pr = client
        .pull_request(repo, pr_number)
        .await
        .context("reading the pull request")?;
    let request = AnalysisRequest {
        project: project.clone(),
        sha: pr.head.sha.clone(),
        trigger: Trigger::Rerun,
        head_ref: Some(format!("refs/pull/{pr_number}/head")),
        base_ref: Some(format!("refs/heads/{}", pr.base.git_ref)),
        base_sha: Some(pr.base.sha.clone()),
        pr_number: Some(pr_number),
        force: true,
        requested_by: Some(user.to_owned()),
    };
    let limits = JobLimits {
        max_attempts: cx.max_attempts,
        deadline_ms: cx.job_deadline.as_millis() as i64,
    };
    let accepted = cx.store.enqueue_analysis(&request, limits).await?;
    tracing::info!(user, pr = pr_number, sha = %pr.head.sha, ?accepted, "re-run queued");
    Ok(())
}
