//! One-click setup: GitHub's App manifest flow. `GET /setup` (open only while no App is
//! configured) shows one button that posts the manifest to GitHub, with a `state` bound to the
//! browser by a signed cookie, as sign-in does. GitHub creates the App and sends the browser
//! to `GET /setup/callback?code=…&state=…`; the code is swapped for the App's id, key, webhook
//! secret and OAuth client, which are kept (merged into `.env`, or shown once as the
//! `fly secrets set` line on Fly.io) and applied to the running server: webhooks verify with
//! the new secret, `serve` starts its workers, GitHub sign-in works — no restart.

use super::auth::cookie;
use super::pages::{render, Page};
use super::AppState;
use crate::config::{OAuthSettings, Settings};
use crate::github::manifest;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

const STATE_COOKIE: &str = "fq_setup";
/// Creating the App on GitHub takes a person a minute or two; GitHub's code lives an hour.
const STATE_SECS: i64 = 3600;
/// The settings the App's creation gives, in the order they are written and shown.
pub const KEYS: [&str; 5] = [
    "GITHUB_APP_ID",
    "GITHUB_PRIVATE_KEY",
    "GITHUB_WEBHOOK_SECRET",
    "GITHUB_CLIENT_ID",
    "GITHUB_CLIENT_SECRET",
];

/// Where the App's settings are kept, fixed at start.
pub struct SetupPlace {
    /// `FLY_APP_NAME`: on Fly.io the settings are shown as `fly secrets set`, not written.
    fly_app: Option<String>,
    /// `.env` in the working directory `serve` started in (where it reads it from).
    env_file: Option<PathBuf>,
    /// Which of [`KEYS`] the settings had at start (from the environment or `.env`: the
    /// secret ones are no longer in the environment to look at by then).
    set_at_start: Vec<&'static str>,
    /// One callback at a time, so two browsers cannot both configure an App.
    lock: tokio::sync::Mutex<()>,
}

impl SetupPlace {
    pub fn new(settings: &Settings) -> SetupPlace {
        let g = &settings.github;
        let oauth = settings.web.oauth.is_some();
        let set = [
            g.app_id.is_some(),
            // A key read from GITHUB_PRIVATE_KEY_PATH gives way to GITHUB_PRIVATE_KEY.
            g.private_key.is_some() && std::env::var_os("GITHUB_PRIVATE_KEY_PATH").is_none(),
            !g.webhook_secrets.is_empty(),
            oauth,
            oauth,
        ];
        SetupPlace {
            fly_app: settings.fly_app_name.clone(),
            env_file: std::env::current_dir().ok().map(|d| d.join(".env")),
            set_at_start: KEYS
                .into_iter()
                .zip(set)
                .filter(|(_, s)| *s)
                .map(|(k, _)| k)
                .collect(),
            lock: Default::default(),
        }
    }
}

#[derive(Deserialize)]
pub struct Start {
    org: Option<String>,
    name: Option<String>,
}

fn message(state: &AppState, status: StatusCode, heading: &str, text: &str) -> Response {
    render(
        state,
        status,
        "message.html",
        &Page::anonymous(heading),
        minijinja::context! { heading, message => text },
    )
}

/// Once an App is configured, setup is over: nothing of it is offered or shown again.
fn configured(state: &AppState, status: StatusCode) -> Response {
    message(
        state,
        status,
        "Already set up",
        "This server has its GitHub App. To use another, change its settings (README, \
         \"Registering the GitHub App\") and restart it.",
    )
}

