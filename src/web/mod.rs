//! The HTTP surface: webhook ingress, health checks, sign-in, the dashboard's pages, the REST
//! and GraphQL APIs — the state handlers share and the router.

pub mod api;
pub mod auth;
pub mod error;
pub mod graphql;
pub mod pages;
pub mod signin;
pub mod webhook;

use crate::analysis::jail::JailState;
use crate::store::Store;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use secrecy::SecretString;
use std::sync::Arc;

pub struct AppState {
    pub store: Store,
    pub webhook_secrets: Vec<SecretString>,
    pub app_id: Option<u64>,
    /// The App's id and key are set: analyses can run. Without them they are queued and wait.
    pub app_configured: bool,
    /// How analysis jobs are queued (attempts, deadline).
    pub job_limits: crate::store::JobLimits,
    /// Wakes in-process workers as soon as a job is enqueued.
    pub job_notify: Arc<tokio::sync::Notify>,
    /// How tools run here, once the workers have made the jail (`None` before, or when this
    /// process runs no workers).
    pub jail: std::sync::RwLock<Option<JailState>>,
    /// Webhook bodies being read at once (bounded, so memory is).
    pub body_permits: Arc<tokio::sync::Semaphore>,
    /// How long a sender may take to send a webhook body.
    pub body_timeout: std::time::Duration,
    /// Sessions, sign-in settings and admins.
    pub auth: auth::Auth,
    /// The dashboard's templates.
    pub templates: minijinja::Environment<'static>,
    /// For GitHub sign-in requests.
    pub http: reqwest::Client,
    /// GitHub's REST API (for sign-in: who the person is, which installations they see).
    pub api_url: String,
    /// This server's public URL, for links and the OAuth callback.
    pub public_url: Option<String>,
    /// Seals per-project secrets set through the API (absent without a secret key).
    pub secrets: Option<Arc<crate::secret_box::SecretBox>>,
    /// The server policy from its file; one set through the API overrides it.
    pub policy_file: crate::config::Policy,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/webhooks/github", post(webhook::receive))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/signin", get(signin::start))
        .route("/signin/callback", get(signin::callback))
        .route("/signin/token/{token}", get(signin::token))
        .route("/signout", post(signin::sign_out))
        .merge(api::router())
        .route("/api/graphql", post(graphql::execute))
        .fallback(not_found)
        .with_state(state)
}

/// An unknown route: JSON under `/api/`, one line of text elsewhere.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        error::ApiError::not_found(format!("no such route: {}", uri.path())).into_response()
    } else {
        (StatusCode::NOT_FOUND, "no such route\n").into_response()
    }
}

/// Ready when the database answers; not ready when analyses cannot run because the jail
/// could not be made (they would all fail).
async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, String) {
    if !state.store.ping().await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unreachable\n".into(),
        );
    }
    let jail = state.jail.read().unwrap_or_else(|e| e.into_inner()).clone();
    match jail {
        Some(s @ JailState::Unavailable(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{}\n", s.describe()),
        ),
        Some(s @ (JailState::Off | JailState::Unjailed(_))) => {
            (StatusCode::OK, format!("ready; {}\n", s.describe()))
        }
        _ if !state.app_configured => (
            StatusCode::OK,
            "ready; analyses wait for the GitHub App settings (GITHUB_APP_ID, GITHUB_PRIVATE_KEY)\n".into(),
        ),
        _ => (StatusCode::OK, "ready\n".into()),
    }
}
