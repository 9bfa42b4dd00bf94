//! The end-to-end test DSL: `run_test(options, |t| async move { … })` starts the whole app —
//! the real router over HTTP, real workers, a fresh database of the chosen engine, the real
//! tools in the real jail — against a strict, stateful fake GitHub that also hosts the git
//! repositories.
//!
//! It applies a timeout, fails at once when a worker panics, and always tears down (the
//! database is dropped even when the test panics). What the app published (check runs) must
//! be consumed by an assertion (`t.expect_check_run(sha)`): teardown fails on anything no
//! assertion read, and on any request GitHub would have refused.
//!
//! ```ignore
//! run_test(Options::default(), |t| async move {
//!     let repo = t.repo("acme/widgets");
//!     let base = repo.commit("main", &[("a.py", "X = 1\n")]);
//!     let pr = repo.open_pr(1, &base, &[("b.py", "print(y)\n")]).await;
//!     let run = t.expect_check_run(&pr.head).await;
//!     assert_eq!(run.conclusion.as_deref(), Some("failure"));
//! })
//! .await;
//! ```

use super::db::TestDb;
use super::tools::tools_dir;
use crate::support::fake_slack::FakeSlack;
use crate::support::git_server::git;
use crate::support::{shared_app_key, CheckRun, FakeGitHub};
use flext_quality::analysis::jail::SandboxSetting;
use flext_quality::config::{AnalysisSettings, GitHubSettings, LogFormat, Settings};
use flext_quality::domain::status::JobState;
use flext_quality::jobs::worker::{run_worker, WorkerConfig};
use flext_quality::jobs::JobContext;
use flext_quality::server;
use flext_quality::store::{Dialect, Store};
use secrecy::SecretString;
use serde_json::Value;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const APP_ID: u64 = 4242;
pub const INSTALLATION: u64 = 77;
pub const SECRET: &str = "test-webhook-secret";
/// A rotated-out secret the app still accepts.
pub const OLD_SECRET: &str = "an-old-secret";
/// What the app signs session cookies with.
pub const SESSION_KEY: &str = "a test server's session key";

pub struct Options {
    pub dialect: Dialect,
    /// Workers started with the app (0: the test starts them with `t.start_workers`).
    pub workers: usize,
    pub lease: Duration,
    pub max_attempts: i64,
    /// The whole test's time limit.
    pub timeout: Duration,
    /// Changes to the settings the app starts with.
    pub settings: fn(&mut Settings),
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dialect: Dialect::Postgres,
            workers: 2,
            lease: Duration::from_secs(30),
            max_attempts: 3,
            timeout: Duration::from_secs(180),
            settings: |_| {},
        }
    }
}

impl Options {
    pub fn on(dialect: Dialect) -> Options {
        Options {
            dialect,
            ..Options::default()
        }
    }
}

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

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

/// Worker tasks whose panics end the test at once.
struct WorkerPool {
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
}

struct Inner {
    github: FakeGitHub,
    slack: FakeSlack,
    store: Store,
    url: String,
    http: reqwest::Client,
    settings: Settings,
    ctx: Arc<JobContext>,
    notify: Arc<tokio::sync::Notify>,
    lease: Duration,
    workers: tokio::sync::Mutex<Option<WorkerPool>>,
    panics: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<String>>,
    panic_tx: tokio::sync::mpsc::UnboundedSender<String>,
    server: tokio::task::JoinHandle<()>,
    db: Mutex<Option<TestDb>>,
    next_repo_id: AtomicU64,
    next_delivery: AtomicU64,
    _data: tempfile::TempDir,
}

/// The running app and what a test drives it with. Cheap to clone.
#[derive(Clone)]
pub struct Tester(Arc<Inner>);

