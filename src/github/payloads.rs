//! Webhook payloads turned into domain [`Event`]s, at the edge.
//!
//! The event and action are read first: an event or action flext-quality does not handle is
//! recorded and ignored without being parsed further (GitHub adds actions; a new one must not
//! turn a delivery into an error). Handled payloads are read into typed structs: octocrab's
//! webhook models where they are typed (pull requests, pushes, installations, repositories),
//! our own for check suites and check runs (octocrab leaves those as untyped JSON). A handled
//! payload that lacks what its event needs is malformed, reported with serde's path.

use crate::domain::events::{AnalysisRequest, Event, Project};
use crate::domain::status::Trigger;
use octocrab::models::webhook_events::{EventInstallation, WebhookEvent, WebhookEventPayload};
use serde::Deserialize;

const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// The comment that asks for a fresh analysis of a pull request's head.
pub const RERUN_COMMAND: &str = "/flext-quality rerun";

/// What a delivery was, and what it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreted {
    pub action: Option<String>,
    pub event: Event,
}

#[derive(Deserialize)]
struct Envelope {
    action: Option<String>,
}

/// Reads one delivery. `our_app_id` filters check-run events meant for other apps. The error is
/// one line whatever the payload held: serde quotes the values it refuses, newlines and all.
pub fn interpret(event: &str, body: &[u8], our_app_id: Option<u64>) -> Result<Interpreted, String> {
    read(event, body, our_app_id).map_err(|e| one_line(&e))
}

