//! A strict, stateful fake of the parts of GitHub the app talks to: app JWT and installation
//! token auth, check runs, issue comments, and git hosting over smart HTTP.
//!
//! Strict means a request GitHub would refuse fails the test: every body is validated against
//! GitHub's OpenAPI description (plus prose-documented limits), unknown routes are refused, and
//! each such request is recorded as a *violation*. Dropping the fake panics if violations were
//! not taken with [`FakeGitHub::take_violations`], or if a check run was created that no
//! assertion consumed ([`FakeGitHub::consume_check_run`]; merely listing does not count), so a
//! test cannot pass while the app publishes something nobody checked.
//! Malformed JSON is 400 and a path GitHub does not have is 404, both violations; an operation
//! GitHub has but this fake does not implement is 501 and a violation, so gaps show up loudly.
//!
//! Check-run rules enforced beyond the schema (the real API's documented behaviour):
//! a `conclusion` sets `status` to `completed` (and `completed_at` to now if absent);
//! `status: completed` or `completed_at` without a `conclusion` is 422; `stale` cannot be set;
//! a completed run cannot go back to `queued`/`in_progress` (422; a new conclusion is allowed);
//! `output.annotations` are appended on every create/update; `head_sha` must be a full SHA,
//! and must exist when the repository is hosted by this fake.

use super::app_key::unix_now;
use super::auth::{access_token, git_request};
use super::checks;
use super::git_server;
use super::openapi::{self, Operation};
use super::routing::{parse_query, percent_decode, required_permission};
use axum::body::Body;
use axum::extract::{Request, State as AxState};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Router;
use openssl::pkey::{PKey, Public};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

pub use super::checks::{Annotation, CheckRun, StatusChange};
pub use super::conversation::IssueComment;
use super::conversation::{self, Conversation};
use super::hooks::{self, Hooks};

/// One API request as the fake answered it (git traffic is counted separately).
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// The OpenAPI `operationId`, when the path is one GitHub has.
    pub operation: Option<String>,
    pub status: u16,
    pub at: SystemTime,
}

#[derive(Debug, Clone)]
pub(crate) struct RepoRef {
    pub(crate) owner: String,
    pub(crate) name: String,
    pub(crate) id: u64,
}

pub(crate) struct Token {
    pub(crate) installation_id: u64,
    /// Lower-cased `owner/name`s the token may access.
    pub(crate) repos: Vec<String>,
    pub(crate) expires_at: i64,
    /// Permission name to level (`read`/`write`).
    pub(crate) permissions: BTreeMap<String, String>,
}

struct Fault {
    target: String,
    status: u16,
    remaining: usize,
    headers: Vec<(String, String)>,
}

pub(crate) struct State {
    pub(crate) app_id: u64,
    pub(crate) public_key: PKey<Public>,
    pub(crate) base_url: String,
    pub(crate) git_root: PathBuf,
    pub(crate) installations: BTreeMap<u64, Vec<RepoRef>>,
    pub(crate) tokens: HashMap<String, Token>,
    pub(crate) tokens_issued: usize,
    /// Bodies of installation token requests, oldest first.
    pub(crate) token_requests: Vec<Value>,
    pub(crate) check_runs: BTreeMap<u64, CheckRun>,
    pub(crate) next_check_run_id: u64,
    consumed: HashSet<u64>,
    ignore_unconsumed: bool,
    /// Comments and permissions (see `conversation.rs`).
    pub(crate) talk: Conversation,
    /// The App's webhook deliveries (see `hooks.rs`).
    pub(crate) hooks: Hooks,
    /// Sign-in with GitHub (see `oauth.rs`).
    pub(crate) oauth: super::oauth::OAuth,
    /// Apps created from manifests (see `manifest.rs`).
    pub(crate) manifests: super::manifest::Manifests,
    violations: Vec<String>,
    requests: Vec<RecordedRequest>,
    pub(crate) git_requests: usize,
    faults: Vec<Fault>,
    writes_in_flight: HashMap<u64, usize>,
    max_writes_in_flight: HashMap<u64, usize>,
    slow_writes: Option<std::time::Duration>,
    /// GitHub having a bad time (see `storm.rs`).
    pub(crate) storm: super::storm::StormState,
}