/// Runs `body` against a fresh app; see the module documentation.
pub async fn run_test<F, Fut>(options: Options, body: F)
where
    F: FnOnce(Tester) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let timeout = options.timeout;
    let t = Tester::start(options).await;
    let work = tokio::spawn(body(t.clone()));
    let failure: Option<String> = tokio::select! {
        r = tokio::time::timeout(timeout, work) => match r {
            Ok(Ok(())) => None,
            Ok(Err(e)) if e.is_panic() => Some(panic_text(e.into_panic())),
            Ok(Err(e)) => Some(format!("the test body was cancelled: {e}")),
            Err(_) => Some(format!("the test did not finish within {timeout:?}")),
        },
        p = t.next_worker_panic() => Some(format!("a worker panicked: {p}")),
    };
    let leftovers = t.teardown(failure.is_none()).await;
    if let Some(f) = failure {
        panic!("{f}");
    }
    if let Err(problems) = leftovers {
        panic!("teardown: {problems}");
    }
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(a panic without a message)".into())
}

impl Tester {
    async fn start(options: Options) -> Tester {
        init_logs();
        let (private_pem, public_pem) = shared_app_key();
        let github = FakeGitHub::start(APP_ID, public_pem).await;
        let slack = FakeSlack::start().await;
        let db = TestDb::new(options.dialect).await;
        let data = tempfile::tempdir().unwrap();
        let mut settings = Settings {
            analysis: AnalysisSettings {
                tools_dir: tools_dir(),
                cache_dir: data.path().join("cache"),
                sandbox: SandboxSetting::Required,
                analysis_timeout_secs: 120,
                cores: flext_quality::analysis::cpu::available_cores(),
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
                    SecretString::from(OLD_SECRET.to_owned()),
                    SecretString::from(SECRET.to_owned()),
                ],
                api_url: github.url(),
                web_url: github.url(),
            },
            job_deadline_secs: 600,
            max_attempts: options.max_attempts,
            lease_secs: options.lease.as_secs().max(1),
            max_annotations: 1000,
            max_tree_bytes: 2 << 30,
            max_tree_entries: 200_000,
            slack_webhook_url: Some(SecretString::from(slack.webhook_url())),
            secret_key: Some(SecretString::from("a test server's secret key".to_owned())),
            reconcile_secs: 0,
            web: flext_quality::config::WebSettings {
                // Known, so that a test can make the session a GitHub sign-in would have.
                session_key: Some(SecretString::from(SESSION_KEY.to_owned())),
                ..Default::default()
            },
            shutdown_grace_secs: 5,
            metrics_token: None,
            event_hooks: Vec::new(),
            fly_app_name: None,
        };
        (options.settings)(&mut settings);
        let store = db.store.clone();
        let app = server::github_app(&settings).unwrap();
        let jail = server::jail(&settings.analysis, settings.analysis.sandbox).await;
        let engine = server::engine(&settings.analysis, jail.clone(), None);
        let ctx = server::job_context(&settings, store.clone(), app, engine);
        let notify = Arc::new(tokio::sync::Notify::new());
        let state = server::app_state(&settings, store.clone(), notify.clone());
        *state.jail.write().unwrap() = Some(jail.state().clone());
        let router = flext_quality::web::router(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        github.set_hook_target(&format!("{url}/webhooks/github"), SECRET);
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        let (panic_tx, panics) = tokio::sync::mpsc::unbounded_channel();
        let t = Tester(Arc::new(Inner {
            github,
            slack,
            store,
            url,
            http: reqwest::Client::new(),
            settings,
            ctx,
            notify,
            lease: options.lease,
            workers: tokio::sync::Mutex::new(None),
            panics: tokio::sync::Mutex::new(panics),
            panic_tx,
            server,
            db: Mutex::new(Some(db)),
            next_repo_id: AtomicU64::new(1001),
            next_delivery: AtomicU64::new(1),
            _data: data,
        }));
        if options.workers > 0 {
            t.start_workers(options.workers).await;
        }
        t
    }

    pub fn github(&self) -> &FakeGitHub {
        &self.0.github
    }

    pub fn slack(&self) -> &FakeSlack {
        &self.0.slack
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }

    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    pub fn ctx(&self) -> &Arc<JobContext> {
        &self.0.ctx
    }

