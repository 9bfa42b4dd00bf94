//! Wiring: builds the store, the GitHub client, the router and the workers from [`Settings`].

use crate::analysis::engine::Engine;
use crate::analysis::jail::{Jail, JailState, SandboxSetting};
use crate::analysis::toolchain::Toolchain;
use crate::config::{AnalysisSettings, Settings};
use crate::git::checkout::Mirrors;
use crate::github::app::GitHubApp;
use crate::jobs::worker::{run_worker, WorkerConfig};
use crate::jobs::JobContext;
use crate::publish::PublishContext;
use crate::store::Store;
use crate::web::{router, AppState};
use anyhow::{Context, Result};
use secrecy::ExposeSecret;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Makes this process's memory unreadable to other processes of the same user (no core dumps,
/// no `/proc/<pid>/mem`, no ptrace), so nothing that escaped an analysis could read the keys
/// and tokens it holds.
pub fn harden_process() {
    // SAFETY: prctl with these arguments only changes this process's dumpable flag.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

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

/// Makes the jail over the installed tools and proves it works (blocking work, off the async
/// threads). `setting` overrides the configured one (the local `analyze` chooses its own).
pub async fn jail(analysis: &AnalysisSettings, setting: SandboxSetting) -> Jail {
    let tools_dir = analysis.tools_dir.clone();
    let cores = analysis.cores;
    tokio::task::spawn_blocking(move || {
        Jail::new(setting, Toolchain::resolve(&tools_dir)).with_cores(cores)
    })
    .await
    .expect("the jail probe does not panic")
}

/// Says at start, in one line, how the tools will run.
pub fn log_jail_state(state: &JailState) {
    crate::metrics::jail(matches!(state, JailState::Jailed));
    match state {
        JailState::Jailed => tracing::info!("{}", state.describe()),
        JailState::Off | JailState::Unjailed(_) => tracing::warn!("{}", state.describe()),
        JailState::Unavailable(_) => tracing::error!(
            "{}; every analysis will conclude `failure` until bubblewrap works here (or set FLEXT_QUALITY_SANDBOX=off for trusted code only)",
            state.describe()
        ),
    }
}

/// The analysis engine over `jail`. The server gives every run its own tool caches (analysed
/// code could poison a shared one); `trusted_tool_cache` keeps them between runs, for the
/// local `analyze` of one's own code.
pub fn engine(
    analysis: &AnalysisSettings,
    jail: Jail,
    trusted_tool_cache: Option<PathBuf>,
) -> Engine {
    Engine {
        jail,
        timeout: Duration::from_secs(analysis.analysis_timeout_secs),
        result_cache: Some(analysis.cache_dir.join("results")),
        tool_cache: trusted_tool_cache,
        // The server applies the policy's rules per analysis (it can change while running);
        // `analyze` has no server, so its engine applies the file's.
        policy: Default::default(),
        sarif_tools: analysis.sarif_tools.clone(),
        max_findings: analysis.max_findings_per_backend,
        runs: Default::default(),
    }
}

/// Seals and opens per-project secrets, when `FLEXT_QUALITY_SECRET_KEY` is set.
pub fn secret_box(settings: &Settings) -> Option<Arc<crate::secret_box::SecretBox>> {
    settings
        .secret_key
        .as_ref()
        .map(|k| Arc::new(crate::secret_box::SecretBox::new(k, SLACK_PURPOSE)))
}

/// `flext-quality project set-slack`: seals and stores (or clears) a project's own Slack
/// destination; what was done, in one line.
pub async fn set_project_slack(
    settings: &Settings,
    repo: &str,
    url: Option<secrecy::SecretString>,
) -> Result<String> {
    use secrecy::ExposeSecret;
    let store = open_store(settings).await?;
    let project = store.find_project(repo).await?.with_context(|| {
        format!("no project {repo}: the App must be installed on it (and a webhook received)")
    })?;
    let sealed = match &url {
        None => None,
        Some(u) => {
            let text = u.expose_secret();
            if !(text.starts_with("https://") || text.starts_with("http://")) {
                anyhow::bail!("the Slack webhook URL must start with https://");
            }
            let secrets = secret_box(settings)
                .context("FLEXT_QUALITY_SECRET_KEY is not set: it seals the URL in the database")?;
            Some(secrets.seal(u)?)
        }
    };
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "operator".into())
    );
    store
        .set_project_slack_audited(&actor, project.id, sealed.as_deref())
        .await?;
    store.close().await;
    Ok(match url {
        Some(_) => format!(
            "{}: alerts go to its own Slack webhook (stored sealed)",
            project.full_name
        ),
        None => format!(
            "{}: alerts go to SLACK_WEBHOOK_URL again",
            project.full_name
        ),
    })
}

