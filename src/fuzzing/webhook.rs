//! Webhook ingress: deliveries as anyone on the internet could send them to
//! `POST /webhooks/github`, and the real router (with a real database) to send them to.
//!
//! A delivery starts from a seed payload (GitHub's examples when the caller has them, and a
//! few of our own) and is changed structurally (a field replaced by an odd value, removed,
//! or given NUL bytes, huge numbers, deep nesting), byte by byte, or replaced by random bytes
//! or random JSON; its headers are real or odd event names, fresh, repeated or malformed
//! delivery ids, and signatures that are valid, missing, made with another secret, for
//! another body, malformed or doubled.
//!
//! What every delivery must get: a 2xx, or a 4xx with a one-line reason; never a 5xx (the
//! database is up) and never a panic.

use super::{mutate_bytes, odd_number, odd_text, odd_value, Entropy};
use crate::config::{AnalysisSettings, GitHubSettings, LogFormat, Settings, WebSettings};
use crate::github::signature::sign;
use crate::store::Store;
use anyhow::{Context, Result};
use axum::body::Body;
use axum::http::Request;
use secrecy::SecretString;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

/// The secret the harness's router verifies with.
pub const SECRET: &str = "fuzzing webhook secret";

/// Seed payloads: `(event, JSON)`.
pub type Seeds = Vec<(String, Value)>;

/// A few payloads of our own that ingress acts on (no octocrab model involved), so a run
/// without GitHub's examples still reaches the database.
pub fn builtin_seeds() -> Seeds {
    let repository = json!({
        "id": 4242, "full_name": "octo/fuzz", "default_branch": "main",
        "clone_url": "https://github.com/octo/fuzz.git"
    });
    let suite = json!({
        "head_sha": "0123456789abcdef0123456789abcdef01234567", "head_branch": "feature",
        "pull_requests": [{ "number": 7, "base": { "ref": "main", "sha": "89abcdef0123456789abcdef0123456789abcdef" } }]
    });
    vec![
        (
            "check_suite".into(),
            json!({ "action": "requested", "check_suite": suite, "repository": repository,
                    "installation": { "id": 99 }, "sender": { "login": "octocat" } }),
        ),
        (
            "check_run".into(),
            json!({ "action": "rerequested", "check_run": { "app": { "id": 1 }, "check_suite": suite },
                    "repository": repository, "installation": { "id": 99 }, "sender": { "login": "octocat" } }),
        ),
        (
            "issue_comment".into(),
            json!({ "action": "created", "issue": { "number": 7, "pull_request": {} },
                    "comment": { "body": "/flext-quality rerun", "user": { "login": "octocat", "type": "User" } },
                    "repository": repository, "installation": { "id": 99 } }),
        ),
        (
            "ping".into(),
            json!({ "zen": "Keep it logically awesome.", "hook_id": 1 }),
        ),
    ]
}

/// GitHub's example payloads under `dir` (`<event>/<file>.json`, as in
/// `shared/fixtures/github/webhooks`), plus [`builtin_seeds`].
pub fn load_seeds(dir: &Path) -> Result<Seeds> {
    let mut seeds = builtin_seeds();
    let mut events: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading example payloads in {}", dir.display()))?
        .flatten()
        .collect();
    events.sort_by_key(|e| e.file_name());
    for event in events {
        let name = event.file_name().to_string_lossy().into_owned();
        let mut files: Vec<_> = std::fs::read_dir(event.path())?.flatten().collect();
        files.sort_by_key(|e| e.file_name());
        for file in files {
            let text = std::fs::read_to_string(file.path())?;
            let value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.path().display()))?;
            seeds.push((name.clone(), value));
        }
    }
    Ok(seeds)
}

/// Where the example payloads are in this checkout (`../shared/fixtures/github/webhooks`).
pub fn fixtures_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/github/webhooks")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    Valid,
    Missing,
    OtherSecret,
    OtherBody,
    NotHex,
    Sha1,
    Truncated,
    Uppercase,
    Padded,
    Doubled,
}

