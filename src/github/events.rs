//! Webhook payloads turned into what they ask flext-quality to do, at the edge.
//!
//! Unknown events and actions are not errors: they are recorded and ignored. A known event whose
//! payload lacks a field we need is malformed, reported with the field's path.

use crate::store::{AnalysisRequest, ProjectUpsert, WebhookWork};
use serde_json::Value;

/// The name of the check run flext-quality creates.
pub const CHECK_NAME: &str = "flext-quality";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreted {
    pub action: Option<String>,
    pub work: WebhookWork,
    /// Why the delivery asks for nothing, when it does not (for the log).
    pub ignored_because: Option<String>,
}

fn field<'a>(v: &'a Value, path: &str) -> Result<&'a Value, String> {
    let mut cur = v;
    for key in path.split('.') {
        cur = cur
            .get(key)
            .ok_or_else(|| format!("payload lacks `{path}`"))?;
    }
    Ok(cur)
}

fn string(v: &Value, path: &str) -> Result<String, String> {
    field(v, path)?
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("payload field `{path}` is not a string"))
}

fn int(v: &Value, path: &str) -> Result<i64, String> {
    field(v, path)?
        .as_i64()
        .ok_or_else(|| format!("payload field `{path}` is not an integer"))
}

fn installation_id(payload: &Value) -> Option<i64> {
    payload.get("installation")?.get("id")?.as_i64()
}

fn project(payload: &Value) -> Result<ProjectUpsert, String> {
    let repo = field(payload, "repository")?;
    Ok(ProjectUpsert {
        id: int(repo, "id")?,
        installation_id: installation_id(payload),
        full_name: string(repo, "full_name")?,
        default_branch: string(repo, "default_branch")?,
        clone_url: string(repo, "clone_url")?,
    })
}

/// A repository as listed in installation payloads (no clone URL or default branch there).
fn listed_repositories(
    list: Option<&Value>,
    installation: i64,
) -> Result<Vec<ProjectUpsert>, String> {
    let Some(items) = list.and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .map(|r| {
            Ok(ProjectUpsert {
                id: int(r, "id")?,
                installation_id: Some(installation),
                full_name: string(r, "full_name")?,
                default_branch: String::new(),
                clone_url: String::new(),
            })
        })
        .collect()
}

