//! The whole app, started for a test: the real router over HTTP on a random port, in-process
//! workers, a fresh database of the chosen engine, and a strict fake GitHub hosting the git
//! repositories. Webhooks are signed exactly as GitHub signs them.

use super::db::TestDb;
use crate::support::{shared_app_key, FakeGitHub};
use flext_quality::analysis::jail::SandboxSetting;
use flext_quality::config::{AnalysisSettings, GitHubSettings, LogFormat, Settings};
use flext_quality::server;
use flext_quality::store::{Engine, Store};
use secrecy::SecretString;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const APP_ID: u64 = 4242;
pub const INSTALLATION: u64 = 77;
pub const SECRET: &str = "test-webhook-secret";

pub use super::tools::tools_dir;

pub fn require_ruff() {
    let dir = tools_dir();
    assert!(
        flext_quality::analysis::toolchain::Toolchain::resolve(&dir)
            .find("ruff")
            .is_some(),
        "ruff is not installed in {}/venv or on PATH: run the README's test command (scripts/test.sh), which installs the pinned tools",
        dir.display()
    );
}

static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

/// Everything the app logged in this test process, at debug level, to check what never leaks.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

struct LogSink;

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "flext_quality=debug,warn",
        ))
        .with_ansi(false)
        .with_writer(|| LogSink)
        .try_init();
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            {
                found.push(path);
            }
        }
    }
    found
}

pub struct TestApp {
    pub github: FakeGitHub,
    pub store: Store,
    pub url: String,
    pub http: reqwest::Client,
    pub settings: Settings,
    pub ctx: Arc<flext_quality::jobs::pipeline::PipelineContext>,
    notify: Arc<tokio::sync::Notify>,
    db: Option<TestDb>,
    workers: Option<server::Workers>,
    server: tokio::task::JoinHandle<()>,
    _data: tempfile::TempDir,
}

pub struct Options {
    pub engine: Engine,
    pub workers: usize,
    pub lease: Duration,
    pub max_attempts: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            engine: Engine::Postgres,
            workers: 2,
            lease: Duration::from_secs(30),
            max_attempts: 3,
        }
    }
}

impl TestApp {
    pub async fn start(options: Options) -> TestApp {
        init_logs();
        if options.workers > 0 {
            require_ruff();
        }
        let (private_pem, public_pem) = shared_app_key();
        let github = FakeGitHub::start(APP_ID, public_pem).await;
        let db = TestDb::new(options.engine).await;
        let data = tempfile::tempdir().unwrap();
        let settings = Settings {
            analysis: AnalysisSettings {
                tools_dir: tools_dir(),
                cache_dir: data.path().join("cache"),
                sandbox: SandboxSetting::Required,
                analysis_timeout_secs: 120,
                max_findings_per_backend: 20_000,
                policy: Default::default(),
                sarif_tools: Vec::new(),
            },
            database_url: Some(SecretString::from(db.url.clone())),
            data_dir: data.path().to_path_buf(),
            port: 0,
            public_url: None,
            log_format: LogFormat::Pretty,
            github: GitHubSettings {
                app_id: Some(APP_ID),
                private_key: Some(SecretString::from(private_pem.clone())),
                webhook_secrets: vec![
                    SecretString::from("an-old-secret".to_owned()),
                    SecretString::from(SECRET.to_owned()),
                ],
                api_url: github.url(),
            },
            job_deadline_secs: 600,
            max_attempts: options.max_attempts,
            lease_secs: options.lease.as_secs().max(1),
            max_annotations: 1000,
            max_tree_bytes: 2 << 30,
            max_tree_entries: 200_000,
        };
        let store = db.store.clone();
        let app = server::github_app(&settings).unwrap();
        let notify = Arc::new(tokio::sync::Notify::new());
        let jail = server::jail(&settings.analysis, settings.analysis.sandbox).await;
        let engine = server::engine(&settings.analysis, jail, None);
        let ctx = server::pipeline_context(&settings, store.clone(), app, engine);
        let workers = (options.workers > 0).then(|| {
            server::spawn_workers(ctx.clone(), options.workers, options.lease, notify.clone())
        });
        let router =
            flext_quality::web::router(server::app_state(&settings, store.clone(), notify.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        TestApp {
            github,
            store,
            url,
            http: reqwest::Client::new(),
            settings,
            ctx,
            notify,
            db: Some(db),
            workers,
            server,
            _data: data,
        }
    }

    /// POSTs a webhook signed with the current secret.
    pub async fn webhook(&self, event: &str, delivery: &str, payload: &Value) -> (u16, String) {
        let body = serde_json::to_vec(payload).unwrap();
        let signature =
            flext_quality::github::signature::sign(&SecretString::from(SECRET.to_owned()), &body);
        self.post(
            &[
                ("X-GitHub-Event", event),
                ("X-GitHub-Delivery", delivery),
                ("X-Hub-Signature-256", &signature),
            ],
            body,
        )
        .await
    }

    pub async fn post(&self, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
        let mut request = self
            .http
            .post(format!("{}/webhooks/github", self.url))
            .header("Content-Type", "application/json");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.body(body).send().await.expect("the server answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// Starts in-process workers (for tests that first set up the queue by hand).
    pub fn start_workers(&mut self, count: usize, lease: Duration) {
        require_ruff();
        assert!(self.workers.is_none(), "workers already running");
        self.workers = Some(server::spawn_workers(
            self.ctx.clone(),
            count,
            lease,
            self.notify.clone(),
        ));
    }

    /// Waits until no job is queued or running.
    pub async fn wait_idle(&self, limit: Duration) {
        let started = Instant::now();
        loop {
            let busy = self.store.count_jobs("queued").await.unwrap()
                + self.store.count_jobs("running").await.unwrap();
            if busy == 0 {
                return;
            }
            assert!(started.elapsed() < limit, "jobs still busy after {limit:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn finish(mut self) {
        if let Some(w) = self.workers.take() {
            w.stop().await;
        }
        self.server.abort();
        if let Some(db) = self.db.take() {
            db.cleanup().await;
        }
        self.github.assert_no_violations();
    }
}

/// An example payload from `shared/fixtures/github/webhooks`.
pub fn fixture(event: &str, file: &str) -> Value {
    let path = format!(
        "{}/../shared/fixtures/github/webhooks/{event}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Points a fixture's repository and installation at the fake's repository.
pub fn retarget(payload: &mut Value, github: &FakeGitHub, owner: &str, name: &str, repo_id: u64) {
    let repo = &mut payload["repository"];
    repo["id"] = repo_id.into();
    repo["name"] = name.into();
    repo["full_name"] = format!("{owner}/{name}").into();
    repo["clone_url"] = github.clone_url(owner, name).into();
    repo["default_branch"] = "main".into();
    payload["installation"] = serde_json::json!({ "id": INSTALLATION, "node_id": "MDIz" });
}