    pub fn url(&self) -> &str {
        &self.0.url
    }

    /// A new one-time sign-in link (a local admin), as a full URL of the running server.
    pub async fn sign_in_link(&self) -> String {
        let path = flext_quality::web::signin::new_link(&self.0.store)
            .await
            .expect("a sign-in link");
        format!("{}{path}", self.0.url)
    }

    /// A `Cookie` header of a session of `login` who signed in with GitHub seeing
    /// `installations` — what the OAuth sign-in would have set (the fake GitHub has no OAuth).
    pub async fn session_cookie(&self, login: &str, installations: &[i64]) -> String {
        self.0
            .store
            .sign_in(login, installations)
            .await
            .expect("recording the sign-in");
        let auth = flext_quality::web::auth::Auth::new(&self.0.settings.web, None);
        let set_cookie = auth.session_cookie(login, flext_quality::store::now_ms());
        set_cookie.split(';').next().expect("name=value").to_owned()
    }

    /// The test database's URL, for starting the real binary on it.
    pub fn database_url(&self) -> String {
        self.0
            .db
            .lock()
            .unwrap()
            .as_ref()
            .map(|d| d.url.clone())
            .expect("the database exists until teardown")
    }

    /// The test database's name, while it exists (PostgreSQL only).
    pub fn database_name(&self) -> Option<String> {
        self.0.db.lock().unwrap().as_ref().and_then(|d| d.name())
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.0.http
    }

    /// Starts `count` in-process workers (once).
    pub async fn start_workers(&self, count: usize) {
        let mut workers = self.0.workers.lock().await;
        assert!(workers.is_none(), "workers already running");
        let (shutdown, rx) = tokio::sync::watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..count {
            let config = WorkerConfig {
                name: format!("test-worker-{i}"),
                lease: self.0.lease,
                idle_poll: Duration::from_millis(200),
                abandon: None,
            };
            tasks.spawn(run_worker(
                self.0.ctx.clone(),
                config,
                self.0.notify.clone(),
                rx.clone(),
            ));
        }
        // Watch for a worker that ends before shutdown: that is a panic.
        let (watched, panic_tx) = (shutdown.subscribe(), self.0.panic_tx.clone());
        let mut set = tasks;
        let monitor = async move {
            while let Some(done) = set.join_next().await {
                if let Err(e) = done {
                    if e.is_panic() && !*watched.borrow() {
                        let _ = panic_tx.send(panic_text(e.into_panic()));
                    }
                }
            }
        };
        let mut monitor_set = tokio::task::JoinSet::new();
        monitor_set.spawn(monitor);
        *workers = Some(WorkerPool {
            shutdown,
            tasks: monitor_set,
        });
    }

    async fn stop_workers(&self) {
        if let Some(mut pool) = self.0.workers.lock().await.take() {
            let _ = pool.shutdown.send(true);
            while pool.tasks.join_next().await.is_some() {}
        }
    }

    async fn next_worker_panic(&self) -> String {
        let mut rx = self.0.panics.lock().await;
        match rx.recv().await {
            Some(p) => p,
            None => std::future::pending().await,
        }
    }

    /// A repository hosted by the fake GitHub and installed for the app.
    pub fn repo(&self, full_name: &str) -> Repo {
        let (owner, name) = full_name.split_once('/').expect("owner/name");
        let id = self.0.next_repo_id.fetch_add(1, Ordering::SeqCst);
        self.0
            .github
            .add_installation(INSTALLATION, &[(owner, name, id)]);
        let bare = self.0.github.create_repo(owner, name);
        Repo {
            t: self.clone(),
            owner: owner.to_owned(),
            name: name.to_owned(),
            id,
            bare,
        }
    }

    /// POSTs a webhook signed with the current secret, under a fresh delivery id.
    pub async fn webhook(&self, event: &str, payload: &Value) -> (u16, String) {
        let n = self.0.next_delivery.fetch_add(1, Ordering::SeqCst);
        self.webhook_as(event, &format!("delivery-{n}"), payload)
            .await
    }

