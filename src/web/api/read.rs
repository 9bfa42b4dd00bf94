//! Reading: projects, analyses and findings, each list paginated by an id cursor and limited
//! to what the principal may see (a project another installation owns is "not found").

use super::super::auth::Principal;
use super::super::error::{ApiError, ApiPath, ApiQuery};
use super::super::AppState;
use crate::store::{AnalysisSummary, FindingQuery, FindingRow, HistoryPoint, ProjectSummary};
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// A page of projects; ask again with `cursor = next_cursor` for the next.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectPage {
    pub items: Vec<ProjectSummary>,
    pub next_cursor: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnalysisPage {
    pub items: Vec<AnalysisSummary>,
    pub next_cursor: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FindingPage {
    pub items: Vec<FindingRow>,
    pub next_cursor: Option<i64>,
}

/// The cursor for the next page: the last id, when the page was full.
pub fn next_cursor<T>(
    items: &[T],
    asked: Option<i64>,
    default: i64,
    id: impl Fn(&T) -> i64,
) -> Option<i64> {
    let limit = asked.unwrap_or(default).clamp(1, crate::store::MAX_PAGE) as usize;
    (items.len() == limit)
        .then(|| items.last().map(id))
        .flatten()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProjectFilter {
    /// Only projects whose `owner/name` contains this (case-insensitive).
    pub name: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
}

/// Projects the caller may see, by id.
#[utoipa::path(get, path = "/api/v1/projects", tag = "read", params(ProjectFilter),
    responses((status = 200, body = ProjectPage), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
pub async fn list_projects(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    ApiQuery(f): ApiQuery<ProjectFilter>,
) -> Result<Json<ProjectPage>, ApiError> {
    let items = state
        .store
        .list_projects(&principal.visible, f.name.as_deref(), f.cursor, f.limit)
        .await?;
    let next_cursor = next_cursor(&items, f.limit, 50, |p| p.id);
    Ok(Json(ProjectPage { items, next_cursor }))
}

/// A project with its default-branch history.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectDetail {
    pub project: ProjectSummary,
    /// The last 100 default-branch analyses, oldest first.
    pub history: Vec<HistoryPoint>,
}

/// The project (if the caller may see it), or 404.
pub async fn visible_project(
    state: &AppState,
    principal: &Principal,
    id: i64,
) -> Result<ProjectSummary, ApiError> {
    let project = state
        .store
        .project_summary(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("project {id} does not exist")))?;
    principal.may_see(project.installation_id, &format!("project {id}"))?;
    Ok(project)
}

#[utoipa::path(get, path = "/api/v1/projects/{id}", tag = "read",
    params(("id" = i64, Path, description = "The project's id (GitHub's repository id)")),
    responses((status = 200, body = ProjectDetail), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 404, body = ApiError)))]
pub async fn get_project(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ProjectDetail>, ApiError> {
    let project = visible_project(&state, &principal, id).await?;
    let history = state.store.project_history(id, 100).await?;
    Ok(Json(ProjectDetail { project, history }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalysisFilter {
    /// Only this pull request's analyses.
    pub pr: Option<i64>,
    /// Only analyses of this ref (`refs/heads/main`, `refs/pull/7/head`).
    #[serde(rename = "ref")]
    #[param(rename = "ref")]
    pub head_ref: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// Page size, 1–200 (default 20).
    pub limit: Option<i64>,
}

/// A project's analyses, newest first.
#[utoipa::path(get, path = "/api/v1/projects/{id}/analyses", tag = "read",
    params(("id" = i64, Path, description = "The project's id"), AnalysisFilter),
    responses((status = 200, body = AnalysisPage), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 404, body = ApiError)))]
pub async fn list_analyses(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(f): ApiQuery<AnalysisFilter>,
) -> Result<Json<AnalysisPage>, ApiError> {
    visible_project(&state, &principal, id).await?;
    let items = state
        .store
        .project_analyses(id, f.pr, f.head_ref.as_deref(), f.cursor, f.limit)
        .await?;
    let next_cursor = next_cursor(&items, f.limit, 20, |a| a.id);
    Ok(Json(AnalysisPage { items, next_cursor }))
}

/// An analysis with what it knows besides its columns.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnalysisDetail {
    pub analysis: AnalysisSummary,
    pub project: String,
    /// Backends (version, status, time), the score's deductions, each gate condition,
    /// suppressions added, stage timings, and the failure when it ended without a result.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// The analysis (if the caller may see its project), or 404.
pub async fn visible_analysis(
    state: &AppState,
    principal: &Principal,
    id: i64,
) -> Result<(AnalysisSummary, ProjectSummary), ApiError> {
    let analysis = state
        .store
        .analysis_summary(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("analysis {id} does not exist")))?;
    let project = visible_project(state, principal, analysis.project_id)
        .await
        .map_err(|_| ApiError::not_found(format!("analysis {id} does not exist")))?;
    Ok((analysis, project))
}

