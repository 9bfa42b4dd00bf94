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
    }
}

async fn rerun(cx: &JobContext, project_id: i64, pr_number: i64, user: &str) -> Result<()> {
    let project = cx
        .store
        .get_project(project_id)
        .await?
        .ok_or_else(|| Permanent(format!("project {project_id} does not exist")))?;
    let span = tracing::Span::current();
    span.record("repo", project.full_name.as_str());
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
            access: Access::Converse,
        },
    );
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