/// Registers the hooks of `FLEXT_QUALITY_EVENT_HOOKS` (or keeps them, when unchanged) and
/// removes the ones it no longer lists; says what it did in one line.
pub async fn sync_event_hooks(settings: &Settings, store: &Store) -> Result<()> {
    let secrets = secret_box(settings);
    let report =
        crate::publish::events::sync_env_hooks(store, secrets.as_deref(), &settings.event_hooks)
            .await?;
    if report != Default::default() {
        tracing::info!(
            kept = report.kept,
            added = report.added,
            removed = report.removed,
            "event hooks from FLEXT_QUALITY_EVENT_HOOKS"
        );
    }
    Ok(())
}

/// What sealed Slack URLs are for (a key per purpose).
pub const SLACK_PURPOSE: &str = "project slack webhook";

/// What the workers of this process share.
pub fn job_context(
    settings: &Settings,
    store: Store,
    github: Option<Arc<GitHubApp>>,
    engine: Engine,
) -> Arc<JobContext> {
    Arc::new(JobContext {
        publish: PublishContext {
            store: store.clone(),
            github: github.clone(),
            public_url: settings.public_url.clone(),
            slack_default: settings.slack_webhook_url.clone(),
            secrets: secret_box(settings),
            http: reqwest::Client::new(),
        },
        store,
        github,
        mirrors: Arc::new(Mirrors::new(settings.data_dir.join("mirrors"))),
        engine,
        policy: settings.analysis.policy.clone(),
        max_annotations: settings.max_annotations,
        tree_limits: crate::git::checkout::TreeLimits {
            bytes: settings.max_tree_bytes,
            entries: settings.max_tree_entries,
        },
        max_attempts: settings.max_attempts,
        job_deadline: Duration::from_secs(settings.job_deadline_secs),
        reconcile_every: Duration::from_secs(settings.reconcile_secs),
        mirror_locks: Default::default(),
    })
}

/// A running set of workers; dropping the shutdown sender stops them after their current job.
pub struct Workers {
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// Fired when the grace period is over: jobs in hand are handed back.
    pub abandon: tokio::sync::watch::Sender<bool>,
    pub handles: Vec<tokio::task::JoinHandle<()>>,
}

pub fn spawn_workers(
    ctx: Arc<JobContext>,
    count: usize,
    lease: Duration,
    notify: Arc<tokio::sync::Notify>,
) -> Workers {
    let (shutdown, rx) = tokio::sync::watch::channel(false);
    let (abandon, abandon_rx) = tokio::sync::watch::channel(false);
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    let handles = (0..count)
        .map(|i| {
            let config = WorkerConfig {
                name: format!("{host}-{}-{i}", std::process::id()),
                lease,
                idle_poll: Duration::from_secs(2),
                abandon: Some(abandon_rx.clone()),
            };
            tokio::spawn(run_worker(ctx.clone(), config, notify.clone(), rx.clone()))
        })
        .collect();
    Workers {
        shutdown,
        abandon,
        handles,
    }
}

impl Workers {
    /// Stops claiming; lets the jobs in hand finish within `grace`, then hands back what is
    /// left (its tools killed, its lease released so another instance starts it at once).
    pub async fn stop(self, grace: Duration) {
        let _ = self.shutdown.send(true);
        let abandon = self.abandon;
        let timer = tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            tracing::warn!(
                grace_s = grace.as_secs(),
                "grace period over: handing back unfinished jobs"
            );
            let _ = abandon.send(true);
        });
        for h in self.handles {
            let _ = h.await;
        }
        timer.abort();
    }
}

