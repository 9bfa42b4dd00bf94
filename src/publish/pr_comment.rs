//! The one flext-quality comment on a pull request, kept current: posted on the first
//! analysis, edited in place by every later one (found by the id we stored, or by the hidden
//! marker when the id is lost), never a second one — a short lock in the database lets one
//! publisher at a time touch it, and an older analysis never overwrites a newer one's comment.
//!
//! The body comes from `templates/pr_comment.md.j2`; every value printed there is Markdown-escaped
//! unless it was built here as safe (links, code spans).

use super::markdown;
use super::{client, Outcome, PublishContext, PublishError, PublishFuture, Publisher};
use crate::analysis::engine::BackendStatus;
use crate::domain::finding::Severity;
use crate::domain::gate::Verdict;
use crate::domain::status::Sink;
use crate::domain::test_code::TestCodeCount;
use crate::github::app::Access;
use crate::github::comments::MAX_COMMENT_CHARS;
use crate::store::PublishTask;
use minijinja::Value;
use serde::Serialize;

/// How our comment is recognised.
pub const MARKER: &str = "<!-- flext-quality:pr-comment -->";
/// New findings listed in the comment; the rest are counted ("and N more in the check run").
pub const MAX_ROWS: usize = 50;
/// Longest message shown in the table of new findings.
const MAX_MESSAGE_CHARS: usize = 300;
/// How long one publisher may hold the comment.
const LOCK_MS: i64 = 60_000;

const TEMPLATE: &str = include_str!("../../templates/pr_comment.md.j2");

/// Where links point.
pub struct Links {
    /// GitHub's web address (`https://github.com`).
    pub web: String,
    /// This server's public URL, for the dashboard link.
    pub public_url: Option<String>,
}

pub struct PrCommentPublisher;

impl Publisher for PrCommentPublisher {
    fn sink(&self) -> Sink {
        Sink::PrComment
    }

    fn publish<'a>(
        &'a self,
        cx: &'a PublishContext,
        _task: &'a PublishTask,
        outcome: &'a Outcome,
    ) -> PublishFuture<'a> {
        Box::pin(upsert(cx, outcome))
    }
}

async fn upsert(cx: &PublishContext, outcome: &Outcome) -> Result<(), PublishError> {
    let pr = outcome
        .analysis
        .pr_number
        .ok_or_else(|| PublishError::Permanent("the analysis is not of a pull request".into()))?;
    let project = outcome.project.id;
    let held = cx
        .store
        .lock_pr_comment(project, pr, LOCK_MS)
        .await
        .map_err(PublishError::Retry)?
        .ok_or_else(|| {
            PublishError::Retry(anyhow::anyhow!(
                "another publisher is updating this pull request's comment"
            ))
        })?;
    let this = outcome.analysis.id;
    if held.analysis_id.is_some_and(|shown| shown > this) {
        // A newer analysis already published: this one's news is stale.
        cx.store
            .release_pr_comment(project, pr, held.comment_id, held.analysis_id)
            .await
            .map_err(PublishError::Retry)?;
        return Ok(());
    }
    // Searching for the marker costs a request or more; it is only needed when an earlier
    // attempt may have posted without recording the id.
    let maybe_posted = held.comment_id.is_some() || held.analysis_id.is_some();
    if !maybe_posted {
        cx.store
            .note_pr_comment_attempt(project, pr, this)
            .await
            .map_err(PublishError::Retry)?;
    }
    let written = write(cx, outcome, pr, held.comment_id, maybe_posted).await;
    let (comment_id, shown) = match &written {
        Ok(id) => (Some(*id), Some(this)),
        // Keep the attempt on record: the comment may have been posted.
        Err(_) => (held.comment_id, held.analysis_id.or(Some(this))),
    };
    cx.store
        .release_pr_comment(project, pr, comment_id, shown)
        .await
        .map_err(PublishError::Retry)?;
    written.map(|_| ())
}