/// An organisation's login as GitHub allows them (it goes into a URL path).
fn valid_org(org: &str) -> bool {
    (1..=39).contains(&org.len())
        && !org.starts_with('-')
        && org.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A GitHub App's name: at most 34 characters, printable.
fn valid_name(name: &str) -> bool {
    let n = name.trim();
    (1..=34).contains(&n.chars().count()) && !n.chars().any(char::is_control)
}

/// This server as GitHub should reach it: `PUBLIC_URL`, else the address the browser used.
fn base_url(state: &AppState, headers: &HeaderMap) -> Option<String> {
    if let Some(u) = &state.public_url {
        return Some(u.clone());
    }
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let fine = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    fine.then(|| format!("http://{host}"))
}

fn random_hex(bytes: usize) -> Option<String> {
    let mut raw = vec![0u8; bytes];
    openssl::rand::rand_bytes(&mut raw).ok()?;
    Some(raw.iter().map(|b| format!("{b:02x}")).collect())
}

/// `GET /setup[?org=NAME][&name=APP]`: the button that creates the App on GitHub.
pub async fn page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<Start>,
) -> Response {
    if state.app_configured() {
        return configured(&state, StatusCode::NOT_FOUND);
    }
    let org = q.org.filter(|o| !o.is_empty());
    if org.as_deref().is_some_and(|o| !valid_org(o)) {
        return message(
            &state,
            StatusCode::BAD_REQUEST,
            "Setup",
            "`org` must be an organisation's login (letters, digits and dashes).",
        );
    }
    if q.name.as_deref().is_some_and(|n| !valid_name(n)) {
        return message(
            &state,
            StatusCode::BAD_REQUEST,
            "Setup",
            "`name` must be 1 to 34 characters: GitHub's limit for an App's name.",
        );
    }
    let Some(base) = base_url(&state, &headers) else {
        return message(
            &state,
            StatusCode::BAD_REQUEST,
            "Setup",
            "Set PUBLIC_URL to this server's address as GitHub will reach it.",
        );
    };
    let (Some(nonce), Some(suffix)) = (random_hex(16), random_hex(3)) else {
        return message(
            &state,
            StatusCode::SERVICE_UNAVAILABLE,
            "Setup",
            "no randomness",
        );
    };
    // App names are unique across GitHub: a suffix makes the default one free.
    let name = q.name.map_or_else(
        || format!("flext-quality-{suffix}"),
        |n| n.trim().to_owned(),
    );
    let manifest = manifest::manifest(&base, &name);
    let web_url = state.github.borrow().web_url.clone();
    let action = match &org {
        Some(o) => format!("{web_url}/organizations/{o}/settings/apps/new?state={nonce}"),
        None => format!("{web_url}/settings/apps/new?state={nonce}"),
    };
    let mut resp = render(
        &state,
        StatusCode::OK,
        "setup.html",
        &Page::anonymous("Set up"),
        minijinja::context! {
            action,
            manifest => manifest.to_string(),
            manifest_pretty => serde_json::to_string_pretty(&manifest).unwrap_or_default(),
            org,
            base,
            guessed_base => state.public_url.is_none(),
            fly => state.setup.fly_app.is_some(),
            keys => KEYS,
        },
    );
    let signed = state.auth.sign("setup", nonce.as_bytes());
    if let Ok(v) = HeaderValue::from_str(&state.auth.cookie(STATE_COOKIE, &signed, STATE_SECS)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
}

/// How the settings were kept, for the page that says so.
enum Kept {
    /// Merged into this file.
    EnvFile { path: String, shadowed: Vec<String> },
    /// On Fly.io: the command to run, shown this once.
    Fly(SecretString),
    /// The file could not be written: the lines, shown this once, and why.
    Manual { lines: SecretString, why: String },
}

/// `GET /setup/callback?code=…&state=…`: GitHub created the App; keep and apply its settings.
pub async fn callback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    if state.app_configured() {
        return configured(&state, StatusCode::CONFLICT);
    }
    let (Some(code), Some(returned)) = (q.code, q.state) else {
        let text = "The callback lacks `code` or `state`.";
        return message(&state, StatusCode::BAD_REQUEST, "Setup failed", text);
    };
    let expected = cookie(&headers, STATE_COOKIE)
        .and_then(|c| state.auth.unsign("setup", c))
        .and_then(|p| String::from_utf8(p).ok());
    if expected.as_deref() != Some(returned.as_str()) {
        let text = "This browser did not start this setup, or started it over an hour ago: \
                    open /setup and start again.";
        return message(&state, StatusCode::BAD_REQUEST, "Setup failed", text);
    }
    let _one_at_a_time = state.setup.lock.lock().await;
    if state.app_configured() {
        return configured(&state, StatusCode::CONFLICT);
    }
    let api_url = state.github.borrow().api_url.clone();
    let app = match manifest::convert(&state.http, &api_url, &code).await {
        Ok(app) => app,
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "GitHub App setup failed");
            let text = format!("{e:#}. Open /setup to start again.");
            return message(&state, StatusCode::BAD_GATEWAY, "Setup failed", &text);
        }
    };
    let Some(webhook_secret) = app.webhook_secret.clone() else {
        let text = "GitHub created the App without a webhook secret: set one in the App's \
                    settings and configure the server by hand (README, \"Registering the \
                    GitHub App\").";
        return message(&state, StatusCode::BAD_GATEWAY, "Setup failed", text);
    };
    // The key must work before anything is kept or applied.
    if let Err(e) = crate::github::app::GitHubApp::new(app.id, &app.pem, &api_url) {
        let text = format!("GitHub's answer cannot be used: {e:#}");
        return message(&state, StatusCode::BAD_GATEWAY, "Setup failed", &text);
    }
    let values: Vec<(&str, SecretString)> = KEYS
        .into_iter()
        .zip([
            SecretString::from(app.id.to_string()),
            app.pem.clone(),
            webhook_secret.clone(),
            SecretString::from(app.client_id.clone()),
            app.client_secret.clone(),
        ])
        .collect();
    let kept = keep(&state, &values);
    apply(&state, &app, webhook_secret);
    tracing::info!(
        app_id = app.id,
        slug = %app.slug,
        owner = %app.owner,
        kept = match &kept {
            Kept::EnvFile { .. } => "in .env",
            Kept::Fly(_) => "shown as fly secrets set",
            Kept::Manual { .. } => "shown once (.env could not be written)",
        },
        "GitHub App created from the manifest and applied: webhooks verify with its secret, workers start"
    );
    done(&state, &app, kept)
}