/// One request to ingress, ready to send.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event: Option<Vec<u8>>,
    pub delivery_id: Option<Vec<u8>>,
    pub signature: Signature,
    pub body: Vec<u8>,
    pub content_type: Option<&'static str>,
    /// A `Content-Length` that does not match the body.
    pub claimed_length: Option<u64>,
}

/// Bytes a header value may carry (what an HTTP server would have let through).
fn header_safe(bytes: Vec<u8>) -> Vec<u8> {
    bytes
        .into_iter()
        .map(|b| {
            if b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80 {
                b
            } else {
                b'x'
            }
        })
        .collect()
}

/// Replaces, removes or poisons one value somewhere in `v`, `depth` levels down at most.
fn poke(e: &mut Entropy, v: &mut Value, depth: usize) {
    if depth > 0 {
        match v {
            Value::Object(m) if !m.is_empty() => {
                let i = e.below(m.len());
                if let Some(child) = m.values_mut().nth(i) {
                    return poke(e, child, depth - 1);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                let i = e.below(a.len());
                return poke(e, &mut a[i], depth - 1);
            }
            _ => {}
        }
    }
    let here = v;
    match (e.below(8), &mut *here) {
        (0, Value::Object(m)) if !m.is_empty() => {
            let key = m.keys().nth(e.below(m.len())).cloned().unwrap_or_default();
            m.remove(&key);
        }
        (1, Value::String(s)) => {
            let mut at = e.below(s.len() + 1);
            while !s.is_char_boundary(at) {
                at -= 1;
            }
            s.insert(at, '\u{0}');
        }
        (1 | 2, _) => *here = Value::String(odd_text(e)),
        (3, _) => *here = odd_number(e),
        (4, _) => *here = Value::Null,
        (5, _) => {
            let mut deep = Value::Null;
            for _ in 0..e.below(300) {
                deep = json!([deep]);
            }
            *here = deep;
        }
        _ => *here = odd_value(e, 3),
    }
}

/// One delivery. `fresh_id` is a delivery id not used before (so most deliveries reach the
/// database as new ones); `huge` allows, rarely, a body over the 25 MiB limit.
pub fn delivery(e: &mut Entropy, seeds: &Seeds, fresh_id: &str, huge: bool) -> Delivery {
    let (seed_event, seed) = &seeds[e.below(seeds.len())];
    let event = match e.below(12) {
        0 => None,
        1 => Some(header_safe(odd_text(e).into_bytes())),
        2 => Some(
            (*e.pick(&[
                "pull_request",
                "push",
                "check_suite",
                "check_run",
                "installation",
                "installation_repositories",
                "repository",
                "issue_comment",
                "ping",
                "github_app_authorization",
            ]))
            .as_bytes()
            .to_vec(),
        ),
        _ => Some(seed_event.as_bytes().to_vec()),
    };
    let delivery_id = match e.below(12) {
        0 => None,
        1 => Some(b"d-1".to_vec()),
        2 => Some(Vec::new()),
        3 => Some(vec![b'a'; 201]),
        4 => Some(header_safe(e.bytes(40))),
        _ => Some(fresh_id.as_bytes().to_vec()),
    };
    let body = match e.below(16) {
        0..=8 => {
            let mut v = seed.clone();
            for _ in 0..1 + e.below(3) {
                let depth = e.below(6);
                poke(e, &mut v, depth);
            }
            serde_json::to_vec(&v).unwrap_or_default()
        }
        9 | 10 => seed.to_string().into_bytes(),
        11 | 12 => mutate_bytes(e, seed.to_string().as_bytes()),
        13 => e.bytes(2048),
        14 => odd_value(e, 4).to_string().into_bytes(),
        _ if huge && e.one_in(64) => vec![b' '; crate::web::webhook::MAX_BODY_BYTES + 1],
        _ => format!(
            "{}{}",
            "[".repeat(e.below(200_000)),
            "]".repeat(e.below(10))
        )
        .into_bytes(),
    };
    let signature = *e.pick(&[
        Signature::Valid,
        Signature::Valid,
        Signature::Valid,
        Signature::Valid,
        Signature::Valid,
        Signature::Valid,
        Signature::Missing,
        Signature::OtherSecret,
        Signature::OtherBody,
        Signature::NotHex,
        Signature::Sha1,
        Signature::Truncated,
        Signature::Uppercase,
        Signature::Padded,
        Signature::Doubled,
    ]);
    let content_type = *e.pick(&[
        Some("application/json"),
        Some("application/json"),
        Some("application/x-www-form-urlencoded"),
        None,
        Some("text/plain; charset=\u{ff}"),
    ]);
    let claimed_length = match e.below(16) {
        0 => Some(u64::MAX),
        1 => Some(crate::web::webhook::MAX_BODY_BYTES as u64 + 1),
        2 => Some(0),
        _ => None,
    };
    Delivery {
        event,
        delivery_id,
        signature,
        body,
        content_type,
        claimed_length,
    }
}

impl Delivery {
    /// The HTTP request, signed as [`Delivery::signature`] says with [`SECRET`].
    pub fn request(&self) -> Request<Body> {
        let secret = SecretString::from(SECRET.to_owned());
        let valid = sign(&secret, &self.body);
        let signature: Vec<String> = match self.signature {
            Signature::Valid => vec![valid],
            Signature::Missing => vec![],
            Signature::OtherSecret => {
                vec![sign(&SecretString::from("another".to_owned()), &self.body)]
            }
            Signature::OtherBody => vec![sign(&secret, b"{}")],
            Signature::NotHex => vec!["sha256=not-hex-at-all".into()],
            Signature::Sha1 => vec!["sha1=0123456789abcdef0123456789abcdef01234567".into()],
            Signature::Truncated => vec![valid[..valid.len() - 1].to_owned()],
            Signature::Uppercase => vec![format!("sha256={}", valid[7..].to_uppercase())],
            Signature::Padded => vec![format!("  {valid}  ")],
            Signature::Doubled => {
                vec![sign(&SecretString::from("x".to_owned()), &self.body), valid]
            }
        };
        let mut builder = Request::builder().method("POST").uri("/webhooks/github");
        if let Some(event) = &self.event {
            builder = builder.header("x-github-event", event.as_slice());
        }
        if let Some(id) = &self.delivery_id {
            builder = builder.header("x-github-delivery", id.as_slice());
        }
        for s in signature {
            builder = builder.header("x-hub-signature-256", s);
        }
        if let Some(ct) = self.content_type {
            builder = builder.header("content-type", ct.as_bytes());
        }
        if let Some(len) = self.claimed_length {
            builder = builder.header("content-length", len.to_string());
        }
        builder
            .body(Body::from(self.body.clone()))
            .unwrap_or_else(|_| {
                // Only an invalid header gets here; the generator keeps them valid.
                Request::new(Body::empty())
            })
    }
}

/// What ingress must answer (see the module documentation).
pub fn check_response(status: u16, body: &str) -> Result<(), String> {
    if status >= 500 {
        return Err(format!("{status}: {}", body.trim()));
    }
    if status >= 400 && !super::is_one_line(body) {
        return Err(format!("{status} without a one-line reason: {body:?}"));
    }
    Ok(())
}

/// Sends `request` through `router` in process; the status and the body's text.
pub async fn send(router: &axum::Router, request: Request<Body>) -> (u16, String) {
    use tower::ServiceExt;
    let response = match router.clone().oneshot(request).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("(body unreadable: {e})"));
    (status, body)
}