    /// POSTs a webhook with a given delivery id (to test redeliveries).
    pub async fn webhook_as(&self, event: &str, delivery: &str, payload: &Value) -> (u16, String) {
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

    /// POSTs raw bytes with the given headers to the webhook endpoint.
    pub async fn post(&self, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
        let mut request = self
            .0
            .http
            .post(format!("{}/webhooks/github", self.0.url))
            .header("Content-Type", "application/json");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.body(body).send().await.expect("the server answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// Waits for the completed check run on `sha` and consumes it (see the module docs).
    pub async fn expect_check_run(&self, sha: &str) -> CheckRun {
        let run = self.wait_for(sha, 1).await.remove(0);
        self.0.github.consume_check_run(run.id).expect("it exists")
    }

    /// Waits until `count` check runs on `sha` are completed; consumes and returns them, oldest
    /// first.
    pub async fn expect_check_runs(&self, sha: &str, count: usize) -> Vec<CheckRun> {
        self.wait_for(sha, count)
            .await
            .into_iter()
            .map(|r| self.0.github.consume_check_run(r.id).expect("it exists"))
            .collect()
    }

    async fn wait_for(&self, sha: &str, count: usize) -> Vec<CheckRun> {
        let started = Instant::now();
        loop {
            let runs = self.0.github.check_runs_for(sha);
            let done: Vec<CheckRun> = runs
                .iter()
                .filter(|r| r.status == "completed")
                .cloned()
                .collect();
            if done.len() >= count {
                // Let the publish job that completed the run finish before the test goes on.
                self.wait_idle().await;
                return self
                    .0
                    .github
                    .check_runs_for(sha)
                    .into_iter()
                    .filter(|r| r.status == "completed")
                    .take(count)
                    .collect();
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no {count} completed check run(s) on {sha} after 120 s: {runs:?}"
            );
            // Retry back-offs are the app's to choose, not the test's to sit through.
            self.0.store.make_all_runnable_now().await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until no job is queued or running (skipping retry back-offs).
    pub async fn wait_idle(&self) {
        let started = Instant::now();
        loop {
            let store = &self.0.store;
            let busy = store.count_jobs(JobState::Queued).await.unwrap()
                + store.count_jobs(JobState::Running).await.unwrap();
            if busy == 0 {
                return;
            }
            store.make_all_runnable_now().await.unwrap();
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "jobs still busy after 120 s"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Stops everything; `Err` lists what the app published that no assertion consumed.
    async fn teardown(&self, check: bool) -> Result<(), String> {
        self.stop_workers().await;
        self.0.server.abort();
        let db = self.0.db.lock().unwrap().take();
        if let Some(db) = db {
            db.cleanup().await;
        }
        let mut problems = Vec::new();
        let slack = self.0.slack.audit();
        if check {
            problems.extend(slack);
            problems.extend(self.0.github.unconsumed());
            problems.extend(
                self.0
                    .github
                    .take_violations()
                    .into_iter()
                    .map(|v| format!("GitHub would refuse: {v}")),
            );
        }
        self.0.github.ignore_unconsumed();
        let _ = self.0.github.take_violations();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n  "))
        }
    }
}

/// A repository of the fake GitHub.
#[derive(Clone)]
pub struct Repo {
    t: Tester,
    pub owner: String,
    pub name: String,
    pub id: u64,
    pub bare: PathBuf,
}

/// A pull request opened with [`Repo::open_pr`].
#[derive(Clone)]
pub struct Pr {
    repo: Repo,
    pub number: u64,
    pub head: String,
    pub base: String,
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

impl Repo {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    pub fn clone_url(&self) -> String {
        self.t.0.github.clone_url(&self.owner, &self.name)
    }

    /// Commits `files` on `branch` (files not listed keep their content); returns the SHA.
    pub fn commit(&self, branch: &str, files: &[(&str, &str)]) -> String {
        self.t
            .0
            .github
            .commit(&self.owner, &self.name, branch, files, "change")
    }

    /// Points a branch or ref at a commit.
    pub fn set_ref(&self, name: &str, sha: &str) {
        git(&self.bare, &["update-ref", name, sha]);
    }

    /// A fixture payload pointed at this repository.
    pub fn payload(&self, event: &str, file: &str) -> Value {
        let mut p = fixture(event, file);
        let repo = &mut p["repository"];
        repo["id"] = self.id.into();
        repo["name"] = self.name.clone().into();
        repo["full_name"] = self.full_name().into();
        repo["clone_url"] = self.clone_url().into();
        repo["default_branch"] = "main".into();
        p["installation"] = serde_json::json!({ "id": INSTALLATION, "node_id": "MDIz" });
        p
    }

    /// The payload of a push of `after` (replacing `before`) to `main`.
    pub fn push_payload(&self, before: Option<&str>, after: &str) -> Value {
        let mut p = self.payload("push", "with-new-branch.payload.json");
        p["ref"] = "refs/heads/main".into();
        p["before"] = before.map_or_else(|| "0".repeat(40), str::to_owned).into();
        p["after"] = after.into();
        p["created"] = before.is_none().into();
        p["deleted"] = false.into();
        p
    }

    /// Sends the push webhook of `after` (replacing `before`) to `main`.
    pub async fn push(&self, before: Option<&str>, after: &str) {
        let (status, body) = self
            .t
            .webhook("push", &self.push_payload(before, after))
            .await;
        assert_eq!(status, 202, "{body}");
    }

    /// The payload of a pull request `action` from `feature` at `head` into `main` at `base`.
    pub fn pr_payload(&self, action: &str, number: u64, head: &str, base: &str) -> Value {
        let mut p = self.payload("pull_request", "opened.payload.json");
        p["action"] = action.into();
        p["number"] = number.into();
        let pr = &mut p["pull_request"];
        pr["number"] = number.into();
        pr["head"]["sha"] = head.into();
        pr["head"]["ref"] = "feature".into();
        pr["base"]["sha"] = base.into();
        pr["base"]["ref"] = "main".into();
        p
    }

    /// Commits `files` on a `feature` branch made from `base`, makes it pull request `number`
    /// and sends the `opened` webhook.
    pub async fn open_pr(&self, number: u64, base: &str, files: &[(&str, &str)]) -> Pr {
        self.set_ref("refs/heads/feature", base);
        let head = self.commit("feature", files);
        self.set_ref(&format!("refs/pull/{number}/head"), &head);
        self.t
            .github()
            .set_pull(&self.owner, &self.name, number, &head, "main", base);
        let (status, body) = self
            .t
            .webhook(
                "pull_request",
                &self.pr_payload("opened", number, &head, base),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        Pr {
            repo: self.clone(),
            number,
            head,
            base: base.to_owned(),
        }
    }
}

impl Pr {
    /// Pushes `files` onto the pull request and sends `synchronize`; returns the new head.
    pub async fn push(&mut self, files: &[(&str, &str)]) -> String {
        let head = self.repo.commit("feature", files);
        self.repo
            .set_ref(&format!("refs/pull/{}/head", self.number), &head);
        self.repo.t.github().set_pull(
            &self.repo.owner,
            &self.repo.name,
            self.number,
            &head,
            "main",
            &self.base,
        );
        self.head = head.clone();
        let payload = self
            .repo
            .pr_payload("synchronize", self.number, &head, &self.base);
        let (status, body) = self.repo.t.webhook("pull_request", &payload).await;
        assert_eq!(status, 202, "{body}");
        head
    }

    pub fn repo(&self) -> &Repo {
        &self.repo
    }
}

/// Defines a test per database engine that runs `body(Options)`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::$name($crate::harness::dsl::Options::on(flext_quality::store::Dialect::Postgres)).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$name($crate::harness::dsl::Options::on(flext_quality::store::Dialect::Sqlite)).await;
                }
            }
        )*
    };
}