/// Keeps the settings where this server will read them at its next start.
fn keep(state: &AppState, values: &[(&str, SecretString)]) -> Kept {
    let setup = &state.setup;
    if setup.fly_app.is_some() {
        return match crate::env_file::fly_secrets_line(setup.fly_app.as_deref(), values) {
            Ok(line) => Kept::Fly(line),
            Err(e) => manual(values, format!("{e:#}")),
        };
    }
    let Some(path) = &setup.env_file else {
        return manual(values, "the working directory is unknown".into());
    };
    match crate::env_file::merge(path, values) {
        Ok(merged) => Kept::EnvFile {
            path: path.display().to_string(),
            // Set at start but not by the file: by the environment, which wins over `.env` at
            // the next start.
            shadowed: setup
                .set_at_start
                .iter()
                .filter(|k| !merged.replaced.iter().any(|r| r == *k))
                .map(|k| (*k).to_owned())
                .collect(),
        },
        Err(e) => manual(values, format!("{e:#}")),
    }
}

fn manual(values: &[(&str, SecretString)], why: String) -> Kept {
    match crate::env_file::env_lines(values) {
        Ok(lines) => Kept::Manual { lines, why },
        // GitHub's values always fit a line; if one ever does not, say so without it.
        Err(e) => Kept::Manual {
            lines: SecretString::from(String::new()),
            why: format!("{why}; {e:#}"),
        },
    }
}

/// The running server takes the App: webhook ingress reads the new settings at the next
/// delivery, `serve`'s supervisor (watching them) starts the workers, and sign-in uses the
/// App's OAuth client.
fn apply(state: &AppState, app: &manifest::CreatedApp, webhook_secret: SecretString) {
    let mut github = state.github.borrow().clone();
    github.app_id = Some(app.id);
    github.private_key = Some(app.pem.clone());
    github.webhook_secrets = vec![webhook_secret];
    let web_url = github.web_url.clone();
    state.github.send_replace(github);
    state.auth.set_oauth(OAuthSettings {
        client_id: app.client_id.clone(),
        client_secret: app.client_secret.clone(),
        web_url,
    });
}

fn done(state: &AppState, app: &manifest::CreatedApp, kept: Kept) -> Response {
    let (env_file, shadowed, fly_line, manual_lines, why) = match &kept {
        Kept::EnvFile { path, shadowed } => {
            (Some(path.as_str()), shadowed.clone(), None, None, None)
        }
        Kept::Fly(line) => (None, vec![], Some(line.expose_secret()), None, None),
        Kept::Manual { lines, why } => (
            None,
            vec![],
            None,
            Some(lines.expose_secret()),
            Some(why.as_str()),
        ),
    };
    let mut resp = render(
        state,
        StatusCode::OK,
        "setup_done.html",
        &Page::anonymous("Set up"),
        minijinja::context! {
            app_name => &app.name,
            app_id => app.id,
            owner => &app.owner,
            install_url => format!("{}/installations/new", app.html_url.trim_end_matches('/')),
            keys => KEYS,
            env_file,
            shadowed,
            fly_line,
            manual_lines,
            why,
        },
    );
    let h = resp.headers_mut();
    // The page may hold the secrets: never kept by a cache, never sent on as a referrer.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    if let Ok(v) = HeaderValue::from_str(&state.auth.cookie(STATE_COOKIE, "", 0)) {
        h.append(header::SET_COOKIE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    #[test]
    fn org_and_name_are_checked_before_they_go_into_urls() {
        assert!(super::valid_org("acme-inc"));
        for bad in ["", "-acme", "a/b", "a?b", "a b", &"x".repeat(40)] {
            assert!(!super::valid_org(bad), "{bad}");
        }
        assert!(super::valid_name("flext-quality (acme)"));
        assert!(!super::valid_name(&"x".repeat(35)));
        assert!(!super::valid_name("a\nb"));
    }
}
