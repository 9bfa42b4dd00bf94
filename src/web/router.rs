//! The axum router and the state handlers share.

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
    pub max_attempts: i64,
    /// Wakes in-process workers as soon as a job is enqueued.
    pub job_notify: Arc<tokio::sync::Notify>,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/webhooks/github", post(super::webhook::receive))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such route\n") })
        .with_state(state)
}

async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, &'static str) {
    if state.store.ping().await {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
    }
}