pub(crate) type Shared = Arc<Mutex<State>>;

/// The fake server. Not `Clone`: its `Drop` is the end-of-test audit.
pub struct FakeGitHub {
    state: Shared,
    url: String,
    server: tokio::task::JoinHandle<()>,
    _git_root: tempfile::TempDir,
}

pub(crate) fn lock(state: &Shared) -> MutexGuard<'_, State> {
    // A panicking test must still be able to inspect the fake (and drop it).
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeGitHub {
    /// Start a fake on `127.0.0.1:<random port>` that trusts JWTs signed for `app_id` with the
    /// private half of `app_public_key_pem`.
    pub async fn start(app_id: u64, app_public_key_pem: &str) -> FakeGitHub {
        let public_key =
            PKey::public_key_from_pem(app_public_key_pem.as_bytes()).expect("app public key PEM");
        // Parse the 13 MB description off the async threads, once per process.
        tokio::task::spawn_blocking(|| {
            openapi::spec();
        })
        .await
        .expect("load OpenAPI description");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let git_root = tempfile::tempdir().expect("git root tempdir");
        let state = Arc::new(Mutex::new(State {
            app_id,
            public_key,
            base_url: url.clone(),
            git_root: git_root.path().to_path_buf(),
            installations: BTreeMap::new(),
            tokens: HashMap::new(),
            tokens_issued: 0,
            token_requests: Vec::new(),
            check_runs: BTreeMap::new(),
            next_check_run_id: 4_000_000_001,
            consumed: HashSet::new(),
            ignore_unconsumed: false,
            hooks: Hooks::default(),
            oauth: Default::default(),
            manifests: Default::default(),
            talk: Conversation::default(),
            violations: Vec::new(),
            requests: Vec::new(),
            git_requests: 0,
            writes_in_flight: HashMap::new(),
            max_writes_in_flight: HashMap::new(),
            slow_writes: None,
            faults: Vec::new(),
            storm: Default::default(),
        }));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake GitHub server");
        });
        FakeGitHub {
            state,
            url,
            server,
            _git_root: git_root,
        }
    }

    /// Gives the App an OAuth client (id, secret, registered callback URL).
    pub fn set_oauth_client(&self, id: &str, secret: &str, callback: &str) {
        self.st().oauth.client = Some((id.into(), secret.into(), callback.into()));
    }

    /// The person who approves the next sign-in, and the installations they can see.
    pub fn sign_in_as(&self, login: &str, installations: &[u64]) {
        self.st().oauth.person = Some((login.into(), installations.to_vec()));
    }

    /// What the OAuth endpoints refused, oldest first.
    pub fn oauth_refusals(&self) -> Vec<String> {
        self.st().oauth.refused.clone()
    }

    /// The manifests browsers posted to create an App, oldest first (valid or not).
    pub fn manifests(&self) -> Vec<Value> {
        self.st().manifests.received.clone()
    }

    /// The Apps created from manifests, oldest first.
    pub fn created_apps(&self) -> Vec<super::manifest::CreatedApp> {
        self.st().manifests.created.clone()
    }

    /// What the manifest flow refused (a manifest, an unknown or used code), oldest first.
    pub fn manifest_refusals(&self) -> Vec<String> {
        self.st().manifests.refused.clone()
    }

    /// Codes swapped for an App's settings so far.
    pub fn manifest_conversions(&self) -> usize {
        self.st().manifests.converted
    }

    /// Base URL (`http://127.0.0.1:PORT`), to be used as `GITHUB_API_URL`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    fn st(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Register an installation with access to `repos` as `(owner, name, repository id)`.
    /// Installs the App on `repos` (added to the installation's repositories).
    pub fn add_installation(&self, installation_id: u64, repos: &[(&str, &str, u64)]) {
        let repos: Vec<RepoRef> = repos
            .iter()
            .map(|(o, n, id)| RepoRef {
                owner: o.to_string(),
                name: n.to_string(),
                id: *id,
            })
            .collect();
        let mut st = self.st();
        let listed = st.installations.entry(installation_id).or_default();
        for r in repos {
            let r: RepoRef = r;
            if !listed.iter().any(|l| l.id == r.id) {
                listed.push(r);
            }
        }
    }

    /// Create an empty bare repository served at [`FakeGitHub::clone_url`].
    pub fn create_repo(&self, owner: &str, name: &str) -> PathBuf {
        git_server::init_bare(&self.st().git_root, owner, name)
    }

    /// On-disk path of a hosted bare repository.
    pub fn repo_path(&self, owner: &str, name: &str) -> PathBuf {
        self.st().git_root.join(owner).join(format!("{name}.git"))
    }

    /// `{url}/git/{owner}/{name}.git`; needs a token as the Basic-auth password.
    pub fn clone_url(&self, owner: &str, name: &str) -> String {
        format!("{}/git/{owner}/{name}.git", self.url)
    }

    /// Commit `files` onto `branch` of a hosted repository (directly on disk); returns the SHA.
    pub fn commit(
        &self,
        owner: &str,
        name: &str,
        branch: &str,
        files: &[(&str, &str)],
        message: &str,
    ) -> String {
        git_server::commit_files(&self.repo_path(owner, name), branch, files, message)
    }

    /// Make every token issued so far invalid, as if an hour had passed.
    pub fn expire_all_tokens(&self) {
        let now = unix_now();
        for t in self.st().tokens.values_mut() {
            t.expires_at = now - 1;
        }
    }

    pub fn tokens_issued(&self) -> usize {
        self.st().tokens_issued
    }

    /// The bodies of the installation token requests so far (repository and permission
    /// scoping), oldest first.
    pub fn token_requests(&self) -> Vec<Value> {
        self.st().token_requests.clone()
    }

    /// Take the recorded violations; the fake will no longer complain about them on drop.
    pub fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut self.st().violations)
    }

    /// Panic listing any violations recorded so far.
    pub fn assert_no_violations(&self) {
        let v = self.st().violations.clone();
        assert!(v.is_empty(), "GitHub API violations:\n  {}", v.join("\n  "));
    }

    /// All check runs, oldest first (listing consumes nothing).
    pub fn check_runs(&self) -> Vec<CheckRun> {
        self.st().check_runs.values().cloned().collect()
    }

    /// One check run by id.
    pub fn check_run(&self, id: u64) -> Option<CheckRun> {
        self.st().check_runs.get(&id).cloned()
    }

    /// The check runs for a head SHA, oldest first.
    pub fn check_runs_for(&self, head_sha: &str) -> Vec<CheckRun> {
        self.st()
            .check_runs
            .values()
            .filter(|r| r.head_sha == head_sha)
            .cloned()
            .collect()
    }

    /// Marks a check run as checked by the test; returns it as it is now.
    pub fn consume_check_run(&self, id: u64) -> Option<CheckRun> {
        let mut st = self.st();
        let run = st.check_runs.get(&id).cloned();
        if run.is_some() {
            st.consumed.insert(id);
        }
        run
    }

    /// Check runs and comments the app created (or changed) that no assertion consumed, as
    /// one line each.
    pub fn unconsumed(&self) -> Vec<String> {
        let st = self.st();
        let mut lines: Vec<String> = st
            .check_runs
            .values()
            .filter(|r| !st.consumed.contains(&r.id))
            .map(|r| {
                format!(
                    "check run #{} {:?} on {} ({}, {:?}): {:?}",
                    r.id, r.name, r.head_sha, r.status, r.conclusion, r.title
                )
            })
            .collect();
        lines.extend(st.talk.unconsumed());
        lines
    }

    /// Do not panic on drop about check runs no assertion consumed.
    pub fn ignore_unconsumed(&self) {
        self.st().ignore_unconsumed = true;
    }

    /// Comments on an issue or pull request, oldest first (listing consumes nothing).
    pub fn issue_comments(&self, owner: &str, repo: &str, issue_number: u64) -> Vec<IssueComment> {
        self.st()
            .talk
            .comments
            .values()
            .filter(|c| c.is_on(owner, repo, issue_number))
            .cloned()
            .collect()
    }

    /// Seed a comment written by someone else (e.g. a human); returns its id.
    pub fn add_issue_comment(
        &self,
        owner: &str,
        repo: &str,
        issue_number: u64,
        user: &str,
        body: &str,
    ) -> u64 {
        self.st().talk.insert(owner, repo, issue_number, user, body)
    }

    /// Marks a comment as checked by the test as it is now; returns it.
    pub fn consume_comment(&self, id: u64) -> Option<IssueComment> {
        let mut st = self.st();
        let c = st.talk.comments.get(&id).cloned()?;
        st.talk.consumed.insert(id, c.revision);
        Some(c)
    }

    /// Records pull request `number` (its head and base), as GitHub's API shows it.
    pub fn set_pull(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        head: &str,
        base_ref: &str,
        base: &str,
    ) {
        self.st().talk.pulls.insert(
            (format!("{owner}/{repo}").to_lowercase(), number),
            conversation::Pull {
                head: head.to_string(),
                base_ref: base_ref.to_string(),
                base: base.to_string(),
            },
        );
    }

    /// Gives `user` a permission on a repository (`admin`, `maintain`, `write`, `read`…).
    pub fn set_permission(&self, owner: &str, repo: &str, user: &str, permission: &str) {
        self.st().talk.permissions.insert(
            (
                format!("{owner}/{repo}").to_lowercase(),
                user.to_lowercase(),
            ),
            permission.to_string(),
        );
    }

    /// API requests answered so far (git requests excluded).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.st().requests.clone()
    }

    pub fn api_request_count(&self) -> usize {
        self.st().requests.len()
    }

    pub fn git_request_count(&self) -> usize {
        self.st().git_requests
    }

    /// Where redeliveries are sent, and the secret that signs them.
    pub fn set_hook_target(&self, url: &str, secret: &str) {
        self.st().hooks.target = Some((url.to_owned(), secret.to_owned()));
    }

    /// Records a delivery GitHub made of `payload` (the app answered `status_code`); its id.
    pub fn record_delivery(
        &self,
        event: &str,
        guid: &str,
        payload: &Value,
        status_code: u16,
    ) -> u64 {
        self.st()
            .hooks
            .record(event, payload, status_code, guid, false)
    }

    /// The delivery ids GitHub was asked to redeliver, in order.
    pub fn redelivery_requests(&self) -> Vec<u64> {
        self.st().hooks.redeliveries.clone()
    }

    /// Content-creating requests of an installation take `delay` each (to see overlaps).
    pub fn slow_writes(&self, delay: std::time::Duration) {
        self.st().slow_writes = Some(delay);
    }

    /// The most content-creating requests of `installation` ever in flight at once.
    pub fn max_writes_in_flight(&self, installation: u64) -> usize {
        self.st()
            .max_writes_in_flight
            .get(&installation)
            .copied()
            .unwrap_or(0)
    }

    /// Starts a storm (see `storm.rs`); it ends by itself after `storm.lasts`.
    pub fn start_storm(&self, storm: super::storm::Storm) {
        self.st().storm.start(storm);
    }

    /// Ends the storm now (rate limits already answered still run their course).
    pub fn stop_storm(&self) {
        self.st().storm.stop();
    }

    /// Whether the storm still rages.
    pub fn storm_raging(&self) -> bool {
        self.st().storm.raging()
    }

    /// What the storm did so far, and how the app took it.
    pub fn storm_report(&self) -> super::storm::StormReport {
        self.st().storm.report()
    }

    /// Answer the next `count` requests matching `target` with `status` and extra `headers`.
    /// `target` is a path prefix (starts with `/`, also matches `/git/...`) or an OpenAPI
    /// operationId such as `checks/update`.
    pub fn fail_next(&self, target: &str, status: u16, count: usize, headers: &[(&str, &str)]) {
        self.st().faults.push(Fault {
            target: target.to_string(),
            status,
            remaining: count,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.server.abort();
        if std::thread::panicking() {
            return;
        }
        let st = self.st();
        let mut problems = Vec::new();
        if !st.violations.is_empty() {
            problems.push(format!(
                "{} GitHub API violation(s) not taken by the test:\n  {}",
                st.violations.len(),
                st.violations.join("\n  ")
            ));
        }
        if !st.ignore_unconsumed {
            let mut unconsumed: Vec<String> = st
                .check_runs
                .values()
                .filter(|r| !st.consumed.contains(&r.id))
                .map(|r| format!("#{} {:?} on {} ({})", r.id, r.name, r.head_sha, r.status))
                .collect();
            unconsumed.extend(st.talk.unconsumed());
            if !unconsumed.is_empty() {
                problems.push(format!(
                    "check run(s) or comment(s) the app published that no assertion consumed (consume_check_run(), consume_comment(), or ignore_unconsumed()):\n  {}",
                    unconsumed.join("\n  ")
                ));
            }
        }
        drop(st);
        if !problems.is_empty() {
            panic!("FakeGitHub teardown:\n{}", problems.join("\n"));
        }
    }
}

impl State {
    pub(crate) fn violation(&mut self, method: &str, path: &str, reason: &str) {
        self.violations.push(format!("{method} {path}: {reason}"));
    }

    pub(crate) fn take_fault(&mut self, path: &str, op: Option<&Operation>) -> Option<Response> {
        let fault = self.faults.iter_mut().find(|f| {
            f.remaining > 0
                && if f.target.starts_with('/') {
                    path.starts_with(&f.target)
                } else {
                    op.is_some_and(|o| o.operation_id == f.target)
                }
        })?;
        fault.remaining -= 1;
        let message = match fault.status {
            403 | 429 => "API rate limit exceeded for installation.",
            502 => "Server Error",
            _ => "Injected failure",
        };
        let mut resp = gh_error(fault.status, message, "https://docs.github.com/rest");
        for (k, v) in &fault.headers {
            resp.headers_mut().insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
                v.parse().expect("header value"),
            );
        }
        self.faults.retain(|f| f.remaining > 0);
        Some(resp)
    }
}

