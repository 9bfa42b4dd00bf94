//! The GraphQL read side at `/api/graphql`: projects, their history and analyses, findings
//! with the REST filters, over the same read models and the same authentication. Depth and
//! complexity are limited (a project's analyses' project's analyses … is refused), and every
//! list is a page of at most 200.

use super::api::read::{visible_analysis, visible_project};
use super::auth::Principal;
use super::error::{ApiError, ApiJson};
use super::AppState;
use crate::store::{AnalysisSummary, FindingQuery, FindingRow, HistoryPoint, ProjectSummary};
use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::{Arc, LazyLock};

/// How deep a query may nest, and how many fields it may ask for in all.
pub const MAX_DEPTH: usize = 6;
pub const MAX_COMPLEXITY: usize = 400;

pub type ReadSchema = Schema<Query, EmptyMutation, EmptySubscription>;

static SCHEMA: LazyLock<ReadSchema> = LazyLock::new(|| {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
});

/// The schema in SDL, for people writing queries.
pub fn sdl() -> String {
    SCHEMA.sdl()
}

/// `POST /api/graphql` with `{"query", "variables"?, "operationName"?}`.
pub async fn execute(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    ApiJson(request): ApiJson<async_graphql::Request>,
) -> Response {
    if request.query.len() > 20_000 {
        return ApiError::bad_request("the query is over 20,000 characters").into_response();
    }
    let response = SCHEMA.execute(request.data(state).data(principal)).await;
    // A query refused before it ran (too deep, too complex, invalid) answered nothing: 400.
    let status = if response.data == async_graphql::Value::Null && !response.errors.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, Json(response)).into_response()
}

fn parts<'a>(ctx: &'a Context<'_>) -> (&'a Arc<AppState>, &'a Principal) {
    (
        ctx.data_unchecked::<Arc<AppState>>(),
        ctx.data_unchecked::<Principal>(),
    )
}

fn gql(e: ApiError) -> async_graphql::Error {
    async_graphql::Error::new(e.detail)
}

pub struct Query;

#[Object]
impl Query {
    /// Projects the caller may see, by id, after `after`.
    async fn projects(
        &self,
        ctx: &Context<'_>,
        name: Option<String>,
        after: Option<i64>,
        first: Option<i64>,
    ) -> async_graphql::Result<Vec<Project>> {
        let (state, principal) = parts(ctx);
        let list = state
            .store
            .list_projects(&principal.visible, name.as_deref(), after, first)
            .await?;
        Ok(list.into_iter().map(Project).collect())
    }

    async fn project(&self, ctx: &Context<'_>, id: i64) -> async_graphql::Result<Option<Project>> {
        let (state, principal) = parts(ctx);
        match visible_project(state, principal, id).await {
            Ok(p) => Ok(Some(Project(p))),
            Err(e) if e.error == "not_found" => Ok(None),
            Err(e) => Err(gql(e)),
        }
    }

    async fn analysis(
        &self,
        ctx: &Context<'_>,
        id: i64,
    ) -> async_graphql::Result<Option<Analysis>> {
        let (state, principal) = parts(ctx);
        match visible_analysis(state, principal, id).await {
            Ok((a, _)) => Ok(Some(Analysis(a))),
            Err(e) if e.error == "not_found" => Ok(None),
            Err(e) => Err(gql(e)),
        }
    }

    /// Findings of an analysis (or the project's latest default-branch one), as in REST.
    #[allow(clippy::too_many_arguments)]
    async fn findings(
        &self,
        ctx: &Context<'_>,
        analysis: Option<i64>,
        project: Option<i64>,
        backend: Option<String>,
        rule: Option<String>,
        severity: Option<String>,
        path: Option<String>,
        state: Option<String>,
        after: Option<i64>,
        first: Option<i64>,
    ) -> async_graphql::Result<Vec<Finding>> {
        let (app, principal) = parts(ctx);
        let id = match (analysis, project) {
            (Some(a), _) => visible_analysis(app, principal, a).await.map_err(gql)?.0.id,
            (None, Some(p)) => visible_project(app, principal, p)
                .await
                .map_err(gql)?
                .latest_analysis_id
                .ok_or("the project has no analysis of its default branch yet")?,
            (None, None) => return Err("give `analysis` or `project`".into()),
        };
        let q = FindingQuery {
            analysis: Some(id),
            project,
            backend,
            rule,
            severity,
            path,
            state,
            cursor: after,
            limit: first,
        };
        let rows = app.store.query_findings(id, &q).await?;
        Ok(rows.into_iter().map(Finding).collect())
    }
}

/// Open findings by severity.
#[derive(SimpleObject)]
pub struct Counts {
    blocker: i64,
    critical: i64,
    major: i64,
    minor: i64,
    info: i64,
}

pub struct Project(ProjectSummary);