#[utoipa::path(get, path = "/api/v1/analyses/{id}", tag = "read",
    params(("id" = i64, Path, description = "The analysis's id")),
    responses((status = 200, body = AnalysisDetail), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 404, body = ApiError)))]
pub async fn get_analysis(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AnalysisDetail>, ApiError> {
    let (analysis, project) = visible_analysis(&state, &principal, id).await?;
    let details = serde_json::to_value(state.store.analysis_details(id).await?)
        .map_err(|e| ApiError::internal(e.into()))?;
    Ok(Json(AnalysisDetail {
        analysis,
        project: project.full_name,
        details,
    }))
}

/// Findings of one analysis — given, or the project's latest default-branch one — with
/// filters. `state=new` or `state=fixed`; open findings otherwise.
#[utoipa::path(get, path = "/api/v1/findings", tag = "read", params(FindingQuery),
    responses((status = 200, body = FindingPage), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 404, body = ApiError)))]
pub async fn list_findings(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    ApiQuery(q): ApiQuery<FindingQuery>,
) -> Result<Json<FindingPage>, ApiError> {
    let analysis = match (q.analysis, q.project) {
        (Some(a), _) => visible_analysis(&state, &principal, a).await?.0.id,
        (None, Some(p)) => visible_project(&state, &principal, p)
            .await?
            .latest_analysis_id
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "project {p} has no analysis of its default branch yet"
                ))
            })?,
        (None, None) => return Err(ApiError::bad_request("give `analysis` or `project`")),
    };
    if let Some(s) = q.state.as_deref() {
        if !matches!(s, "new" | "fixed" | "open") {
            return Err(ApiError::bad_request(format!(
                "`state` is new, fixed or open, not `{s}`"
            )));
        }
    }
    if let Some(s) = q.severity.as_deref() {
        s.parse::<crate::domain::finding::Severity>().map_err(|_| {
            ApiError::bad_request(format!(
                "`severity` is blocker, critical, major, minor or info, not `{s}`"
            ))
        })?;
    }
    let items = state.store.query_findings(analysis, &q).await?;
    let next_cursor = next_cursor(&items, q.limit, 100, |f| f.id);
    Ok(Json(FindingPage { items, next_cursor }))
}

/// Every visible project against the policy's `[compliance]` rules, compliant or not and why.
#[utoipa::path(get, path = "/api/v1/compliance", tag = "read",
    responses((status = 200, body = Vec<crate::web::pages::compliance::ComplianceRow>), (status = 401, body = ApiError)))]
pub async fn compliance(
    State(state): State<Arc<AppState>>,
    principal: Principal,
) -> Result<Json<Vec<crate::web::pages::compliance::ComplianceRow>>, ApiError> {
    Ok(Json(
        crate::web::pages::compliance::report(&state, &principal.visible).await?,
    ))
}