/// A GitHub-style error body.
pub(crate) fn gh_error(status: u16, message: &str, documentation_url: &str) -> Response {
    json_response(
        status,
        &json!({"message": message, "documentation_url": documentation_url, "status": status.to_string()}),
    )
}

pub(crate) fn json_response(status: u16, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .header("x-github-media-type", "github.v3; format=json")
        .body(Body::from(body.to_string()))
        .expect("valid response")
}

async fn handle(AxState(state): AxState<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let Ok(body) = axum::body::to_bytes(body, 100 << 20).await else {
        return gh_error(
            413,
            "Request body too large",
            "https://docs.github.com/rest",
        );
    };
    if path.starts_with("/git/") {
        return git_request(&state, &method, &path, &query, &parts.headers, body).await;
    }
    let web = super::oauth::route(&state, &method, &path, &query, &parts.headers, &body)
        .or_else(|| super::manifest::route(&state, &method, &path, &query, &body));
    if let Some(resp) = web {
        lock(&state).requests.push(RecordedRequest {
            method,
            path,
            query,
            operation: None,
            status: resp.status().as_u16(),
            at: SystemTime::now(),
        });
        return resp;
    }
    let op = openapi::spec().find(&method, &path);
    let verdict = super::storm::before(
        &mut lock(&state),
        &method,
        &path,
        &parts.headers,
        op.map(|o| o.operation_id.as_str()),
        &body,
    );
    if let super::storm::Verdict::Answer(resp) = verdict {
        lock(&state).requests.push(RecordedRequest {
            method,
            path,
            query,
            operation: op.map(|o| o.operation_id.clone()),
            status: resp.status().as_u16(),
            at: SystemTime::now(),
        });
        return resp;
    }
    // Content-creating requests of one installation in flight at once (an integration should
    // send them one at a time); a test can make them slow to see overlaps.
    let writing = method != "GET" && path.starts_with("/repos/");
    let installation = writing
        .then(|| {
            let st = lock(&state);
            parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("token "))
                .and_then(|t| st.tokens.get(t))
                .map(|t| t.installation_id)
        })
        .flatten();
    if let Some(inst) = installation {
        let (delay, now) = {
            let mut st = lock(&state);
            let n = st.writes_in_flight.entry(inst).or_insert(0);
            *n += 1;
            let now = *n;
            let max = st.max_writes_in_flight.entry(inst).or_insert(0);
            *max = (*max).max(now);
            (st.slow_writes, now)
        };
        let _ = now;
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
    }
    let resp = api_request(
        &mut lock(&state),
        &state,
        &method,
        &path,
        &query,
        &parts.headers,
        &body,
        op,
    );
    if let Some(inst) = installation {
        if let Some(n) = lock(&state).writes_in_flight.get_mut(&inst) {
            *n -= 1;
        }
    }
    let resp = match verdict {
        super::storm::Verdict::LoseAnswer if resp.status().is_success() => {
            lock(&state).storm.lose(&method, &path)
        }
        _ => resp,
    };
    lock(&state).requests.push(RecordedRequest {
        method,
        path,
        query,
        operation: op.map(|o| o.operation_id.clone()),
        status: resp.status().as_u16(),
        at: SystemTime::now(),
    });
    resp
}