/// `text` with its control characters escaped (`\n`, `\u{1b}`) and cut to 300 characters.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(320));
    for (i, c) in text.trim_end().chars().enumerate() {
        if i == 300 {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

fn read(event: &str, body: &[u8], our_app_id: Option<u64>) -> Result<Interpreted, String> {
    // Read once for the action only, skipping the rest: a payload is tens of kilobytes, and
    // building a tree of it (or a model with every URL parsed) was most of what ingress cost.
    let action = match serde_json::from_slice::<Envelope>(body) {
        Ok(envelope) => envelope.action,
        Err(e) if e.is_data() && !body.trim_ascii_start().starts_with(b"{") => {
            return Err("payload is not a JSON object".into())
        }
        Err(e) if e.is_data() => return Err(format!("malformed {event} payload: {e}")),
        Err(e) => return Err(format!("malformed JSON: {e}")),
    };
    let act = action.as_deref().unwrap_or("");
    let malformed = |e: String| format!("malformed {event} payload: {e}");
    let ignored = |why: String| Event::Ignored(why);
    let event_out = match (event, act) {
        ("ping", _) => ignored("ping".into()),
        ("pull_request", "opened" | "synchronize" | "reopened" | "ready_for_review") => {
            let p: PullRequestPayload =
                serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
            p.request()?
        }
        ("push", _) => {
            let p: PushPayload =
                serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
            p.request()?
        }
        ("installation", "created" | "deleted" | "suspend" | "unsuspend")
        | ("installation_repositories", "added" | "removed")
        | ("repository", "renamed" | "transferred") => {
            typed(event, act, body).map_err(malformed)?
        }
        ("check_suite", "requested" | "rerequested") => {
            let p: CheckSuitePayload =
                serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
            let project = p.repository.project(p.installation.map(|i| i.id))?;
            match suite_request(
                project,
                &p.check_suite,
                act == "rerequested",
                Trigger::CheckSuite,
                p.sender.map(|s| s.login),
            ) {
                Some(r) => Event::Analyse(r),
                None => ignored("check suite of a branch with no pull request".into()),
            }
        }
        ("check_run", "requested_action")
            if serde_json::from_slice::<RequestedAction>(body)
                .map_err(|e| malformed(e.to_string()))?
                .requested_action
                .identifier
                != crate::github::checks::RERUN_ACTION =>
        {
            ignored("a check run action that is not ours".into())
        }
        ("check_run", "rerequested" | "requested_action") => {
            let p: CheckRunPayload =
                serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
            let app = p.check_run.app.map(|a| a.id);
            if our_app_id.is_some() && app.is_some() && app != our_app_id {
                ignored("check run belongs to another app".into())
            } else {
                let project = p.repository.project(p.installation.map(|i| i.id))?;
                let suite = &p.check_run.check_suite;
                let by = p.sender.map(|s| s.login);
                let request =
                    suite_request(project.clone(), suite, true, Trigger::CheckRun, by.clone())
                        .or_else(|| branch_request(project, suite, by));
                match request {
                    Some(r) => Event::Analyse(r),
                    None => ignored("nothing to re-run".into()),
                }
            }
        }
        ("issue_comment", "created") => {
            let p: IssueCommentPayload =
                serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
            let command = p.comment.body.lines().next().unwrap_or("").trim();
            if p.issue.pull_request.is_none() {
                ignored("a comment on an issue, not a pull request".into())
            } else if p.comment.user.kind == "Bot" {
                ignored("a comment by a bot".into())
            } else if command == RERUN_COMMAND {
                Event::RerunRequested {
                    project: p.repository.project(p.installation.map(|i| i.id))?,
                    pr_number: p.issue.number,
                    user: p.comment.user.login,
                }
            } else {
                ignored("the comment is not a flext-quality command".into())
            }
        }
        (
            "pull_request"
            | "check_suite"
            | "check_run"
            | "installation"
            | "installation_repositories"
            | "repository"
            | "issue_comment"
            | "github_app_authorization",
            _,
        ) => ignored(format!("{event} action `{act}` needs no work")),
        _ => ignored(format!("event `{event}` is not handled")),
    };
    // PostgreSQL cannot store a NUL in text; no name, ref, SHA or login GitHub sends has one,
    // so such a payload is refused here rather than failing in the database (a 5xx).
    if act.contains('\0') || event_out.stored_texts().iter().any(|t| t.contains('\0')) {
        return Err(malformed(
            "a name, ref, SHA, login or action holds a NUL character".into(),
        ));
    }
    Ok(Interpreted {
        action,
        event: event_out,
    })
}

/// A `pull_request` delivery: what an analysis of its head needs, nothing else read.
#[derive(Deserialize)]
struct PullRequestPayload {
    number: i64,
    pull_request: PullRequestHeads,
    repository: RepositoryRef,
    installation: Option<InstallationRef>,
    sender: Option<Login>,
}

#[derive(Deserialize)]
struct PullRequestHeads {
    head: Sha,
    base: RefSha,
}

#[derive(Deserialize)]
struct Sha {
    sha: String,
}

impl PullRequestPayload {
    fn request(self) -> Result<Event, String> {
        let number = self.number;
        Ok(Event::Analyse(AnalysisRequest {
            project: self.repository.project(self.installation.map(|i| i.id))?,
            sha: self.pull_request.head.sha,
            trigger: Trigger::PullRequest,
            head_ref: Some(format!("refs/pull/{number}/head")),
            base_ref: Some(format!("refs/heads/{}", self.pull_request.base.git_ref)),
            base_sha: Some(self.pull_request.base.sha),
            pr_number: Some(number),
            force: false,
            requested_by: self.sender.map(|s| s.login),
        }))
    }
}

/// A `push` delivery.
#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    before: String,
    after: String,
    #[serde(default)]
    deleted: bool,
    repository: RepositoryRef,
    installation: Option<InstallationRef>,
    sender: Option<Login>,
}

impl PushPayload {
    fn request(self) -> Result<Event, String> {
        let project = self.repository.project(self.installation.map(|i| i.id))?;
        Ok(
            if self.git_ref != format!("refs/heads/{}", project.default_branch) {
                Event::Ignored(format!("push to {}, not the default branch", self.git_ref))
            } else if self.after == ZERO_SHA || self.deleted {
                Event::Ignored("push deleted the branch".into())
            } else {
                Event::Analyse(AnalysisRequest {
                    head_ref: Some(self.git_ref),
                    project,
                    sha: self.after,
                    trigger: Trigger::Push,
                    base_ref: None,
                    base_sha: (self.before != ZERO_SHA).then_some(self.before),
                    pr_number: None,
                    force: false,
                    requested_by: self.sender.map(|s| s.login),
                })
            },
        )
    }
}

/// The installation events and `repository`, read with octocrab's models (rare: their cost
/// does not matter).
fn typed(event: &str, action: &str, body: &[u8]) -> Result<Event, String> {
    let e = WebhookEvent::try_from_header_and_body(event, body).map_err(|e| e.to_string())?;
    let installation = e.installation.as_ref().map(|i| i.id().into_inner() as i64);
    let project = || -> Result<Project, String> {
        let r = e.repository.as_ref().ok_or("payload lacks `repository`")?;
        Ok(Project {
            id: r.id.into_inner() as i64,
            installation_id: installation,
            full_name: r
                .full_name
                .clone()
                .ok_or("payload lacks `repository.full_name`")?,
            default_branch: r
                .default_branch
                .clone()
                .ok_or("payload lacks `repository.default_branch`")?,
            clone_url: r
                .clone_url
                .as_ref()
                .ok_or("payload lacks `repository.clone_url`")?
                .to_string(),
        })
    };
    let listed = |repos: &[octocrab::models::webhook_events::InstallationEventRepository],
                  installation: i64| {
        repos
            .iter()
            .map(|r| Project {
                id: r.id.into_inner() as i64,
                installation_id: Some(installation),
                full_name: r.full_name.clone(),
                default_branch: String::new(),
                clone_url: String::new(),
            })
            .collect::<Vec<_>>()
    };
    let installation_id =
        || installation.ok_or_else(|| "payload lacks `installation.id`".to_owned());
    Ok(match &e.specific {
        WebhookEventPayload::Installation(p) => {
            let id = installation_id()?;
            match action {
                "created" => Event::InstallationCreated {
                    id,
                    account_login: match &e.installation {
                        Some(EventInstallation::Full(i)) => i.account.login.clone(),
                        _ => return Err("payload lacks `installation.account.login`".into()),
                    },
                    repositories: listed(p.repositories.as_deref().unwrap_or(&[]), id),
                },
                "deleted" => Event::InstallationDeleted { id },
                _ => Event::InstallationSuspended {
                    id,
                    suspended: action == "suspend",
                },
            }
        }
        WebhookEventPayload::InstallationRepositories(p) => {
            let id = installation_id()?;
            if action == "added" {
                Event::RepositoriesAdded {
                    installation_id: id,
                    repositories: listed(&p.repositories_added, id),
                }
            } else {
                Event::RepositoriesRemoved {
                    installation_id: id,
                    repository_ids: p
                        .repositories_removed
                        .iter()
                        .map(|r| r.id.into_inner() as i64)
                        .collect(),
                }
            }
        }
        WebhookEventPayload::Repository(_) => Event::ProjectRenamed(project()?),
        _ => Event::Ignored(format!("event `{event}` is not handled")),
    })
}

#[derive(Deserialize)]
struct InstallationRef {
    id: i64,
}

#[derive(Deserialize)]
struct AppRef {
    id: u64,
}

#[derive(Deserialize, Clone)]
struct RepositoryRef {
    id: i64,
    full_name: String,
    default_branch: String,
    clone_url: String,
}

impl RepositoryRef {
    fn project(&self, installation_id: Option<i64>) -> Result<Project, String> {
        Ok(Project {
            id: self.id,
            installation_id,
            full_name: self.full_name.clone(),
            default_branch: self.default_branch.clone(),
            clone_url: self.clone_url.clone(),
        })
    }
}

#[derive(Deserialize)]
struct RefSha {
    #[serde(rename = "ref")]
    git_ref: String,
    sha: String,
}

#[derive(Deserialize)]
struct SuitePullRequest {
    number: i64,
    base: RefSha,
}

#[derive(Deserialize)]
struct CheckSuite {
    head_sha: String,
    head_branch: Option<String>,
    #[serde(default)]
    pull_requests: Vec<SuitePullRequest>,
}

#[derive(Deserialize)]
struct CheckSuitePayload {
    check_suite: CheckSuite,
    repository: RepositoryRef,
    installation: Option<InstallationRef>,
    sender: Option<Login>,
}

#[derive(Deserialize)]
struct Login {
    login: String,
}

#[derive(Deserialize)]
struct RequestedAction {
    requested_action: ActionId,
}

#[derive(Deserialize)]
struct ActionId {
    identifier: String,
}

#[derive(Deserialize)]
struct IssueCommentPayload {
    issue: IssueRef,
    comment: CommentRef,
    repository: RepositoryRef,
    installation: Option<InstallationRef>,
}

#[derive(Deserialize)]
struct IssueRef {
    number: i64,
    /// Present when the issue is a pull request.
    pull_request: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct CommentRef {
    body: String,
    user: UserRef,
}

#[derive(Deserialize)]
struct UserRef {
    login: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct CheckRun {
    app: Option<AppRef>,
    check_suite: CheckSuite,
}

#[derive(Deserialize)]
struct CheckRunPayload {
    check_run: CheckRun,
    repository: RepositoryRef,
    installation: Option<InstallationRef>,
    sender: Option<Login>,
}

/// The analysis a check suite asks for: its pull request's, the default branch's, or none.
fn suite_request(
    project: Project,
    suite: &CheckSuite,
    force: bool,
    trigger: Trigger,
    requested_by: Option<String>,
) -> Option<AnalysisRequest> {
    if let Some(pr) = suite.pull_requests.first() {
        return Some(AnalysisRequest {
            project,
            sha: suite.head_sha.clone(),
            trigger,
            head_ref: Some(format!("refs/pull/{}/head", pr.number)),
            base_ref: Some(format!("refs/heads/{}", pr.base.git_ref)),
            base_sha: Some(pr.base.sha.clone()),
            pr_number: Some(pr.number),
            force,
            requested_by,
        });
    }
    if suite.head_branch.as_deref() == Some(project.default_branch.as_str()) {
        return Some(AnalysisRequest {
            head_ref: Some(format!("refs/heads/{}", project.default_branch)),
            project,
            sha: suite.head_sha.clone(),
            trigger,
            base_ref: None,
            base_sha: None,
            pr_number: None,
            force,
            requested_by,
        });
    }
    None
}

/// A re-run of our check on a branch without a pull request still runs.
fn branch_request(
    project: Project,
    suite: &CheckSuite,
    requested_by: Option<String>,
) -> Option<AnalysisRequest> {
    let branch = suite.head_branch.as_ref()?;
    Some(AnalysisRequest {
        project,
        sha: suite.head_sha.clone(),
        trigger: Trigger::CheckRun,
        head_ref: Some(format!("refs/heads/{branch}")),
        base_ref: None,
        base_sha: None,
        pr_number: None,
        force: true,
        requested_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `cargo bench --bench ingress_million`: serde quoted a refused value with its
    /// newlines, and the 400's reason ran over several lines.
    #[test]
    fn a_refused_value_with_newlines_makes_a_one_line_error() {
        let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "../shared/fixtures/github/webhooks/installation_repositories/removed.payload.json",
        );
        let mut payload: serde_json::Value =
            serde_json::from_slice(&std::fs::read(example).unwrap()).unwrap();
        payload["repository_selection"] = "first\nsecond\r\u{1b}[31m".into();
        let body = serde_json::to_vec(&payload).unwrap();
        let e = interpret("installation_repositories", &body, None).unwrap_err();
        assert!(
            e.contains("malformed installation_repositories payload"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1, "{e:?}");
        assert!(e.contains("first\\nsecond"), "{e:?}");
        assert!(!e.chars().any(char::is_control), "{e:?}");
        assert!(one_line(&"x".repeat(1000)).chars().count() <= 301);
    }
}