const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// Interprets one delivery. `our_app_id` filters check-run events meant for other apps.
pub fn interpret(
    event: &str,
    payload: &Value,
    our_app_id: Option<u64>,
) -> Result<Interpreted, String> {
    if !payload.is_object() {
        return Err("payload is not a JSON object".into());
    }
    let action = payload
        .get("action")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let act = action.as_deref().unwrap_or("");
    let ignore = |why: String| Interpreted {
        action: action.clone(),
        work: WebhookWork::Nothing,
        ignored_because: Some(why),
    };
    let work = |work: WebhookWork| Interpreted {
        action: action.clone(),
        work,
        ignored_because: None,
    };

    Ok(match (event, act) {
        ("ping", _) => ignore("ping".into()),
        ("installation", "created") => {
            let id = int(payload, "installation.id")?;
            work(WebhookWork::InstallationCreated {
                id,
                account_login: string(payload, "installation.account.login")?,
                repositories: listed_repositories(payload.get("repositories"), id)?,
            })
        }
        ("installation", "deleted") => work(WebhookWork::InstallationDeleted {
            id: int(payload, "installation.id")?,
        }),
        ("installation", "suspend" | "unsuspend") => work(WebhookWork::InstallationSuspended {
            id: int(payload, "installation.id")?,
            suspended: act == "suspend",
        }),
        ("installation_repositories", "added") => {
            let id = int(payload, "installation.id")?;
            work(WebhookWork::RepositoriesAdded {
                installation_id: id,
                repositories: listed_repositories(payload.get("repositories_added"), id)?,
            })
        }
        ("installation_repositories", "removed") => {
            let id = int(payload, "installation.id")?;
            let removed = listed_repositories(payload.get("repositories_removed"), id)?;
            work(WebhookWork::RepositoriesRemoved {
                installation_id: id,
                repository_ids: removed.iter().map(|p| p.id).collect(),
            })
        }
        ("repository", "renamed") => work(WebhookWork::ProjectRenamed(project(payload)?)),
        ("pull_request", "opened" | "synchronize" | "reopened" | "ready_for_review") => {
            let pr = field(payload, "pull_request")?;
            let number = int(payload, "number").or_else(|_| int(pr, "number"))?;
            work(WebhookWork::Analyse(AnalysisRequest {
                project: project(payload)?,
                sha: string(pr, "head.sha")?,
                trigger: "pull_request".into(),
                head_ref: Some(format!("refs/pull/{number}/head")),
                base_ref: Some(format!("refs/heads/{}", string(pr, "base.ref")?)),
                base_sha: Some(string(pr, "base.sha")?),
                pr_number: Some(number),
                force: false,
            }))
        }
        ("push", _) => {
            let p = project(payload)?;
            let git_ref = string(payload, "ref")?;
            let after = string(payload, "after")?;
            if git_ref != format!("refs/heads/{}", p.default_branch) {
                ignore(format!("push to {git_ref}, not the default branch"))
            } else if after == ZERO_SHA
                || payload.get("deleted").and_then(Value::as_bool) == Some(true)
            {
                ignore("push deleted the branch".into())
            } else {
                let before = string(payload, "before")?;
                work(WebhookWork::Analyse(AnalysisRequest {
                    project: p,
                    sha: after,
                    trigger: "push".into(),
                    head_ref: Some(git_ref),
                    base_ref: None,
                    base_sha: (before != ZERO_SHA).then_some(before),
                    pr_number: None,
                    force: false,
                }))
            }
        }
        ("check_suite", "requested" | "rerequested") => {
            let suite = field(payload, "check_suite")?;
            suite_request(payload, suite, act == "rerequested", "check_suite")?
                .map(|r| work(WebhookWork::Analyse(r)))
                .unwrap_or_else(|| ignore("check suite of a branch with no pull request".into()))
        }
        ("check_run", "rerequested") => {
            let run = field(payload, "check_run")?;
            let app = run
                .get("app")
                .and_then(|a| a.get("id"))
                .and_then(Value::as_u64);
            if our_app_id.is_some() && app.is_some() && app != our_app_id {
                ignore("check run belongs to another app".into())
            } else {
                let suite = field(run, "check_suite")?;
                let mut request = suite_request(payload, suite, true, "check_run")?;
                // A re-run of our own check on a branch without a pull request still runs.
                if request.is_none() {
                    request = Some(branch_request(payload, suite, "check_run")?);
                }
                request
                    .map(|r| work(WebhookWork::Analyse(r)))
                    .unwrap_or_else(|| ignore("nothing to re-run".into()))
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
        ) => ignore(format!("{event} action `{act}` needs no work")),
        _ => ignore(format!("event `{event}` is not handled")),
    })
}

/// The analysis a check suite asks for: its pull request's, the default branch's, or none.
fn suite_request(
    payload: &Value,
    suite: &Value,
    force: bool,
    trigger: &str,
) -> Result<Option<AnalysisRequest>, String> {
    let p = project(payload)?;
    let sha = string(suite, "head_sha")?;
    if let Some(pr) = suite
        .get("pull_requests")
        .and_then(Value::as_array)
        .and_then(|prs| prs.first())
    {
        let number = int(pr, "number")?;
        return Ok(Some(AnalysisRequest {
            project: p,
            sha,
            trigger: trigger.into(),
            head_ref: Some(format!("refs/pull/{number}/head")),
            base_ref: Some(format!("refs/heads/{}", string(pr, "base.ref")?)),
            base_sha: Some(string(pr, "base.sha")?),
            pr_number: Some(number),
            force,
        }));
    }
    let branch = suite.get("head_branch").and_then(Value::as_str);
    if branch == Some(p.default_branch.as_str()) {
        return Ok(Some(AnalysisRequest {
            head_ref: Some(format!("refs/heads/{}", p.default_branch)),
            project: p,
            sha,
            trigger: trigger.into(),
            base_ref: None,
            base_sha: None,
            pr_number: None,
            force,
        }));
    }
    Ok(None)
}

fn branch_request(
    payload: &Value,
    suite: &Value,
    trigger: &str,
) -> Result<AnalysisRequest, String> {
    let branch = string(suite, "head_branch")?;
    Ok(AnalysisRequest {
        project: project(payload)?,
        sha: string(suite, "head_sha")?,
        trigger: trigger.into(),
        head_ref: Some(format!("refs/heads/{branch}")),
        base_ref: None,
        base_sha: None,
        pr_number: None,
        force: true,
    })
}
