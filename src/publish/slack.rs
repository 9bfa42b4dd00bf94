//! Slack, on changes of state: a Block Kit message with a plain `text` fallback, sent to the
//! project's own incoming webhook (sealed in the database) or `SLACK_WEBHOOK_URL`.
//!
//! Each (project, transition, commit) is recorded once when the analysis is saved, so a
//! re-run tells nothing twice; the task remembers the outcome on the notification. Slack's
//! answers are honoured: 429 waits for `Retry-After` without spending an attempt, 5xx are
//! retried with back-off, other refusals (`invalid_blocks`, `no_service`, …) are recorded with
//! Slack's reason and not retried. The URL is a secret: it is never logged, and errors from
//! sending are stripped of it.

use super::{Outcome, PublishContext, PublishError, PublishFuture, Publisher};
use crate::domain::gate::Verdict;
use crate::domain::notify::{BranchState, Transition};
use crate::domain::status::Sink;
use crate::store::PublishTask;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::time::Duration;

/// Slack's limits (Block Kit and incoming webhooks).
pub const MAX_HEADER_CHARS: usize = 150;
pub const MAX_SECTION_CHARS: usize = 3000;
pub const MAX_TEXT_CHARS: usize = 40_000;
pub const MAX_BLOCKS: usize = 50;
/// Failing conditions listed in a message.
const MAX_CONDITIONS: usize = 10;

pub struct SlackPublisher;

impl Publisher for SlackPublisher {
    fn sink(&self) -> Sink {
        Sink::Slack
    }

    fn publish<'a>(
        &'a self,
        cx: &'a PublishContext,
        _task: &'a PublishTask,
        outcome: &'a Outcome,
    ) -> PublishFuture<'a> {
        Box::pin(send(cx, outcome))
    }
}

async fn send(cx: &PublishContext, outcome: &Outcome) -> Result<(), PublishError> {
    let retry = PublishError::Retry;
    let note = cx
        .store
        .notification_of(outcome.analysis.id)
        .await
        .map_err(retry)?
        .ok_or_else(|| PublishError::Permanent("no notification recorded".into()))?;
    if note.state == "sent" {
        return Ok(());
    }
    let url = destination(cx, outcome.project.id).await?;
    let before = match &outcome.analysis.compared_sha {
        Some(sha) => cx
            .store
            .branch_state(outcome.project.id, sha)
            .await
            .map_err(PublishError::Retry)?,
        None => None,
    };
    let web = crate::github::web_url(
        cx.github
            .as_ref()
            .map_or("https://api.github.com", |g| g.api_url()),
    );
    let body = message(outcome, note.transition, before.as_ref(), &web);
    let response = cx
        .http
        .post(url.expose_secret())
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| {
            crate::metrics::slack_request(None);
            PublishError::Retry(anyhow::anyhow!("cannot reach Slack: {}", e.without_url()))
        })?;
    let status = response.status().as_u16();
    crate::metrics::slack_request(Some(status));
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let answer: String = response
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    match status {
        200..=299 => {
            cx.store
                .finish_notification(note.id, true, None)
                .await
                .map_err(PublishError::Retry)?;
            Ok(())
        }
        429 => Err(PublishError::WaitAndRetry(
            Duration::from_secs(retry_after.unwrap_or(30).clamp(1, 3600)),
            format!("Slack is rate limiting us ({answer})"),
        )),
        500..=599 => Err(PublishError::Retry(anyhow::anyhow!(
            "Slack answered {status} ({answer})"
        ))),
        _ => {
            let why = format!("Slack refused the message: {status} {answer}");
            cx.store
                .finish_notification(note.id, false, Some(&why))
                .await
                .map_err(PublishError::Retry)?;
            Err(PublishError::Permanent(why))
        }
    }
}