pub fn app_state(
    settings: &Settings,
    store: Store,
    notify: Arc<tokio::sync::Notify>,
) -> Arc<AppState> {
    Arc::new(AppState {
        store,
        github: tokio::sync::watch::Sender::new(settings.github.clone()),
        job_limits: crate::store::JobLimits {
            max_attempts: settings.max_attempts,
            deadline_ms: (settings.job_deadline_secs as i64).saturating_mul(1000),
        },
        job_notify: notify,
        jail: Default::default(),
        body_permits: Arc::new(tokio::sync::Semaphore::new(
            crate::web::webhook::CONCURRENT_BODIES,
        )),
        body_timeout: crate::web::webhook::BODY_TIMEOUT,
        auth: crate::web::auth::Auth::new(&settings.web, settings.public_url.as_deref()),
        templates: crate::web::pages::environment(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("an HTTP client with a timeout builds"),
        api_url: settings.github.api_url.clone(),
        public_url: settings.public_url.clone(),
        secrets: secret_box(settings),
        policy_file: settings.analysis.policy.clone(),
        draining: Default::default(),
        runs_workers: Default::default(),
        tools_dir: settings.analysis.tools_dir.clone(),
        data_dir: settings.data_dir.clone(),
        metrics_token: settings.metrics_token.clone(),
        setup: crate::web::setup::SetupPlace::new(settings),
    })
}

/// The settings with the App's, and the App's client, once its id and key are both known: at
/// once when they were set at start, else when `/setup` delivers them to the running server.
/// `None` when the settings it got do not make a working client (said in the log).
async fn app_when_configured(
    state: &AppState,
    mut settings: Settings,
) -> Option<(Settings, Arc<GitHubApp>)> {
    let mut watched = state.github.subscribe();
    // `wait_for` looks at the current value first, so settings present at start count.
    let github = watched
        .wait_for(crate::config::GitHubSettings::app_configured)
        .await
        .ok()?
        .clone();
    settings.github = github;
    match github_app(&settings) {
        Ok(app) => app.map(|app| (settings, app)),
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "the GitHub App's settings do not work: no workers start"
            );
            None
        }
    }
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

/// What a server without a GitHub App can do, and what to set next — one block, at start.
fn without_app(settings: &Settings) -> String {
    format!(
        "flext-quality is running without a GitHub App.\n\
         \x20 Now: webhooks are received, checked and recorded at http://0.0.0.0:{port}/webhooks/github; \
         analyses they ask for are queued and wait (they are not started, nor retried in vain).\n\
         \x20 Now: `flext-quality analyze PATH` analyses any local checkout, no App needed.\n\
         \x20 Next: open {base}/setup to create the GitHub App in one click (its settings are kept \
         and used at once, no restart), or create one by hand (README, \"Registering the GitHub App\"), \
         set GITHUB_APP_ID, GITHUB_PRIVATE_KEY_PATH (or GITHUB_PRIVATE_KEY) and GITHUB_WEBHOOK_SECRET, \
         and restart: the waiting analyses then run.",
        port = settings.port,
        base = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://localhost:{}", settings.port)),
    )
}

/// `flext-quality serve`: HTTP plus `workers` in-process workers.
pub async fn serve(settings: Settings, workers: usize) -> Result<()> {
    let store = open_store(&settings).await?;
    sync_event_hooks(&settings, &store).await?;
    let github = github_app(&settings)?;
    if github.is_none() {
        tracing::warn!("{}", without_app(&settings));
    }
    if settings.github.webhook_secrets.is_empty() {
        tracing::warn!("GITHUB_WEBHOOK_SECRET is not set: every webhook will be refused with 401");
    }
    let notify = Arc::new(tokio::sync::Notify::new());
    let state = app_state(&settings, store.clone(), notify.clone());
    // Known at once when the App is there, so `/readyz` waits for the tools from the start.
    state.runs_workers.store(
        github.is_some() && workers > 0,
        std::sync::atomic::Ordering::SeqCst,
    );
    // HTTP answers at once (webhooks are only recorded); workers start once the App is
    // configured — now, or later through `/setup` — and the analysis tools are in place, which
    // on a first start means installing them. Without the App an analysis could do nothing but
    // fail: jobs wait, not retried in vain.
    let pool: Arc<tokio::sync::Mutex<Option<Workers>>> = Arc::default();
    if workers > 0 {
        let (pool, state, settings) = (pool.clone(), state.clone(), settings.clone());
        let store = store.clone();
        tokio::spawn(async move {
            let Some((settings, github)) = app_when_configured(&state, settings).await else {
                return;
            };
            state
                .runs_workers
                .store(true, std::sync::atomic::Ordering::SeqCst);
            crate::tools::ensure_installed(&settings.analysis.tools_dir).await;
            let jail = jail(&settings.analysis, settings.analysis.sandbox).await;
            log_jail_state(jail.state());
            *state.jail.write().unwrap_or_else(|e| e.into_inner()) = Some(jail.state().clone());
            let engine = engine(&settings.analysis, jail, None);
            let ctx = job_context(&settings, store, Some(github), engine);
            let lease = Duration::from_secs(settings.lease_secs);
            *pool.lock().await = Some(spawn_workers(ctx, workers, lease, notify));
            tracing::info!(workers, "workers started");
        });
    }
    // What runs now, for the log line.
    let workers = if github.is_some() { workers } else { 0 };
    let app = router(state.clone());
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", settings.port))
        .await
        .with_context(|| format!("binding port {}", settings.port))?;
    tracing::info!(
        port = settings.port,
        database = settings.database_kind(),
        workers,
        "flext-quality listening"
    );
    announce_sign_in(&settings, &store).await?;
    // HTTP keeps answering while the workers drain (new webhooks get 503, so GitHub records
    // a failed delivery that reconciliation brings back); it stops once they are done.
    let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = http_stopped.await;
            })
            .await
    });
    shutdown_signal().await;
    state
        .draining
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let grace = Duration::from_secs(settings.shutdown_grace_secs);
    tracing::info!(
        grace_s = grace.as_secs(),
        "shutting down: refusing new webhooks, finishing current jobs"
    );
    if let Some(pool) = pool.lock().await.take() {
        pool.stop(grace).await;
    }
    let _ = http_stop.send(());
    http.await.context("HTTP task")?.context("serving HTTP")?;
    store.close().await;
    Ok(())
}

