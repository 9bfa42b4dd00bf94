//! The check run sink: completes the check run the analysis job created `in_progress`, with
//! the conclusion, title, summary and annotations (50 per request, the conclusion on the last).
//!
//! Idempotent: the task remembers how many requests went through (`<check run id>#<sent>`), so
//! a retry after a failed request sends only the rest and never repeats an annotation batch.

use super::{client, render, Outcome, PublishContext, PublishError, PublishFuture, Publisher};
use crate::domain::status::Sink;
use crate::domain::time::rfc3339;
use crate::github::app::Access;
use crate::github::checks::{
    CheckStatus, Conclusion, CreateCheckRun, Output, UpdateCheckRun, CHECK_NAME,
};
use crate::github::http::GitHubError;
use crate::store::PublishTask;

pub struct CheckRunPublisher;

impl Publisher for CheckRunPublisher {
    fn sink(&self) -> Sink {
        Sink::CheckRun
    }

    fn publish<'a>(
        &'a self,
        cx: &'a PublishContext,
        task: &'a PublishTask,
        outcome: &'a Outcome,
    ) -> PublishFuture<'a> {
        Box::pin(complete(cx, task, outcome))
    }
}

/// A GitHub error as a publishing error: refusals will not heal, the rest may.
pub fn classify(e: GitHubError) -> PublishError {
    if let GitHubError::RateLimited { wait, message } = e {
        return PublishError::WaitAndRetry(wait, format!("GitHub rate limit: {message}"));
    }
    if e.cannot_heal() {
        PublishError::Permanent(e.to_string())
    } else {
        PublishError::Retry(e.into())
    }
}

fn now() -> String {
    rfc3339(crate::store::now_ms() / 1000)
}

/// The requests that complete the check run for this outcome.
fn completion(outcome: &Outcome) -> Result<Vec<UpdateCheckRun>, PublishError> {
    if let Some(f) = &outcome.details.failure {
        return Ok(vec![UpdateCheckRun {
            status: Some(CheckStatus::Completed),
            conclusion: Some(Conclusion::parse(&f.conclusion).unwrap_or(Conclusion::Failure)),
            completed_at: Some(now()),
            output: Some(Output {
                title: f.title.clone(),
                summary: f.summary.clone(),
                annotations: Vec::new(),
            }),
            actions: crate::github::checks::actions(),
        }]);
    }
    let report = outcome.report().ok_or_else(|| {
        PublishError::Permanent("the analysis has neither a result nor a failure to show".into())
    })?;
    Ok(render::completion_requests(&report, &now()))
}

/// `(check run id, requests already sent)` from the task's memory.
fn progress(task: &PublishTask) -> (Option<i64>, usize) {
    let Some(memory) = &task.external_id else {
        return (None, 0);
    };
    let (id, sent) = memory.split_once('#').unwrap_or((memory, "0"));
    (id.parse().ok(), sent.parse().unwrap_or(0))
}

async fn complete(
    cx: &PublishContext,
    task: &PublishTask,
    outcome: &Outcome,
) -> Result<(), PublishError> {
    let client = client(cx, outcome, Access::Analyse)?;
    let bodies = completion(outcome)?;
    let repo = &outcome.project.full_name;
    let (remembered, mut sent) = progress(task);
    let check_run_id = match remembered.or(outcome.analysis.check_run_id) {
        Some(id) => id,
        None => {
            // The job ended before it could create the check run (it failed early).
            let first = &bodies[0];
            let create = CreateCheckRun {
                name: CHECK_NAME.into(),
                head_sha: outcome.analysis.sha.clone(),
                status: CheckStatus::InProgress,
                started_at: None,
                external_id: Some(outcome.analysis.id.to_string()),
                details_url: cx
                    .public_url
                    .as_ref()
                    .map(|u| format!("{u}/analyses/{}", outcome.analysis.id)),
                conclusion: None,
                completed_at: None,
                output: first
                    .output
                    .clone()
                    .map(|mut o| {
                        o.annotations.clear();
                        o
                    })
                    .unwrap_or(Output {
                        title: "flext-quality".into(),
                        summary: String::new(),
                        annotations: Vec::new(),
                    }),
            };
            let id = client
                .create_check_run(repo, &create)
                .await
                .map_err(classify)?;
            sent = 0;
            remember(cx, task, id, sent).await?;
            id
        }
    };
    for (i, body) in bodies.iter().enumerate().skip(sent) {
        client
            .update_check_run(repo, check_run_id, body)
            .await
            .map_err(classify)?;
        remember(cx, task, check_run_id, i + 1).await?;
    }
    Ok(())
}

async fn remember(
    cx: &PublishContext,
    task: &PublishTask,
    id: i64,
    sent: usize,
) -> Result<(), PublishError> {
    cx.store
        .set_publish_external_id(task.id, &format!("{id}#{sent}"))
        .await
        .map_err(PublishError::Retry)
}
