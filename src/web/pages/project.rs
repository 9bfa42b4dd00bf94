//! `/projects/{id}`: one project — its score and grade over time on the default branch (an SVG
//! line chart, the analyses whose gate failed marked), the default branch's open findings
//! grouped by category and file (worst files first), its recent analyses (20 a page, older
//! ones through the store's cursor) with their score change against what each was compared
//! with, and the backends, their versions and the configuration of the latest analysis.

use super::charts::{line_chart, ChartPoint};
use super::view::{
    backend_views, blob_url, branch_name, change_text, finish, github_web, parse_id, query,
    score_text, short_sha, when, BackendView, PageResult, Params, Refusal, When,
};
use super::{render, Page};
use crate::domain::finding::Category;
use crate::store::{AnalysisSummary, ProjectSummary, SeverityCounts};
use crate::web::auth::Principal;
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use std::sync::Arc;

/// Analyses a page of the list shows.
const ANALYSES_PAGE: i64 = 20;
/// Default-branch analyses the chart draws.
const HISTORY_POINTS: i64 = 100;
/// Files listed per analysis.
const FILES: i64 = 200;

/// The project a principal asked for, when it exists and they may see it (else 404, the same
/// answer for both, so a stranger learns nothing).
pub async fn visible_project(
    state: &AppState,
    principal: &Principal,
    id: i64,
) -> Result<ProjectSummary, Refusal> {
    let missing = || Refusal::not_found(format!("There is no project {id}."));
    let project = state.store.project_summary(id).await?.ok_or_else(missing)?;
    if !principal.visible.allows(project.installation_id) {
        return Err(missing());
    }
    Ok(project)
}

#[derive(Serialize)]
struct FileRow {
    path: String,
    href: Option<String>,
    counts: SeverityCounts,
    total: i64,
}

#[derive(Serialize)]
struct CategoryGroup {
    category: &'static str,
    total: i64,
    files: Vec<FileRow>,
}

#[derive(Serialize)]
pub struct AnalysisRow {
    pub id: i64,
    pub when: Option<When>,
    pub branch: Option<String>,
    pub pr: Option<i64>,
    pub sha: String,
    pub short_sha: String,
    pub commit_href: String,
    pub status: String,
    pub verdict: Option<String>,
    pub grade: Option<String>,
    pub score: String,
    pub change: Option<String>,
    pub new_count: Option<i64>,
    pub fixed_count: Option<i64>,
}

pub fn analysis_row(a: &AnalysisSummary, base: Option<f64>, web: &str, repo: &str) -> AnalysisRow {
    AnalysisRow {
        id: a.id,
        when: when(a.completed_at.or(Some(a.queued_at))),
        branch: branch_name(a.head_ref.as_deref()),
        pr: a.pr_number,
        sha: a.sha.clone(),
        short_sha: short_sha(&a.sha),
        commit_href: format!("{web}/{repo}/commit/{}", a.sha),
        status: a.status.clone(),
        verdict: a.verdict.clone(),
        grade: a.grade.clone(),
        score: score_text(a.score),
        change: change_text(a.score, base),
        new_count: a.new_count,
        fixed_count: a.fixed_count,
    }
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
    let id = parse_id(id, "a project")?;
    let cursor = params.cursor("cursor")?;
    let project = visible_project(state, principal, id).await?;
    let store = &state.store;
    let web = github_web(state);
    let repo = &project.full_name;

    let history = store.project_history(id, HISTORY_POINTS).await?;
    let points: Vec<ChartPoint> = history
        .iter()
        .filter_map(|h| {
            let score = h.score?;
            let date = when(Some(h.at)).map(|w| w.date).unwrap_or_default();
            Some(ChartPoint {
                score,
                failed: h.verdict.as_deref() == Some("failure"),
                title: format!(
                    "{} on {date}: score {score:.1}, grade {}, gate {}",
                    short_sha(&h.sha),
                    h.grade.as_deref().unwrap_or("–"),
                    h.verdict.as_deref().unwrap_or("–"),
                ),
                tick: date,
            })
        })
        .collect();
    let chart = line_chart(
        &points,
        &format!("Score of {repo} on {} over time", project.default_branch),
    );

    let mut groups = Vec::new();
    let mut backends: Vec<BackendView> = Vec::new();
    let mut config = None;
    let mut latest_sha = None;
    if let Some(latest) = project.latest_analysis_id {
        let sha = store.analysis_summary(latest).await?.map(|a| a.sha);
        let by_file = store.findings_by_file(latest, FILES).await?;
        for category in Category::ALL {
            let files: Vec<FileRow> = by_file
                .iter()
                .filter(|(c, _, _)| c == category.as_str())
                .map(|(_, path, counts)| FileRow {
                    path: path.clone(),
                    href: sha.as_ref().map(|s| blob_url(&web, repo, s, path, 1)),
                    counts: *counts,
                    total: counts.total(),
                })
                .collect();
            if !files.is_empty() {
                groups.push(CategoryGroup {
                    category: category.as_str(),
                    total: files.iter().map(|f| f.total).sum(),
                    files,
                });
            }
        }
        let details = store.analysis_details(latest).await?;
        backends = backend_views(&details.backends);
        config = details
            .config
            .as_ref()
            .and_then(|c| serde_json::to_string_pretty(c).ok());
        latest_sha = sha;
    }

    let analyses = store
        .project_analyses(id, None, None, cursor, Some(ANALYSES_PAGE))
        .await?;
    let ids: Vec<i64> = analyses.iter().map(|a| a.id).collect();
    let bases = store.base_scores(&ids).await?;
    let next = (analyses.len() as i64 == ANALYSES_PAGE)
        .then(|| ids.iter().min().copied())
        .flatten()
        .map(|c| query(&[("cursor", Some(c.to_string()))]));
    let rows: Vec<AnalysisRow> = analyses
        .iter()
        .map(|a| analysis_row(a, bases.get(&a.id).copied(), &web, repo))
        .collect();

    Ok(render(
        state,
        StatusCode::OK,
        "project.html",
        &Page::of(state, principal, repo.clone()),
        serde_json::json!({
            "project": serde_json::json!({
                "id": project.id,
                "full_name": repo,
                "default_branch": project.default_branch,
                "archived": project.archived,
                "grade": project.grade,
                "verdict": project.verdict,
                "score": score_text(project.score),
                "last_analysed": when(project.last_analysed_at),
                "latest_analysis_id": project.latest_analysis_id,
                "open": project.open,
                "open_total": project.open.total(),
                "href": format!("{web}/{repo}"),
            }),
            "latest_sha": latest_sha.as_deref().map(short_sha),
            "chart": chart,
            "history_count": points.len(),
            "groups": groups,
            "rows": rows,
            "next": next,
            "first": cursor.map(|_| format!("/projects/{id}")),
            "backends": backends,
            "config": config,
        }),
    ))
}
