//! Outgoing event hooks through the API (admin): register, list, remove, and the delivery log.
//! A hook's URL and secret are sealed at once and never shown back — only the URL's host.

use super::super::auth::Principal;
use super::super::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use super::super::AppState;
use super::admin::Done;
use crate::domain::status::Role;
use crate::store::{EventDelivery, EventHook};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// The event hooks (admin), active and removed.
#[utoipa::path(get, path = "/api/v1/event-hooks", tag = "admin",
    responses((status = 200, body = Vec<EventHook>), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub async fn list_hooks(
    State(state): State<Arc<AppState>>,
    principal: Principal,
) -> Result<Json<Vec<EventHook>>, ApiError> {
    principal.require(Role::Admin)?;
    Ok(Json(state.store.list_event_hooks().await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHook {
    /// Where events are POSTed (http or https).
    pub url: String,
    /// Signs each event: `X-Flext-Quality-Signature-256: sha256=<HMAC-SHA256 of the body>`.
    pub secret: String,
    /// `analysis.completed`, `gate.changed`.
    pub events: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedHook {
    pub id: i64,
}

/// Register an event hook (admin).
#[utoipa::path(post, path = "/api/v1/event-hooks", tag = "admin", request_body = NewHook,
    responses((status = 201, body = CreatedHook), (status = 400, body = ApiError), (status = 401, body = ApiError),
              (status = 403, body = ApiError), (status = 409, body = ApiError)))]
pub async fn create_hook(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    ApiJson(req): ApiJson<NewHook>,
) -> Result<(StatusCode, Json<CreatedHook>), ApiError> {
    principal.require(Role::Admin)?;
    crate::domain::outgoing::validate_hook(&req.url, &req.secret, &req.events)
        .map_err(ApiError::bad_request)?;
    let secrets = state.secrets.as_ref().ok_or_else(|| {
        ApiError::conflict(
            "FLEXT_QUALITY_SECRET_KEY is not set on the server: it seals the hook's URL and secret",
        )
    })?;
    let id = crate::publish::events::register_hook(
        &state.store,
        secrets,
        &principal.actor,
        &req.url,
        &req.secret,
        &req.events,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(CreatedHook { id })))
}

/// Remove an event hook (admin): it gets nothing more.
#[utoipa::path(delete, path = "/api/v1/event-hooks/{id}", tag = "admin",
    params(("id" = i64, Path, description = "The hook's id")),
    responses((status = 200, body = Done), (status = 400, body = ApiError), (status = 401, body = ApiError),
              (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn remove_hook(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Done>, ApiError> {
    principal.require(Role::Admin)?;
    if !state.store.remove_event_hook(&principal.actor, id).await? {
        return Err(ApiError::not_found(format!("no active event hook {id}")));
    }
    Ok(Json(Done {
        detail: format!("event hook {id} removed"),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryFilter {
    /// Only this hook's deliveries.
    pub hook: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<EventDelivery>,
    pub next_cursor: Option<i64>,
}

/// The delivery log, newest first (admin): each event to each hook and how sending it went.
#[utoipa::path(get, path = "/api/v1/event-deliveries", tag = "admin", params(DeliveryFilter),
    responses((status = 200, body = DeliveryPage), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub async fn list_deliveries(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    ApiQuery(f): ApiQuery<DeliveryFilter>,
) -> Result<Json<DeliveryPage>, ApiError> {
    principal.require(Role::Admin)?;
    let items = state
        .store
        .list_event_deliveries(f.hook, f.cursor, f.limit.unwrap_or(50))
        .await?;
    let next_cursor = super::read::next_cursor(&items, f.limit, 50, |d| d.id);
    Ok(Json(DeliveryPage { items, next_cursor }))
}