/// Edits our comment (the stored one, else the one with the marker when `search`) or posts
/// it; its id.
async fn write(
    cx: &PublishContext,
    outcome: &Outcome,
    pr: i64,
    stored: Option<i64>,
    search: bool,
) -> Result<i64, PublishError> {
    let client = client(cx, outcome, Access::Converse)?;
    let links = Links {
        web: crate::github::web_url(client_api_url(cx)),
        public_url: cx.public_url.clone(),
    };
    let body = render(outcome, &links);
    let repo = &outcome.project.full_name;
    let classify = super::check_run::classify;
    if let Some(id) = stored {
        match client.update_comment(repo, id, &body).await {
            Ok(()) => return Ok(id),
            // Deleted by someone: find it by its marker, or post it again.
            Err(e) if e.status() == Some(404) => {}
            Err(e) => return Err(classify(e)),
        }
    }
    let found = if search {
        client
            .find_comment(repo, pr, MARKER)
            .await
            .map_err(classify)?
    } else {
        None
    };
    if let Some(found) = found {
        client
            .update_comment(repo, found.id, &body)
            .await
            .map_err(classify)?;
        return Ok(found.id);
    }
    match client.create_comment(repo, pr, &body).await {
        Ok(id) => Ok(id),
        // GitHub may have posted it and lost only the answer: adopt it rather than post again.
        Err(e) if e.may_have_applied() => {
            tracing::warn!(error = %e, "posting the comment failed; looking whether GitHub posted it");
            match client.find_comment(repo, pr, MARKER).await {
                Ok(Some(posted)) => Ok(posted.id),
                // Not there, or GitHub cannot say: the next attempt searches again (the attempt
                // stays on record), so it never posts a second one.
                _ => Err(classify(e)),
            }
        }
        Err(e) => Err(classify(e)),
    }
}

fn client_api_url(cx: &PublishContext) -> &str {
    cx.github
        .as_ref()
        .map_or("https://api.github.com", |g| g.api_url())
}

#[derive(Serialize)]
struct ConditionView {
    name: String,
    actual: String,
    threshold: String,
    passed: bool,
}

#[derive(Serialize)]
struct CountView {
    severity: &'static str,
    new: usize,
    fixed: usize,
}

#[derive(Serialize)]
struct RowView {
    severity: &'static str,
    rule: Value,
    location: Value,
    message: String,
}

#[derive(Serialize)]
struct SuppressionView {
    location: Value,
    kind: Value,
}

#[derive(Serialize)]
struct BackendView {
    name: String,
    version: String,
    status: String,
    time: String,
}

#[derive(Serialize, Default)]
struct View {
    sha: Value,
    compared: Option<Value>,
    failure: Option<String>,
    quiet: bool,
    icon: &'static str,
    headline: Value,
    verdict: &'static str,
    reason: Option<String>,
    conditions: Vec<ConditionView>,
    deductions: Option<String>,
    counts: Vec<CountView>,
    new_total: usize,
    fixed_total: usize,
    rows: Vec<RowView>,
    more: usize,
    suppressions: Vec<SuppressionView>,
    counted: Option<String>,
    backends: Vec<BackendView>,
    links: Option<Value>,
}

fn safe(s: String) -> Value {
    Value::from_safe_string(s)
}

fn short(sha: &str) -> String {
    sha[..sha.len().min(12)].to_owned()
}

/// The comment's body for an outcome, within GitHub's limit.
pub fn render(outcome: &Outcome, links: &Links) -> String {
    let view = view(outcome, links);
    let mut env = minijinja::Environment::new();
    env.set_formatter(|out, _state, value| {
        let text = match value.as_str() {
            Some(s) if !value.is_safe() => markdown::text(s),
            _ => value.to_string(),
        };
        out.write_str(&text)
            .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string()))
    });
    let rendered = env
        .render_str(TEMPLATE, Value::from(minijinja::value::Serde(&view)))
        .unwrap_or_else(|e| format!("{MARKER}\nflext-quality could not render its comment: {e}"));
    fit(rendered)
}

/// Cut to GitHub's limit with a note, on a line boundary.
fn fit(body: String) -> String {
    const NOTE: &str = "\n\n… cut to fit GitHub's comment limit; the check run has everything.\n";
    if body.chars().count() <= MAX_COMMENT_CHARS {
        return body;
    }
    let budget = MAX_COMMENT_CHARS - NOTE.chars().count();
    let mut cut: String = body.chars().take(budget).collect();
    if let Some(end) = cut.rfind('\n') {
        cut.truncate(end);
    }
    cut + NOTE
}

