//! Changing things: triggering an analysis and project settings (maintainers); the server
//! policy, API keys, roles and the audit log (admins). Every change is audited by the store in
//! the same transaction as the change.

use super::super::auth::Principal;
use super::super::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use super::super::AppState;
use super::read::visible_project;
use crate::domain::events::Command;
use crate::domain::status::Role;
use crate::store::{ApiKey, AuditEntry};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerRequest {
    /// A branch (`main`), a full ref (`refs/tags/v1.2`) or a commit's full id.
    #[serde(rename = "ref")]
    #[schema(rename = "ref")]
    pub git_ref: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    /// The job that resolves the ref and queues the analysis.
    pub job_id: i64,
    pub detail: String,
}

/// Queue an analysis of a ref (maintainer). The ref is resolved by a worker; the analysis then
/// appears in the project's list.
#[utoipa::path(post, path = "/api/v1/projects/{id}/analyses", tag = "change",
    params(("id" = i64, Path, description = "The project's id")), request_body = TriggerRequest,
    responses((status = 202, body = Queued), (status = 400, body = ApiError), (status = 401, body = ApiError),
              (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn trigger_analysis(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<TriggerRequest>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    principal.require(Role::Maintainer)?;
    let project = visible_project(&state, &principal, id).await?;
    let r = req.git_ref.trim();
    let valid = !r.is_empty()
        && r.len() <= 250
        && !r.starts_with('-')
        && !r.contains("..")
        && r.bytes()
            .all(|b| b.is_ascii_graphic() && !b"~^:?*[\\".contains(&b));
    if !valid {
        return Err(ApiError::bad_request(format!(
            "`ref` must be a branch, tag or commit id, not `{}`",
            r.chars().take(80).collect::<String>()
        )));
    }
    if project.archived {
        return Err(ApiError::conflict(format!(
            "{} is archived (the App was removed from it)",
            project.full_name
        )));
    }
    let job_id = state
        .store
        .enqueue_command(
            &Command::AnalyseRef {
                project_id: id,
                git_ref: r.to_owned(),
                user: principal.actor.clone(),
            },
            state.job_limits,
        )
        .await?;
    state.job_notify.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(Queued {
            job_id,
            detail: format!("an analysis of {r} in {} is queued", project.full_name),
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectSettings {
    /// The project's own Slack incoming webhook; `null` sends its alerts to
    /// `SLACK_WEBHOOK_URL` again. Stored sealed; never shown back.
    pub slack_webhook_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    pub detail: String,
}

/// Set a project's settings (maintainer).
#[utoipa::path(put, path = "/api/v1/projects/{id}/settings", tag = "change",
    params(("id" = i64, Path, description = "The project's id")), request_body = ProjectSettings,
    responses((status = 200, body = Done), (status = 400, body = ApiError), (status = 401, body = ApiError),
              (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn set_project_settings(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<ProjectSettings>,
) -> Result<Json<Done>, ApiError> {
    principal.require(Role::Maintainer)?;
    let project = visible_project(&state, &principal, id).await?;
    let sealed = match &req.slack_webhook_url {
        None => None,
        Some(url) => {
            if !url.starts_with("https://") || url.len() > 2000 {
                return Err(ApiError::bad_request(
                    "the Slack webhook URL must be an https:// URL",
                ));
            }
            let secrets = state.secrets.as_ref().ok_or_else(|| {
                ApiError::conflict("FLEXT_QUALITY_SECRET_KEY is not set on the server: it seals the URL in the database")
            })?;
            Some(secrets.seal(&secrecy::SecretString::from(url.clone()))?)
        }
    };
    state
        .store
        .set_project_slack_audited(&principal.actor, id, sealed.as_deref())
        .await?;
    Ok(Json(Done {
        detail: match sealed {
            Some(_) => format!("{}: alerts go to its own Slack webhook", project.full_name),
            None => format!("{}: alerts go to SLACK_WEBHOOK_URL", project.full_name),
        },
    }))
}

/// The server policy in force and where it comes from.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    /// `api` (set through the app), `file` (`FLEXT_QUALITY_POLICY_FILE`) or `default`.
    pub source: String,
    /// The policy's TOML (`[rules]`, `[gate]`, `[compliance]`).
    pub text: String,
}

/// Read the server policy (admin).
#[utoipa::path(get, path = "/api/v1/policy", tag = "admin",
    responses((status = 200, body = PolicyView), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub async fn get_policy(
    State(state): State<Arc<AppState>>,
    principal: Principal,
) -> Result<Json<PolicyView>, ApiError> {
    principal.require(Role::Admin)?;
    Ok(Json(policy_view(&state).await?))
}

async fn policy_view(state: &AppState) -> anyhow::Result<PolicyView> {
    let (policy, source) = crate::config::policy_in_force(&state.store, &state.policy_file).await?;
    Ok(PolicyView {
        source: source.as_str().into(),
        text: policy.text.unwrap_or_default(),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyUpdate {
    /// The whole new policy, TOML; checked before it is saved.
    pub text: String,
}

/// Replace the server policy (admin); it applies from the next analysis on.
#[utoipa::path(put, path = "/api/v1/policy", tag = "admin", request_body = PolicyUpdate,
    responses((status = 200, body = PolicyView), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub async fn put_policy(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    ApiJson(req): ApiJson<PolicyUpdate>,
) -> Result<Json<PolicyView>, ApiError> {
    principal.require(Role::Admin)?;
    if req.text.len() > 64 * 1024 {
        return Err(ApiError::bad_request("the policy is over 64 KiB"));
    }
    crate::config::Policy::from_toml(&req.text)
        .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    let before = policy_view(&state).await?.text;
    state
        .store
        .set_policy(&principal.actor, &before, &req.text)
        .await?;
    Ok(Json(policy_view(&state).await?))
}

/// The API keys (admin); never the keys themselves.
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "admin",
    responses((status = 200, body = Vec<ApiKey>), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub async fn list_keys(
    State(state): State<Arc<AppState>>,
    principal: Principal,
) -> Result<Json<Vec<ApiKey>>, ApiError> {
    principal.require(Role::Admin)?;
    Ok(Json(state.store.list_api_keys().await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
    /// `viewer`, `maintainer` or `admin`.
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    pub listed: ApiKey,
    /// The key: shown this once, never again (only its hash is kept).
    pub key: String,
}

/// Create an API key (admin).
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "admin", request_body = NewKey,
    responses((status = 201, body = CreatedKey), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub async fn create_key(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    ApiJson(req): ApiJson<NewKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    principal.require(Role::Admin)?;
    let role = parse_role(&req.role)?;
    let name = req.name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "`name` must be 1–100 printable characters",
        ));
    }
    let (listed, key) = state
        .store
        .create_api_key(&principal.actor, name, role)
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { listed, key })))
}

fn parse_role(s: &str) -> Result<Role, ApiError> {
    s.parse().map_err(|_| {
        ApiError::bad_request(format!("`role` is viewer, maintainer or admin, not `{s}`"))
    })
}

/// Revoke an API key (admin).
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "admin",
    params(("id" = i64, Path, description = "The key's id")),
    responses((status = 200, body = Done), (status = 400, body = ApiError), (status = 401, body = ApiError),
              (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn revoke_key(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Done>, ApiError> {
    principal.require(Role::Admin)?;
    if !state.store.revoke_api_key(&principal.actor, id).await? {
        return Err(ApiError::not_found(format!("no active API key {id}")));
    }
    Ok(Json(Done {
        detail: format!("API key {id} revoked"),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    pub next_cursor: Option<i64>,
}

/// The audit log, newest first (admin).
#[utoipa::path(get, path = "/api/v1/audit", tag = "admin", params(AuditFilter),
    responses((status = 200, body = AuditPage), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub async fn list_audit(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    ApiQuery(f): ApiQuery<AuditFilter>,
) -> Result<Json<AuditPage>, ApiError> {
    principal.require(Role::Admin)?;
    let items = state
        .store
        .list_audit(f.cursor, f.limit.unwrap_or(50))
        .await?;
    let next_cursor = super::read::next_cursor(&items, f.limit, 50, |e| e.id);
    Ok(Json(AuditPage { items, next_cursor }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleGrant {
    /// `viewer`, `maintainer` or `admin`.
    pub role: String,
}

/// Grant a role to a GitHub login (admin); they need not have signed in yet.
#[utoipa::path(put, path = "/api/v1/users/{login}/role", tag = "admin",
    params(("login" = String, Path, description = "A GitHub login")), request_body = RoleGrant,
    responses((status = 200, body = Done), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub async fn set_role(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    ApiPath(login): ApiPath<String>,
    ApiJson(req): ApiJson<RoleGrant>,
) -> Result<Json<Done>, ApiError> {
    principal.require(Role::Admin)?;
    let role = parse_role(&req.role)?;
    let valid = !login.is_empty()
        && login.len() <= 39
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !valid {
        return Err(ApiError::bad_request(format!(
            "`{}` is not a GitHub login",
            login.chars().take(40).collect::<String>()
        )));
    }
    state
        .store
        .grant_role(&principal.actor, &login, role)
        .await?;
    Ok(Json(Done {
        detail: format!("{login} is now {}", role.as_str()),
    }))
}