#[allow(clippy::too_many_arguments)]
fn api_request(
    st: &mut State,
    shared: &Shared,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    raw: &[u8],
    op: Option<&Operation>,
) -> Response {
    if let Some(r) = st.take_fault(path, op) {
        return r;
    }
    let Some(op) = op else {
        st.violation(
            method,
            path,
            "no such operation in GitHub's REST API description",
        );
        return gh_error(404, "Not Found", "https://docs.github.com/rest");
    };
    let doc = op.documentation_url.as_str();
    // Validate first so a bad body is recorded even when auth fails, but let auth errors win
    // in the response, as on GitHub.
    let body: Option<Value>;
    let invalid = if raw.is_empty() {
        body = None;
        let errors = openapi::spec().validate(op, None);
        (!errors.is_empty()).then(|| {
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
    } else {
        match serde_json::from_slice::<Value>(raw) {
            Ok(v) => {
                let errors = openapi::spec().validate(op, Some(&v));
                body = Some(v);
                (!errors.is_empty()).then(|| {
                    errors
                        .iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            }
            Err(e) => {
                st.violation(method, path, &format!("malformed JSON body: {e}"));
                return gh_error(400, "Problems parsing JSON", doc);
            }
        }
    };
    if let Some(reason) = &invalid {
        st.violation(method, path, &format!("({}) {reason}", op.operation_id));
    }
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(|s| percent_decode(s, false))
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    // The manifest code is the credential: GitHub wants no authentication here.
    if let ["app-manifests", code, "conversions"] = segs[..] {
        if method == "POST" && invalid.is_none() {
            return super::manifest::convert(st, code, op, doc);
        }
    }
    let app_auth =
        segs.first() == Some(&"app") || matches!(segs[..], ["repos", _, _, "installation"]);
    if app_auth {
        if let Err(msg) = st.verify_jwt(headers) {
            return gh_error(401, &msg, doc);
        }
    } else {
        let repo = match segs[..] {
            ["repos", owner, repo, ..] => Some((owner, repo)),
            _ => None,
        };
        let needs = required_permission(method, &segs);
        if let Err((status, msg)) = st.installation_auth(headers, repo, needs) {
            return gh_error(status, msg, doc);
        }
    }
    if let Some(reason) = invalid {
        return gh_error(422, &format!("Invalid request.\n\n{reason}"), doc);
    }
    let body = body.unwrap_or(Value::Null);
    let q = parse_query(query);
    let resp = match (method, &segs[..]) {
        ("GET", ["app"]) => Some(json_response(
            200,
            &json!({"id": st.app_id, "slug": "flext-quality", "name": "flext-quality"}),
        )),
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            Some(access_token(st, id, &body, doc))
        }
        ("GET", ["repos", owner, repo, "installation"]) => Some(match st.repo_ref(owner, repo) {
            Some((inst, _)) => json_response(
                200,
                &json!({"id": inst, "app_id": st.app_id, "repository_selection": "selected"}),
            ),
            None => gh_error(404, "Not Found", doc),
        }),
        _ => checks::route(st, method, &segs, &q, &body, doc)
            .or_else(|| conversation::route(st, method, &segs, &q, &body, doc))
            .or_else(|| hooks::route(st, shared, method, &segs, &q, doc)),
    };
    resp.unwrap_or_else(|| {
        st.violation(
            method,
            path,
            &format!(
                "{} exists on GitHub but the fake does not implement it",
                op.operation_id
            ),
        );
        gh_error(501, "Not implemented by the fake GitHub", doc)
    })
}