/// The real router over a fresh database, configured with [`SECRET`], running no workers.
pub struct Ingress {
    pub router: axum::Router,
    pub store: Store,
    /// The PostgreSQL database to drop at the end, and the server it lives on.
    postgres: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Ingress {
    /// On a SQLite file in a temporary directory.
    pub async fn sqlite() -> Result<Ingress> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("fuzz.db").display());
        Self::start(url, None, dir).await
    }

    /// On a new database `fq_fuzz_<random>` on the PostgreSQL server of `admin_url`, dropped
    /// by [`Ingress::close`]. `fast` turns off `synchronous_commit` for that database alone:
    /// for runs that measure what ingress answers, not how durably it records.
    pub async fn postgres(admin_url: &str, fast: bool) -> Result<Ingress> {
        let name = format!(
            "fq_fuzz_{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        );
        let admin = Store::connect(admin_url).await.with_context(|| {
            format!("PostgreSQL is needed at {admin_url} (set TEST_DATABASE_URL)")
        })?;
        admin
            .execute_admin(&format!("CREATE DATABASE {name}"))
            .await?;
        if fast {
            admin
                .execute_admin(&format!(
                    "ALTER DATABASE {name} SET synchronous_commit = off"
                ))
                .await?;
        }
        admin.close().await;
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(admin_url);
        let dir = tempfile::tempdir()?;
        Self::start(
            format!("{base}/{name}"),
            Some((admin_url.to_owned(), name)),
            dir,
        )
        .await
    }

    async fn start(
        url: String,
        postgres: Option<(String, String)>,
        dir: tempfile::TempDir,
    ) -> Result<Ingress> {
        let store = Store::connect(&url).await?;
        store.migrate().await?;
        let settings = settings(&url, dir.path());
        let state = crate::server::app_state(
            &settings,
            store.clone(),
            Arc::new(tokio::sync::Notify::new()),
        );
        Ok(Ingress {
            router: crate::web::router(state),
            store,
            postgres,
            _dir: dir,
        })
    }

    /// Closes the pool and drops the PostgreSQL database.
    pub async fn close(self) {
        self.store.close().await;
        if let Some((admin_url, name)) = self.postgres {
            if let Ok(admin) = Store::connect(&admin_url).await {
                let _ = admin
                    .execute_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
                admin.close().await;
            }
        }
    }
}