/// Where the dashboard is and how to get in. Without GitHub sign-in, a one-time admin link —
/// printed on standard output, not logged (logs are often shipped elsewhere).
async fn announce_sign_in(settings: &Settings, store: &Store) -> Result<()> {
    if settings.web.session_key.is_none() {
        tracing::warn!("FLEXT_QUALITY_SESSION_KEY is not set: sessions end when the server stops");
    }
    let base = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://localhost:{}", settings.port));
    if settings.web.oauth.is_some() {
        println!("Dashboard: {base}/ (sign in with GitHub)");
    } else {
        let link = crate::web::signin::new_link(store).await?;
        println!(
            "Dashboard: open {base}{link} to sign in as the local admin (works once, for 24 hours; \
             `flext-quality sign-in-link` prints another; set GITHUB_CLIENT_ID and \
             GITHUB_CLIENT_SECRET for GitHub sign-in)"
        );
    }
    Ok(())
}

/// `flext-quality sign-in-link`: a new one-time admin sign-in link.
pub async fn sign_in_link(settings: &Settings) -> Result<String> {
    let store = open_store(settings).await?;
    let link = crate::web::signin::new_link(&store).await?;
    store.close().await;
    let base = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://localhost:{}", settings.port));
    Ok(format!("{base}{link}"))
}

/// `flext-quality worker`: workers only, no HTTP.
pub async fn worker(settings: Settings, workers: usize) -> Result<()> {
    let store = open_store(&settings).await?;
    let github = github_app(&settings)?;
    if github.is_none() {
        anyhow::bail!(
            "a worker needs the GitHub App to fetch code and publish: set GITHUB_APP_ID and GITHUB_PRIVATE_KEY (or GITHUB_PRIVATE_KEY_PATH)"
        );
    }
    let notify = Arc::new(tokio::sync::Notify::new());
    let state = app_state(&settings, store.clone(), notify.clone());
    state
        .runs_workers
        .store(true, std::sync::atomic::Ordering::SeqCst);
    // Health, readiness and this process's metrics, on PORT.
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", settings.port))
        .await
        .with_context(|| format!("binding port {}", settings.port))?;
    let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let ops = crate::web::ops_router(state.clone());
    let http = tokio::spawn(async move {
        axum::serve(listener, ops)
            .with_graceful_shutdown(async {
                let _ = http_stopped.await;
            })
            .await
    });
    crate::tools::ensure_installed(&settings.analysis.tools_dir).await;
    let jail = jail(&settings.analysis, settings.analysis.sandbox).await;
    log_jail_state(jail.state());
    *state.jail.write().unwrap_or_else(|e| e.into_inner()) = Some(jail.state().clone());
    let engine = engine(&settings.analysis, jail, None);
    let ctx = job_context(&settings, store.clone(), github, engine);
    let pool = spawn_workers(
        ctx,
        workers.max(1),
        Duration::from_secs(settings.lease_secs),
        notify,
    );
    tracing::info!(
        workers,
        port = settings.port,
        "flext-quality workers running"
    );
    shutdown_signal().await;
    state
        .draining
        .store(true, std::sync::atomic::Ordering::SeqCst);
    tracing::info!("shutting down: finishing current jobs");
    pool.stop(Duration::from_secs(settings.shutdown_grace_secs))
        .await;
    let _ = http_stop.send(());
    let _ = http.await;
    store.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_is_not_dumpable() {
        super::harden_process();
        // SAFETY: reads this process's dumpable flag.
        let dumpable = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
        assert_eq!(dumpable, 0);
    }
}
