//! The HTTP surface: webhook ingress, health checks, sign-in, the GitHub App's one-click setup,
//! the dashboard's pages, the REST and GraphQL APIs — the state handlers share and the router.

pub mod api;
pub mod auth;
pub mod error;
pub mod graphql;
pub mod metrics;
pub mod pages;
pub mod setup;
pub mod signin;
pub mod webhook;

use crate::analysis::jail::JailState;
use crate::config::GitHubSettings;
use crate::store::Store;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use secrecy::SecretString;
use std::sync::Arc;

pub struct AppState {
    pub store: Store,
    /// The GitHub App's settings as this server uses them now. They can change while it runs:
    /// `/setup/callback` replaces them with the App it just created, and `serve` watches them
    /// to start its workers then. Read them through [`AppState::app_id`],
    /// [`AppState::app_configured`] and [`AppState::webhook_secrets`].
    pub github: tokio::sync::watch::Sender<GitHubSettings>,
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
    /// Set on SIGTERM: webhooks are refused (503) while running jobs finish.
    pub draining: std::sync::atomic::AtomicBool,
    /// This process runs analyses (so `/readyz` needs the tools and the jail); set once its
    /// workers are started, which may be after `/setup` configured the App.
    pub runs_workers: std::sync::atomic::AtomicBool,
    /// Where the analysis tools live.
    pub tools_dir: std::path::PathBuf,
    /// Mirrors, work trees and caches (`FLEXT_QUALITY_DATA_DIR`): `/readyz` says when its disk
    /// is full.
    pub data_dir: std::path::PathBuf,
    /// `FLEXT_QUALITY_METRICS_TOKEN`: when set, `/metrics` needs it as a bearer token.
    pub metrics_token: Option<SecretString>,
    /// Where `/setup` keeps the App it creates, and the lock that lets only one do so.
    pub setup: setup::SetupPlace,
}

impl AppState {
    /// The App's id, when one is configured (payloads of other Apps are told apart by it).
    pub fn app_id(&self) -> Option<u64> {
        self.github.borrow().app_id
    }

    /// The App's id and key are set: analyses can run. Without them they are queued and wait.
    pub fn app_configured(&self) -> bool {
        self.github.borrow().app_configured()
    }

    /// The secrets a webhook's signature may be made with (several while rotating).
    pub fn webhook_secrets(&self) -> Vec<SecretString> {
        self.github.borrow().webhook_secrets.clone()
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/webhooks/github", post(webhook::receive))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::scrape))
        .route("/signin", get(signin::start))
        .route("/signin/callback", get(signin::callback))
        .route("/signin/token/{token}", get(signin::token))
        .route("/signout", post(signin::sign_out))
        .route("/setup", get(setup::page))
        .route("/setup/callback", get(setup::callback))
        // dashboard pages
        .route("/", get(pages::ecosystem::page))
        .route("/projects/{id}", get(pages::project::page))
        .route("/analyses/{id}", get(pages::analysis::page))
        .route("/compliance", get(pages::compliance::page))
        .route("/compliance.csv", get(pages::compliance::csv))
        .route("/compliance.json", get(pages::compliance::json))
        .route("/audit", get(pages::audit::page))
        .route(
            "/settings/api-keys",
            get(pages::api_keys::page).post(pages::api_keys::create),
        )
        .route(
            "/settings/api-keys/{id}/revoke",
            post(pages::api_keys::revoke),
        )
        .merge(api::router())
        .route("/api/graphql", post(graphql::execute))
        .fallback(not_found)
        .with_state(state)
}

/// What a worker-only process serves: health, readiness and its metrics (its job and backend
/// figures live in its own process).
pub fn ops_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::scrape))
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

/// Below this much free space in the data dir's disk, `/readyz` warns that it is full.
const DISK_NEARLY_FULL: u64 = 8 << 20;

/// Bytes an unprivileged process may still write on the disk of `path` (the nearest existing
/// ancestor, as the data dir is made on first use).
fn available_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let existing = path.ancestors().find(|p| p.exists())?;
    let c_path = std::ffi::CString::new(existing.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: statvfs(3) writes into `stats` and reads the NUL-terminated path only.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stats.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let stats = unsafe { stats.assume_init() };
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}

/// What `/readyz` says: ready or not, what is missing, and what works differently.
#[derive(Debug, serde::Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// Why not ready, one line each.
    pub missing: Vec<String>,
    /// Ready, but worth knowing.
    pub notes: Vec<String>,
}

/// Ready (200) when the database answers with the current schema, and — where this process
/// runs analyses — the tools are installed and the jail works; 503 otherwise, with what is
/// missing as JSON.
async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, axum::Json<Readiness>) {
    let mut missing = Vec::new();
    let mut notes = Vec::new();
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        missing.push("shutting down".to_owned());
    }
    if !state.store.ping().await {
        missing.push("database unreachable".to_owned());
    } else {
        match state.store.pending_migrations().await {
            Ok(p) if p.is_empty() => {}
            Ok(p) => missing.push(format!(
                "{} database migration(s) not applied (run `flext-quality migrate`)",
                p.len()
            )),
            Err(e) => missing.push(format!("cannot read the schema's version: {e:#}")),
        }
    }
    if !state.app_configured() {
        notes.push(
            "analyses wait for the GitHub App settings (GITHUB_APP_ID, GITHUB_PRIVATE_KEY; /setup creates the App)"
                .to_owned(),
        );
    } else if state.runs_workers.load(std::sync::atomic::Ordering::SeqCst) {
        if !crate::tools::is_installed(&state.tools_dir) {
            missing.push(format!(
                "the analysis tools are not installed in {} yet",
                state.tools_dir.display()
            ));
        }
        let jail = state.jail.read().unwrap_or_else(|e| e.into_inner()).clone();
        match jail {
            None => missing.push("the jail has not been tried yet".to_owned()),
            Some(s @ JailState::Unavailable(_)) => missing.push(s.describe()),
            Some(s @ (JailState::Off | JailState::Unjailed(_))) => notes.push(s.describe()),
            Some(JailState::Jailed) => {}
        }
        // Still ready: webhooks are recorded in the database; only analyses fail for now.
        if let Some(free) = available_bytes(&state.data_dir).filter(|f| *f < DISK_NEARLY_FULL) {
            notes.push(format!(
                "the disk of the data dir {} is full ({free} bytes free): analyses fail until space is freed",
                state.data_dir.display()
            ));
        }
    }
    let ready = missing.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(Readiness {
            ready,
            missing,
            notes,
        }),
    )
}
