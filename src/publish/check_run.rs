//! The check run sink: completes the check run the analysis job created `in_progress`, with
//! the conclusion, title, summary and annotations (50 per request, the conclusion on the last).
//!
//! Idempotent: the task remembers how many requests went through (`<check run id>#<sent>`), so
//! a retry after a failed request sends only the rest and never repeats an annotation batch.
//! A batch whose answer was lost (a 5xx after GitHub appended it) is recognised by the check
//! run's annotation count, and a check run this task must create is first looked for by its
//! external id (the analysis), in case an earlier attempt made it and lost the answer.

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

/// What the task remembers of earlier attempts: `<check run id>#<requests sent>`, and a `?`
/// when the answer to the next request was lost (it may have gone through).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Progress {
    check_run_id: Option<i64>,
    sent: usize,
    unsure: bool,
}

fn progress(task: &PublishTask) -> Progress {
    let Some(memory) = &task.external_id else {
        return Progress::default();
    };
    let (id, sent) = memory.split_once('#').unwrap_or((memory, "0"));
    let (sent, unsure) = match sent.strip_suffix('?') {
        Some(sent) => (sent, true),
        None => (sent, false),
    };
    Progress {
        check_run_id: id.parse().ok(),
        sent: sent.parse().unwrap_or(0),
        unsure,
    }
}

async fn complete(
    cx: &PublishContext,
    task: &PublishTask,
    outcome: &Outcome,
) -> Result<(), PublishError> {
    let client = client(cx, outcome, Access::Analyse)?;
    let bodies = completion(outcome)?;
    let repo = &outcome.project.full_name;
    let memory = progress(task);
    let mut sent = memory.sent;
    let known = match memory.check_run_id.or(outcome.analysis.check_run_id) {
        Some(id) => Some(id),
        // Made by the analysis job or an earlier attempt whose answer was lost.
        None => client
            .find_check_run(
                repo,
                &outcome.analysis.sha,
                &outcome.analysis.id.to_string(),
            )
            .await
            .map_err(classify)?
            .map(|r| r.id),
    };
    let check_run_id = match known {
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
            remember(cx, task, id, sent, false).await?;
            id
        }
    };
    if memory.unsure && sent < bodies.len() {
        // The last attempt lost the answer to request `sent`: GitHub tells whether it went in.
        if went_through(&client, repo, check_run_id, &bodies, sent)
            .await
            .map_err(classify)?
        {
            sent += 1;
            remember(cx, task, check_run_id, sent, false).await?;
        }
    }
    for (i, body) in bodies.iter().enumerate().skip(sent) {
        let mut delay = std::time::Duration::from_millis(250);
        let mut tries = 1;
        // An annotation batch is not sent again blindly (GitHub appends): sent again only once
        // GitHub shows it did not take it.
        while let Err(e) = client.update_check_run(repo, check_run_id, body).await {
            if !e.may_have_applied() || appended(body) == 0 {
                return Err(classify(e));
            }
            match went_through(&client, repo, check_run_id, &bodies, i).await {
                Ok(true) => break,
                Ok(false) if tries < BATCH_TRIES => {}
                Ok(false) => return Err(classify(e)),
                Err(unknown) => {
                    tracing::warn!(error = %unknown, "cannot read the check run back; the next attempt looks again");
                    remember(cx, task, check_run_id, i, true).await?;
                    return Err(classify(e));
                }
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
            tries += 1;
        }
        remember(cx, task, check_run_id, i + 1, false).await?;
    }
    Ok(())
}

/// Sends of one annotation batch within an attempt, as for any request GitHub answers 5xx.
const BATCH_TRIES: u32 = 4;

/// Annotations a request appends to the check run.
fn appended(body: &UpdateCheckRun) -> usize {
    body.output.as_ref().map_or(0, |o| o.annotations.len())
}

/// Whether request `i`, whose answer was lost, was applied by GitHub. One that appends
/// annotations was when the check run holds all of them up to its own; any other only sets
/// values, so it counts as not applied and is simply sent again.
async fn went_through(
    client: &crate::github::client::InstallationClient,
    repo: &str,
    check_run_id: i64,
    bodies: &[UpdateCheckRun],
    i: usize,
) -> Result<bool, GitHubError> {
    if appended(&bodies[i]) == 0 {
        return Ok(false);
    }
    let expected: usize = bodies[..=i].iter().map(appended).sum();
    let run = client.get_check_run(repo, check_run_id).await?;
    Ok(run.annotations_count() >= expected)
}

async fn remember(
    cx: &PublishContext,
    task: &PublishTask,
    id: i64,
    sent: usize,
    unsure: bool,
) -> Result<(), PublishError> {
    let unsure = if unsure { "?" } else { "" };
    cx.store
        .set_publish_external_id(task.id, &format!("{id}#{sent}{unsure}"))
        .await
        .map_err(PublishError::Retry)
}