/// Settings of a server that only takes webhooks (no App key, so nothing runs them).
fn settings(database_url: &str, data_dir: &Path) -> Settings {
    Settings {
        analysis: AnalysisSettings {
            tools_dir: data_dir.join("tools"),
            cache_dir: data_dir.join("cache"),
            sandbox: crate::analysis::jail::SandboxSetting::Off,
            analysis_timeout_secs: 60,
            max_findings_per_backend: 100,
            policy: Default::default(),
            sarif_tools: Vec::new(),
            cores: 1,
        },
        database_url: Some(SecretString::from(database_url.to_owned())),
        data_dir: data_dir.to_path_buf(),
        port: 0,
        public_url: None,
        log_format: LogFormat::Pretty,
        github: GitHubSettings {
            app_id: Some(1),
            private_key: None,
            webhook_secrets: vec![SecretString::from(SECRET.to_owned())],
            api_url: "http://127.0.0.1:9".into(),
            web_url: "http://127.0.0.1:9".into(),
        },
        job_deadline_secs: 600,
        max_attempts: 3,
        lease_secs: 60,
        max_annotations: 1000,
        max_tree_bytes: 1 << 30,
        max_tree_entries: 100_000,
        slack_webhook_url: None,
        secret_key: None,
        reconcile_secs: 0,
        web: WebSettings::default(),
        shutdown_grace_secs: 1,
        metrics_token: None,
        event_hooks: Vec::new(),
        fly_app_name: None,
    }
}

/// Sends one generated delivery through `ingress` and checks the answer.
pub async fn check_delivery(
    data: &[u8],
    ingress: &Ingress,
    seeds: &Seeds,
    fresh_id: &str,
) -> Result<u16, String> {
    let mut e = Entropy::new(data);
    let d = delivery(&mut e, seeds, fresh_id, false);
    let (status, body) = send(&ingress.router, d.request()).await;
    check_response(status, &body).map_err(|why| {
        format!(
            "{why} (event {:?}, signature {:?}, body {:?})",
            d.event.as_deref().map(String::from_utf8_lossy),
            d.signature,
            String::from_utf8_lossy(&d.body[..d.body.len().min(300)])
        )
    })?;
    Ok(status)
}
