//! `/analyses/{id}`: one analysis — what it analysed and against what, its score and gate
//! (each condition with the values it compared), its new and fixed findings and all its open
//! ones (50 a page each, through the store's cursor; each linked to the line on GitHub), the
//! backends with their status and time, and the time each stage took. The check run's
//! "Details" link (`details_url`) points here when `PUBLIC_URL` is set.

use super::project::visible_project;
use super::view::{
    backend_views, blob_url, branch_name, duration_text, finish, github_web, parse_id, query,
    score_text, short_sha, when, PageResult, Params, Refusal,
};
use super::{render, Page};
use crate::store::{FindingQuery, FindingRow};
use crate::web::auth::Principal;
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use std::sync::Arc;

/// Findings a list shows at once.
const FINDINGS_PAGE: i64 = 50;

#[derive(Serialize)]
struct FindingView {
    severity: String,
    category: String,
    backend: String,
    rule: String,
    help_url: Option<String>,
    message: String,
    location: String,
    href: Option<String>,
    in_tests: bool,
}

/// One list of findings (new, fixed or open) and the link to its next page.
#[derive(Serialize)]
struct FindingList {
    items: Vec<FindingView>,
    next: Option<String>,
    paged: bool,
}

#[derive(Serialize)]
struct Timing {
    stage: String,
    time: String,
}

pub async fn page(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    Path(id): Path<String>,
    params: Params,
) -> Response {
    let result = build(&state, &principal, &id, &params).await;
    finish(&state, &principal, result)
}

async fn build(state: &AppState, principal: &Principal, id: &str, params: &Params) -> PageResult {
    let id = parse_id(id, "an analysis")?;
    let cursors = [
        ("new", params.cursor("new")?),
        ("fixed", params.cursor("fixed")?),
        ("open", params.cursor("open")?),
    ];
    let missing = || Refusal::not_found(format!("There is no analysis {id}."));
    let store = &state.store;
    let a = store.analysis_summary(id).await?.ok_or_else(missing)?;
    let project = visible_project(state, principal, a.project_id)
        .await
        .map_err(|r| match r.status {
            StatusCode::NOT_FOUND => missing(),
            _ => r,
        })?;
    let details = store.analysis_details(id).await?;
    let web = github_web(state);
    let repo = &project.full_name;

    let mut lists = Vec::new();
    for (which, cursor) in cursors {
        let q = FindingQuery {
            state: Some(which.into()),
            cursor,
            limit: Some(FINDINGS_PAGE),
            ..FindingQuery::default()
        };
        let rows = store.query_findings(id, &q).await?;
        // Fixed findings are lines of the commit compared with; the others of this one.
        let sha = if which == "fixed" {
            a.compared_sha.as_deref()
        } else {
            Some(a.sha.as_str())
        };
        let next = (rows.len() as i64 == FINDINGS_PAGE)
            .then(|| rows.last().map(|f| f.id))
            .flatten()
            .map(|last| {
                let pairs: Vec<(&str, Option<String>)> = cursors
                    .iter()
                    .map(|(k, c)| {
                        let c = if *k == which { Some(last) } else { *c };
                        (*k, c.map(|c| c.to_string()))
                    })
                    .collect();
                format!("/analyses/{id}{}#{which}", query(&pairs))
            });
        lists.push(FindingList {
            items: rows.iter().map(|f| view(f, sha, &web, repo)).collect(),
            next,
            paged: cursor.is_some(),
        });
    }
    let [new, fixed, open]: [FindingList; 3] = lists
        .try_into()
        .map_err(|_| anyhow::anyhow!("three lists of findings"))?;

    let timings: Vec<Timing> = details
        .timings
        .iter()
        .map(|(k, ms)| Timing {
            stage: k.strip_suffix("_ms").unwrap_or(k).replace('_', " "),
            time: duration_text(*ms),
        })
        .collect();
    let gate = details.gate.as_ref();
    let title = format!("Analysis {id} of {repo}");
    Ok(render(
        state,
        StatusCode::OK,
        "analysis.html",
        &Page::of(state, principal, title.clone()),
        serde_json::json!({
            "title": title,
            "project": { "id": project.id, "full_name": repo },
            "analysis": serde_json::json!({
                "id": a.id,
                "sha": a.sha,
                "short_sha": short_sha(&a.sha),
                "commit_href": format!("{web}/{repo}/commit/{}", a.sha),
                "branch": branch_name(a.head_ref.as_deref()),
                "pr": a.pr_number,
                "pr_href": a.pr_number.map(|n| format!("{web}/{repo}/pull/{n}")),
                "trigger": a.trigger,
                "status": a.status,
                "verdict": a.verdict,
                "grade": a.grade,
                "score": score_text(a.score),
                "base_score": details.base_score.map(|s| score_text(Some(s))),
                "compared": a.compared_sha.as_deref().map(short_sha),
                "new_count": a.new_count,
                "fixed_count": a.fixed_count,
                "requested_by": a.requested_by,
                "queued": when(Some(a.queued_at)),
                "completed": when(a.completed_at),
            }),
            "deductions": details.score.map(|s| serde_json::json!({
                "security": format!("{:.1}", s.security),
                "reliability": format!("{:.1}", s.reliability),
                "maintainability": format!("{:.1}", s.maintainability),
                "ncloc": s.ncloc,
                "capped": (s.uncapped_grade != s.grade).then(|| s.uncapped_grade.as_str()),
            })),
            "conditions": gate.map(|g| g.conditions.clone()).unwrap_or_default(),
            "gate_reason": gate.and_then(|g| g.reason.clone()),
            "gate_note": gate.and_then(|g| g.note.clone()),
            "failure": details.failure,
            "jail": details.jail,
            "new": new,
            "fixed": fixed,
            "open": open,
            "backends": backend_views(&details.backends),
            "timings": timings,
        }),
    ))
}

fn view(f: &FindingRow, sha: Option<&str>, web: &str, repo: &str) -> FindingView {
    let location = if f.end_line > f.start_line {
        format!("{}:{}–{}", f.path, f.start_line, f.end_line)
    } else {
        format!("{}:{}", f.path, f.start_line)
    };
    FindingView {
        severity: f.severity.clone(),
        category: f.category.clone(),
        backend: f.backend.clone(),
        rule: f.rule.clone(),
        help_url: f
            .help_url
            .clone()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
        message: f.message.clone(),
        location,
        href: sha.map(|s| blob_url(web, repo, s, &f.path, f.start_line)),
        in_tests: f.in_tests,
    }
}