fn view(outcome: &Outcome, links: &Links) -> View {
    let a = &outcome.analysis;
    let d = &outcome.details;
    let repo = &outcome.project.full_name;
    let mut v = View {
        sha: safe(markdown::code(&short(&a.sha))),
        compared: a
            .compared_sha
            .as_deref()
            .map(|c| safe(markdown::code(&short(c)))),
        links: link_line(outcome, links),
        ..View::default()
    };
    if let Some(f) = &d.failure {
        v.failure = Some(f.title.clone());
        return v;
    }
    let (Some(gate), Some(report)) = (d.gate.as_ref(), outcome.report()) else {
        v.failure = Some("the analysis has no result to show".into());
        return v;
    };
    let new: Vec<_> = outcome.findings.iter().filter(|f| f.is_new).collect();
    v.new_total = new.len();
    v.fixed_total = outcome.fixed.len();
    v.verdict = match gate.verdict {
        Verdict::Success => "passed",
        Verdict::Failure => "failed",
        Verdict::Neutral => "no verdict",
    };
    v.icon = match gate.verdict {
        Verdict::Success => "✅",
        Verdict::Failure => "❌",
        Verdict::Neutral => "➖",
    };
    v.headline = safe(match report.score {
        Some(s) => {
            let change = report
                .base_score
                .map(|b| format!(" ({})", signed(s.score - b)))
                .unwrap_or_default();
            format!("**{} · {:.1}**{change}", s.grade, s.score)
        }
        None if gate.verdict == Verdict::Neutral => "nothing to analyse".into(),
        None => "no tool ran".into(),
    });
    v.reason = gate.reason.clone().or_else(|| {
        report
            .score
            .is_none()
            .then(|| "No analysis tool ran, so there is no score; the check run says why.".into())
    });
    v.quiet = gate.verdict == Verdict::Success
        && v.new_total == 0
        && v.fixed_total == 0
        && report.suppressions.is_empty();
    v.conditions = gate
        .conditions
        .iter()
        .map(|c| ConditionView {
            name: c.name.clone(),
            actual: c.actual.clone(),
            threshold: c.threshold.clone(),
            passed: c.passed,
        })
        .collect();
    v.deductions = report.score.map(|s| {
        format!(
            "Score = 100 − security {:.1} − reliability {:.1} − maintainability {:.1}, over {} lines of code.",
            s.security, s.reliability, s.maintainability, s.ncloc
        )
    });
    v.counts = Severity::ALL
        .iter()
        .map(|sev| CountView {
            severity: sev.as_str(),
            new: new.iter().filter(|f| f.finding.severity == *sev).count(),
            fixed: outcome.fixed.iter().filter(|f| f.severity == *sev).count(),
        })
        .collect();
    let blob =
        |path: &str, line: u32| format!("{}/{repo}/blob/{}/{path}#L{line}", links.web, a.sha);
    let mut ordered = new.clone();
    ordered.sort_by_key(|f| std::cmp::Reverse(f.finding.severity));
    v.rows = ordered
        .iter()
        .take(MAX_ROWS)
        .map(|f| {
            let f = &f.finding;
            let rule = format!("{}:{}", f.backend, f.rule);
            RowView {
                severity: f.severity.as_str(),
                rule: safe(match &f.help_url {
                    Some(url) => markdown::link(&rule, url),
                    None => markdown::text(&rule),
                }),
                location: safe(markdown::link(
                    &format!("{}:{}", f.path, f.start_line),
                    &blob(&f.path, f.start_line),
                )),
                message: f.message.chars().take(MAX_MESSAGE_CHARS).collect(),
            }
        })
        .collect();
    v.more = new.len().saturating_sub(MAX_ROWS);
    v.suppressions = report
        .suppressions
        .iter()
        .take(MAX_ROWS)
        .map(|s| SuppressionView {
            location: safe(markdown::link(
                &format!("{}:{}", s.path, s.line),
                &blob(&s.path, s.line),
            )),
            kind: safe(markdown::code(s.kind.label())),
        })
        .collect();
    v.counted = report
        .test_code
        .and_then(TestCodeCount::describe)
        .map(|c| format!("Counted differently: {c}."));
    v.backends = report
        .backends
        .iter()
        .filter(|b| !matches!(b.status, BackendStatus::NotApplicable(_)))
        .map(|b| BackendView {
            name: b.name.clone(),
            version: b.version.clone().unwrap_or_else(|| "?".into()),
            status: match &b.status {
                BackendStatus::Ok => "ok".into(),
                BackendStatus::Failed(why) => format!("failed: {why}"),
                BackendStatus::TimedOut => "timed out".into(),
                BackendStatus::NotApplicable(why) => format!("not applicable: {why}"),
            },
            time: format!("{:.1} s", b.elapsed_ms as f64 / 1000.0),
        })
        .collect();
    v
}

/// `+1.5`, `−2.1` (a real minus sign), `±0.0`.
fn signed(x: f64) -> String {
    let x = (x * 10.0).round() / 10.0;
    if x > 0.0 {
        format!("+{x:.1}")
    } else if x < 0.0 {
        format!("−{:.1}", -x)
    } else {
        "±0.0".into()
    }
}

/// Links to the check run and, with `PUBLIC_URL`, the dashboard.
fn link_line(outcome: &Outcome, links: &Links) -> Option<Value> {
    let mut parts = Vec::new();
    if let Some(id) = outcome.analysis.check_run_id {
        let url = format!("{}/{}/runs/{id}", links.web, outcome.project.full_name);
        parts.push(markdown::link("Check run", &url));
    }
    if let Some(base) = &links.public_url {
        let url = format!(
            "{}/analyses/{}",
            base.trim_end_matches('/'),
            outcome.analysis.id
        );
        parts.push(markdown::link("Dashboard", &url));
    }
    (!parts.is_empty()).then(|| safe(parts.join(" · ")))
}

#[cfg(test)]
mod tests;