#[Object]
impl Project {
    async fn id(&self) -> i64 {
        self.0.id
    }
    async fn full_name(&self) -> &str {
        &self.0.full_name
    }
    async fn default_branch(&self) -> &str {
        &self.0.default_branch
    }
    async fn archived(&self) -> bool {
        self.0.archived
    }
    async fn latest_analysis_id(&self) -> Option<i64> {
        self.0.latest_analysis_id
    }
    async fn grade(&self) -> Option<&str> {
        self.0.grade.as_deref()
    }
    async fn score(&self) -> Option<f64> {
        self.0.score
    }
    async fn verdict(&self) -> Option<&str> {
        self.0.verdict.as_deref()
    }
    /// Unix milliseconds.
    async fn last_analysed_at(&self) -> Option<i64> {
        self.0.last_analysed_at
    }
    async fn open(&self) -> Counts {
        let o = &self.0.open;
        Counts {
            blocker: o.blocker,
            critical: o.critical,
            major: o.major,
            minor: o.minor,
            info: o.info,
        }
    }
    async fn sparkline(&self) -> &[f64] {
        &self.0.sparkline
    }
    /// Default-branch history, oldest first (at most 200 points).
    async fn history(
        &self,
        ctx: &Context<'_>,
        points: Option<i64>,
    ) -> async_graphql::Result<Vec<History>> {
        let (state, _) = parts(ctx);
        let points = points.unwrap_or(30).clamp(1, crate::store::MAX_PAGE);
        let rows = state.store.project_history(self.0.id, points).await?;
        Ok(rows.into_iter().map(History).collect())
    }
    /// Analyses, newest first, before `before`.
    async fn analyses(
        &self,
        ctx: &Context<'_>,
        pr: Option<i64>,
        #[graphql(name = "ref")] head_ref: Option<String>,
        before: Option<i64>,
        first: Option<i64>,
    ) -> async_graphql::Result<Vec<Analysis>> {
        let (state, _) = parts(ctx);
        let rows = state
            .store
            .project_analyses(self.0.id, pr, head_ref.as_deref(), before, first)
            .await?;
        Ok(rows.into_iter().map(Analysis).collect())
    }
}

pub struct History(HistoryPoint);

#[Object]
impl History {
    async fn analysis_id(&self) -> i64 {
        self.0.analysis_id
    }
    async fn sha(&self) -> &str {
        &self.0.sha
    }
    async fn at(&self) -> i64 {
        self.0.at
    }
    async fn score(&self) -> Option<f64> {
        self.0.score
    }
    async fn grade(&self) -> Option<&str> {
        self.0.grade.as_deref()
    }
    async fn verdict(&self) -> Option<&str> {
        self.0.verdict.as_deref()
    }
}

pub struct Analysis(AnalysisSummary);

#[Object]
impl Analysis {
    async fn id(&self) -> i64 {
        self.0.id
    }
    async fn sha(&self) -> &str {
        &self.0.sha
    }
    #[graphql(name = "ref")]
    async fn head_ref(&self) -> Option<&str> {
        self.0.head_ref.as_deref()
    }
    async fn pr_number(&self) -> Option<i64> {
        self.0.pr_number
    }
    async fn trigger(&self) -> &str {
        &self.0.trigger
    }
    async fn status(&self) -> &str {
        &self.0.status
    }
    async fn verdict(&self) -> Option<&str> {
        self.0.verdict.as_deref()
    }
    async fn score(&self) -> Option<f64> {
        self.0.score
    }
    async fn grade(&self) -> Option<&str> {
        self.0.grade.as_deref()
    }
    async fn new_count(&self) -> Option<i64> {
        self.0.new_count
    }
    async fn fixed_count(&self) -> Option<i64> {
        self.0.fixed_count
    }
    async fn compared_sha(&self) -> Option<&str> {
        self.0.compared_sha.as_deref()
    }
    async fn queued_at(&self) -> i64 {
        self.0.queued_at
    }
    async fn completed_at(&self) -> Option<i64> {
        self.0.completed_at
    }
    async fn requested_by(&self) -> Option<&str> {
        self.0.requested_by.as_deref()
    }
    async fn project(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Project>> {
        let (state, principal) = parts(ctx);
        Ok(visible_project(state, principal, self.0.project_id)
            .await
            .ok()
            .map(Project))
    }
    /// This analysis's findings: `state` new, fixed or open (default).
    #[allow(clippy::too_many_arguments)]
    async fn findings(
        &self,
        ctx: &Context<'_>,
        backend: Option<String>,
        rule: Option<String>,
        severity: Option<String>,
        path: Option<String>,
        state: Option<String>,
        after: Option<i64>,
        first: Option<i64>,
    ) -> async_graphql::Result<Vec<Finding>> {
        let (app, _) = parts(ctx);
        let q = FindingQuery {
            analysis: Some(self.0.id),
            project: None,
            backend,
            rule,
            severity,
            path,
            state,
            cursor: after,
            limit: first,
        };
        let rows = app.store.query_findings(self.0.id, &q).await?;
        Ok(rows.into_iter().map(Finding).collect())
    }
}

pub struct Finding(FindingRow);

#[Object]
impl Finding {
    async fn id(&self) -> i64 {
        self.0.id
    }
    async fn analysis_id(&self) -> i64 {
        self.0.analysis_id
    }
    async fn fingerprint(&self) -> &str {
        &self.0.fingerprint
    }
    async fn backend(&self) -> &str {
        &self.0.backend
    }
    async fn rule(&self) -> &str {
        &self.0.rule
    }
    async fn category(&self) -> &str {
        &self.0.category
    }
    async fn severity(&self) -> &str {
        &self.0.severity
    }
    async fn path(&self) -> &str {
        &self.0.path
    }
    async fn start_line(&self) -> i64 {
        self.0.start_line
    }
    async fn end_line(&self) -> i64 {
        self.0.end_line
    }
    async fn message(&self) -> &str {
        &self.0.message
    }
    async fn help_url(&self) -> Option<&str> {
        self.0.help_url.as_deref()
    }
    async fn is_new(&self) -> bool {
        self.0.is_new
    }
    async fn is_fixed(&self) -> bool {
        self.0.is_fixed
    }
    async fn in_tests(&self) -> bool {
        self.0.in_tests
    }
}
