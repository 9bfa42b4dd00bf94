//! The REST API under `/api/v1`: JSON over the store's read models, changes for maintainers
//! and admins, errors as `{"error", "detail"}`. Its OpenAPI 3.1 document is generated from
//! the handlers' annotations (utoipa) and served at `/api/v1/openapi.json`.

pub mod admin;
pub mod hooks;
pub mod read;

use super::auth::Principal;
use super::AppState;
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use std::sync::Arc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "flext-quality",
        description = "Code quality across an organisation's repositories: projects, analyses, findings, compliance, and their governance."
    ),
    paths(
        read::list_projects,
        read::get_project,
        read::list_analyses,
        read::get_analysis,
        read::list_findings,
        read::compliance,
        admin::trigger_analysis,
        admin::set_project_settings,
        admin::get_policy,
        admin::put_policy,
        admin::list_keys,
        admin::create_key,
        admin::revoke_key,
        admin::list_audit,
        admin::set_role,
        hooks::list_hooks,
        hooks::create_hook,
        hooks::remove_hook,
        hooks::list_deliveries,
    ),
    modifiers(&Security),
    security(("bearer" = []), ("session" = [])),
    tags(
        (name = "read", description = "What was analysed and found"),
        (name = "change", description = "Triggering analyses and project settings (maintainers)"),
        (name = "admin", description = "Policy, API keys, roles and the audit log (admins)"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key (`flext-quality api-key create`)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                super::auth::SESSION_COOKIE,
                "The dashboard's session; changes also need the `x-csrf-token` header",
            ))),
        );
    }
}

/// The OpenAPI document, generated once.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

async fn openapi(_: Principal) -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/projects", get(read::list_projects))
        .route("/api/v1/projects/{id}", get(read::get_project))
        .route(
            "/api/v1/projects/{id}/analyses",
            get(read::list_analyses).post(admin::trigger_analysis),
        )
        .route(
            "/api/v1/projects/{id}/settings",
            put(admin::set_project_settings),
        )
        .route("/api/v1/analyses/{id}", get(read::get_analysis))
        .route("/api/v1/findings", get(read::list_findings))
        .route("/api/v1/compliance", get(read::compliance))
        .route(
            "/api/v1/policy",
            get(admin::get_policy).put(admin::put_policy),
        )
        .route(
            "/api/v1/api-keys",
            get(admin::list_keys).post(admin::create_key),
        )
        .route("/api/v1/api-keys/{id}", delete(admin::revoke_key))
        .route("/api/v1/audit", get(admin::list_audit))
        .route("/api/v1/users/{login}/role", put(admin::set_role))
        .route(
            "/api/v1/event-hooks",
            get(hooks::list_hooks).post(hooks::create_hook),
        )
        .route("/api/v1/event-hooks/{id}", delete(hooks::remove_hook))
        .route("/api/v1/event-deliveries", get(hooks::list_deliveries))
}