/// The project's own destination, else the server's default.
async fn destination(cx: &PublishContext, project_id: i64) -> Result<SecretString, PublishError> {
    let sealed = cx
        .store
        .slack_webhook(project_id)
        .await
        .map_err(PublishError::Retry)?;
    match (sealed, &cx.secrets) {
        (Some(sealed), Some(secrets)) => secrets
            .open(&sealed)
            .map_err(|e| PublishError::Permanent(format!("{e:#}"))),
        (Some(_), None) => Err(PublishError::Permanent(
            "the project has its own Slack destination, but FLEXT_QUALITY_SECRET_KEY is not set to open it".into(),
        )),
        (None, _) => cx.slack_default.clone().ok_or_else(|| {
            PublishError::Permanent("no Slack destination is configured (SLACK_WEBHOOK_URL)".into())
        }),
    }
}

/// Slack's mrkdwn escaping: `&`, `<` and `>` only (they start links and mentions).
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

fn grade_line(s: Option<&BranchState>) -> String {
    match s {
        Some(BranchState {
            grade: Some(g),
            score: Some(x),
            ..
        }) => format!("{g} · {x:.1}"),
        _ => "no grade".into(),
    }
}

/// The Block Kit message for a change of state, within Slack's limits.
pub fn message(
    outcome: &Outcome,
    transition: Transition,
    before: Option<&BranchState>,
    web: &str,
) -> Value {
    let a = &outcome.analysis;
    let repo = &outcome.project.full_name;
    let branch = a
        .head_ref
        .as_deref()
        .and_then(|r| r.strip_prefix("refs/heads/"))
        .unwrap_or(&outcome.project.default_branch);
    let after = BranchState {
        verdict: a.verdict.unwrap_or(Verdict::Neutral),
        grade: a.grade,
        score: a.score,
    };
    let (icon, what) = match transition {
        Transition::Failed => ("🔴", "quality gate failed".to_owned()),
        Transition::Recovered => ("🟢", "quality gate passes again".to_owned()),
        Transition::GradeDropped => (
            "🟠",
            format!(
                "grade dropped to {}",
                after.grade.map_or("?", |g| g.as_str())
            ),
        ),
        Transition::PullRequestFailed => ("🔴", "pull request fails its quality gate".to_owned()),
    };
    let place = match a.pr_number {
        Some(n) => format!("#{n}"),
        None => branch.to_owned(),
    };
    let header = cut(&format!("{icon} {repo} {place}: {what}"), MAX_HEADER_CHARS);
    let short = &a.sha[..a.sha.len().min(7)];
    let commit_url = format!("{web}/{repo}/commit/{}", a.sha);
    let by = a
        .requested_by
        .as_deref()
        .map(|u| format!(" by {}", escape(u)))
        .unwrap_or_default();
    let failing: Vec<String> = outcome
        .details
        .gate
        .as_ref()
        .map(|g| {
            g.conditions
                .iter()
                .filter(|c| !c.passed)
                .take(MAX_CONDITIONS)
                .map(|c| {
                    format!(
                        "• {}: {} (required {})",
                        escape(&c.name),
                        escape(&cut(&c.actual, 300)),
                        escape(&c.threshold)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut summary = format!(
        "*Commit* <{commit_url}|{short}>{by}\n*Grade* {} → {}",
        grade_line(before),
        grade_line(Some(&after))
    );
    if !failing.is_empty() {
        summary.push_str("\n*What fails*\n");
        summary.push_str(&failing.join("\n"));
    }
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": header, "emoji": true}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&summary, MAX_SECTION_CHARS)}}),
    ];
    let mut links = Vec::new();
    if let Some(id) = a.check_run_id {
        links.push(format!("<{web}/{repo}/runs/{id}|Check run>"));
    }
    if let Some(n) = a.pr_number {
        links.push(format!("<{web}/{repo}/pull/{n}|Pull request>"));
    }
    if !links.is_empty() {
        blocks.push(
            json!({"type": "context", "elements": [{"type": "mrkdwn", "text": links.join(" · ")}]}),
        );
    }
    blocks.truncate(MAX_BLOCKS);
    let text = cut(
        &format!(
            "{repo} {place}: {what} at {short}{} ({} → {})",
            a.requested_by
                .as_deref()
                .map(|u| format!(" by {u}"))
                .unwrap_or_default(),
            grade_line(before),
            grade_line(Some(&after))
        ),
        MAX_TEXT_CHARS,
    );
    json!({ "text": escape(&text), "blocks": blocks })
}

#[cfg(test)]
mod tests;
