//! Wiring: builds the store, the GitHub client, the router and the workers from [`Settings`].

use crate::analysis::engine::Engine;
use crate::config::Settings;
use crate::git::checkout::Mirrors;
use crate::github::app::GitHubApp;
use crate::jobs::pipeline::PipelineContext;
use crate::jobs::worker::{run_worker, WorkerConfig};
use crate::store::Store;
use crate::web::{router, AppState};
use anyhow::{Context, Result};
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;

/// Connects to the database and applies migrations.
pub async fn open_store(settings: &Settings) -> Result<Store> {
    let url = settings.database_url()?;
    let store = Store::connect(url.expose_secret()).await?;
    store.migrate().await?;
    Ok(store)
}

pub fn github_app(settings: &Settings) -> Result<Option<Arc<GitHubApp>>> {
    match (settings.github.app_id, &settings.github.private_key) {
        (Some(id), Some(key)) => Ok(Some(Arc::new(GitHubApp::new(id, key, &settings.github.api_url)?))),
        (None, None) => Ok(None),
        _ => anyhow::bail!("set both GITHUB_APP_ID and GITHUB_PRIVATE_KEY (or GITHUB_PRIVATE_KEY_PATH), or neither"),
    }
}

/// The analysis engine as configured for this server (or the local `analyze` command).
pub fn engine(settings: &Settings) -> Engine {
    Engine {
        tools_dir: settings.tools_dir.clone(),
        timeout: Duration::from_secs(settings.analysis_timeout_secs),
        cache_dir: Some(settings.data_dir.join("cache")),
        trusted_build_scripts: settings.trusted_build_scripts,
        policy: settings.policy.rules.clone(),
        sarif_tools: settings.sarif_tools.clone(),
    }
}

pub fn pipeline_context(
    settings: &Settings,
    store: Store,
    github: Option<Arc<GitHubApp>>,
) -> Arc<PipelineContext> {
    Arc::new(PipelineContext {
        store,
        github,
        mirrors: Arc::new(Mirrors::new(settings.data_dir.join("mirrors"))),
        engine: engine(settings),
        gate: settings.policy.gate.clone(),
        max_annotations: settings.max_annotations,
        public_url: settings.public_url.clone(),
        mirror_locks: Default::default(),
    })
}

/// A running set of workers; dropping the shutdown sender stops them after their current job.
pub struct Workers {
    pub shutdown: tokio::sync::watch::Sender<bool>,
    pub handles: Vec<tokio::task::JoinHandle<()>>,
}

pub fn spawn_workers(
    ctx: Arc<PipelineContext>,
    count: usize,
    lease: Duration,
    notify: Arc<tokio::sync::Notify>,
) -> Workers {
    let (shutdown, rx) = tokio::sync::watch::channel(false);
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    let handles = (0..count)
        .map(|i| {
            let config = WorkerConfig {
                name: format!("{host}-{}-{i}", std::process::id()),
                lease,
                idle_poll: Duration::from_secs(2),
            };
            tokio::spawn(run_worker(ctx.clone(), config, notify.clone(), rx.clone()))
        })
        .collect();
    Workers { shutdown, handles }
}

impl Workers {
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for h in self.handles {
            let _ = h.await;
        }
    }
}

pub fn app_state(
    settings: &Settings,
    store: Store,
    notify: Arc<tokio::sync::Notify>,
) -> Arc<AppState> {
    Arc::new(AppState {
        store,
        webhook_secrets: settings.github.webhook_secrets.clone(),
        app_id: settings.github.app_id,
        max_attempts: settings.max_attempts,
        job_notify: notify,
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// `flext-quality serve`: HTTP plus `workers` in-process workers.
pub async fn serve(settings: Settings, workers: usize) -> Result<()> {
    let store = open_store(&settings).await?;
    let github = github_app(&settings)?;
    if github.is_none() {
        tracing::warn!("GITHUB_APP_ID/GITHUB_PRIVATE_KEY are not set: webhooks are recorded but analyses cannot report to GitHub");
    }
    if settings.github.webhook_secrets.is_empty() {
        tracing::warn!("GITHUB_WEBHOOK_SECRET is not set: every webhook will be refused with 401");
    }
    let notify = Arc::new(tokio::sync::Notify::new());
    let ctx = pipeline_context(&settings, store.clone(), github);
    // HTTP answers at once (webhooks are only recorded); workers start once the analysis tools
    // are in place, which on a first start means installing them.
    let pool: Arc<tokio::sync::Mutex<Option<Workers>>> = Arc::default();
    {
        let (pool, notify, tools_dir) = (pool.clone(), notify.clone(), settings.tools_dir.clone());
        let lease = Duration::from_secs(settings.lease_secs);
        tokio::spawn(async move {
            crate::tools::ensure_installed(&tools_dir).await;
            *pool.lock().await = Some(spawn_workers(ctx, workers, lease, notify));
        });
    }
    let app = router(app_state(&settings, store.clone(), notify));
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", settings.port))
        .await
        .with_context(|| format!("binding port {}", settings.port))?;
    tracing::info!(
        port = settings.port,
        database = settings.database_kind(),
        workers,
        "flext-quality listening"
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("shutting down: finishing current jobs");
    if let Some(pool) = pool.lock().await.take() {
        pool.stop().await;
    }
    store.close().await;
    Ok(())
}

/// `flext-quality worker`: workers only, no HTTP.
pub async fn worker(settings: Settings, workers: usize) -> Result<()> {
    let store = open_store(&settings).await?;
    let github = github_app(&settings)?;
    crate::tools::ensure_installed(&settings.tools_dir).await;
    let ctx = pipeline_context(&settings, store.clone(), github);
    let pool = spawn_workers(
        ctx,
        workers.max(1),
        Duration::from_secs(settings.lease_secs),
        Arc::new(tokio::sync::Notify::new()),
    );
    tracing::info!(workers, "flext-quality workers running");
    shutdown_signal().await;
    pool.stop().await;
    store.close().await;
    Ok(())
}
