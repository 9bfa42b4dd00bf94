//! GitHub's App manifest flow as the fake plays it. The browser side: a form `POST` of
//! `manifest` to `/settings/apps/new?state=…` (or an organisation's
//! `/organizations/{org}/settings/apps/new`) is checked as GitHub checks it, recorded, and
//! creates the App at once — its id, a real RSA key pair, an OAuth client, a webhook secret —
//! then sends the browser to `redirect_url?code=…&state=…`. The API side:
//! `POST /app-manifests/{code}/conversions` (no authentication: the code is the credential)
//! answers the App's settings once; an unknown or used code is 404, as on GitHub.
//!
//! The fake hosts one App at a time: the App created here replaces the one it started with,
//! so its JWTs are the ones trusted afterwards and its OAuth client is the one sign-in uses.

use super::app_key::{generate_app_key, unix_now};
use super::fake_github::{gh_error, json_response, lock, Shared, State};
use super::openapi::{self, format_rfc3339, Operation};
use super::routing::parse_query;
use axum::response::Response;
use openssl::pkey::PKey;
use serde_json::{json, Value};
use std::collections::HashMap;

/// An App the manifest flow created, with everything GitHub knows of it.
#[derive(Debug, Clone)]
pub struct CreatedApp {
    pub id: u64,
    pub slug: String,
    pub name: String,
    /// The account or organisation that owns it.
    pub owner: String,
    pub client_id: String,
    pub client_secret: String,
    pub webhook_secret: String,
    /// PKCS#1 PEM, as GitHub hands it out.
    pub private_pem: String,
    pub manifest: Value,
    pub created_at: i64,
}

#[derive(Default)]
pub(crate) struct Manifests {
    /// Every manifest a browser posted, valid or not, oldest first.
    pub(crate) received: Vec<Value>,
    /// The Apps created, oldest first.
    pub(crate) created: Vec<CreatedApp>,
    /// Unused codes → index into `created`.
    codes: HashMap<String, usize>,
    /// Conversions answered (201), and refused (404).
    pub(crate) converted: usize,
    /// What was refused, for tests to look at.
    pub(crate) refused: Vec<String>,
}

/// Permissions a manifest may ask for (the ones of repositories and organisations GitHub
/// lists), each `read` or `write`.
const PERMISSIONS: &[&str] = &[
    "actions",
    "administration",
    "checks",
    "contents",
    "deployments",
    "environments",
    "issues",
    "members",
    "metadata",
    "organization_administration",
    "packages",
    "pages",
    "pull_requests",
    "repository_hooks",
    "secret_scanning_alerts",
    "security_events",
    "single_file",
    "statuses",
    "vulnerability_alerts",
    "workflows",
];

/// Events a manifest may subscribe to, and the permissions (any one) each needs: GitHub
/// refuses an event whose permission the App does not ask for.
const EVENTS: &[(&str, &[&str])] = &[
    ("check_run", &["checks"]),
    ("check_suite", &["checks"]),
    ("create", &["contents"]),
    ("delete", &["contents"]),
    ("issue_comment", &["issues", "pull_requests"]),
    ("issues", &["issues"]),
    ("pull_request", &["pull_requests"]),
    ("pull_request_review", &["pull_requests"]),
    ("pull_request_review_comment", &["pull_requests"]),
    ("push", &["contents"]),
    ("release", &["contents"]),
    ("repository", &["metadata"]),
    ("status", &["statuses"]),
];

const KEYS: &[&str] = &[
    "name",
    "url",
    "description",
    "hook_attributes",
    "redirect_url",
    "callback_urls",
    "setup_url",
    "public",
    "default_permissions",
    "default_events",
    "request_oauth_on_install",
    "setup_on_update",
];

fn absolute_url(v: &Value) -> bool {
    v.as_str().is_some_and(|u| {
        let rest = u
            .strip_prefix("https://")
            .or_else(|| u.strip_prefix("http://"));
        rest.is_some_and(|r| {
            !r.is_empty() && !r.starts_with('/') && !u.chars().any(char::is_whitespace)
        })
    })
}

/// Why GitHub would refuse this manifest, if it would.
fn check(m: &Value) -> Result<(), String> {
    let m = m.as_object().ok_or("the manifest is not a JSON object")?;
    if let Some(k) = m.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!("unknown manifest key `{k}`"));
    }
    let name = m.get("name").and_then(Value::as_str).unwrap_or("").trim();
    if name.is_empty() || name.chars().count() > 34 {
        return Err("`name` must be 1 to 34 characters".into());
    }
    for key in ["url", "redirect_url"] {
        if !m.get(key).is_some_and(absolute_url) {
            return Err(format!("`{key}` must be an absolute URL"));
        }
    }
    if m.get("setup_url").is_some_and(|u| !absolute_url(u)) {
        return Err("`setup_url` must be an absolute URL".into());
    }
    let hook = m
        .get("hook_attributes")
        .ok_or("`hook_attributes` is required")?;
    if !hook.get("url").is_some_and(absolute_url) {
        return Err("`hook_attributes.url` must be an absolute URL".into());
    }
    if hook.get("active").is_some_and(|a| !a.is_boolean()) {
        return Err("`hook_attributes.active` must be true or false".into());
    }
    if let Some(urls) = m.get("callback_urls") {
        let urls = urls.as_array().ok_or("`callback_urls` must be a list")?;
        if urls.len() > 10 || !urls.iter().all(absolute_url) {
            return Err("`callback_urls` must be at most 10 absolute URLs".into());
        }
    }
    for key in ["public", "request_oauth_on_install", "setup_on_update"] {
        if m.get(key).is_some_and(|v| !v.is_boolean()) {
            return Err(format!("`{key}` must be true or false"));
        }
    }
    let empty = serde_json::Map::new();
    let perms = match m.get("default_permissions") {
        None => &empty,
        Some(p) => p
            .as_object()
            .ok_or("`default_permissions` must be an object")?,
    };
    for (k, v) in perms {
        if !PERMISSIONS.contains(&k.as_str()) {
            return Err(format!("unknown permission `{k}`"));
        }
        if !matches!(v.as_str(), Some("read" | "write")) {
            return Err(format!("permission `{k}` must be read or write, not {v}"));
        }
    }
    let events = match m.get("default_events") {
        None => Vec::new(),
        Some(e) => e
            .as_array()
            .ok_or("`default_events` must be a list")?
            .iter()
            .map(|e| e.as_str().ok_or("`default_events` must be event names"))
            .collect::<Result<Vec<_>, _>>()?,
    };
    for e in events {
        let Some((_, needs)) = EVENTS.iter().find(|(name, _)| *name == e) else {
            return Err(format!("Default events unsupported: {e}"));
        };
        if !needs.iter().any(|p| perms.contains_key(*p)) {
            return Err(format!(
                "Default events unsupported: {e} (needs the {} permission)",
                needs.join(" or ")
            ));
        }
    }
    Ok(())
}

fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    openssl::rand::rand_bytes(&mut raw).expect("random bytes");
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

fn refuse(state: &Shared, why: String) -> Response {
    lock(state).manifests.refused.push(why.clone());
    // GitHub shows the person an error page; a status a test can see does as well.
    Response::builder()
        .status(422)
        .header("content-type", "text/plain; charset=utf-8")
        .body(axum::body::Body::from(format!("{why}\n")))
        .expect("a response")
}

/// Answers the browser side of the flow; `None` for any other path.
pub(crate) fn route(
    state: &Shared,
    method: &str,
    path: &str,
    query: &str,
    raw: &[u8],
) -> Option<Response> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let org = match (method, &segs[..]) {
        ("POST", ["settings", "apps", "new"]) => None,
        ("POST", ["organizations", org, "settings", "apps", "new"]) => Some(org.to_string()),
        _ => return None,
    };
    let form = parse_query(std::str::from_utf8(raw).unwrap_or(""));
    let Some(text) = form.get("manifest") else {
        return Some(refuse(state, "no `manifest` form field".into()));
    };
    let manifest: Value = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => return Some(refuse(state, format!("the manifest is not JSON: {e}"))),
    };
    lock(state).manifests.received.push(manifest.clone());
    if let Err(why) = check(&manifest) {
        return Some(refuse(state, why));
    }
    let back_state = parse_query(query).get("state").cloned().unwrap_or_default();
    let (private_pem, public_pem) = generate_app_key();
    let mut st = lock(state);
    let owner = org.unwrap_or_else(|| {
        st.oauth
            .person
            .as_ref()
            .map_or_else(|| "octo-operator".to_owned(), |(login, _)| login.clone())
    });
    let name = manifest["name"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let slug: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let app = CreatedApp {
        id: 900_001 + st.manifests.created.len() as u64,
        slug,
        name,
        owner,
        client_id: format!("Iv23li{}", random_hex(7)),
        client_secret: random_hex(20),
        webhook_secret: random_hex(20),
        private_pem,
        manifest: manifest.clone(),
        created_at: unix_now(),
    };
    // The new App is the one this GitHub now knows: its JWTs verify, its OAuth client signs in.
    st.app_id = app.id;
    st.public_key = PKey::public_key_from_pem(public_pem.as_bytes()).expect("public key");
    if let Some(callback) = manifest["callback_urls"][0].as_str() {
        st.oauth.client = Some((
            app.client_id.clone(),
            app.client_secret.clone(),
            callback.to_owned(),
        ));
    }
    let code = random_hex(10);
    let index = st.manifests.created.len();
    st.manifests.created.push(app);
    st.manifests.codes.insert(code.clone(), index);
    let redirect = manifest["redirect_url"].as_str().unwrap_or_default();
    let sep = if redirect.contains('?') { '&' } else { '?' };
    Some(
        Response::builder()
            .status(302)
            .header(
                "location",
                format!("{redirect}{sep}code={code}&state={back_state}"),
            )
            .body(axum::body::Body::empty())
            .expect("a response"),
    )
}

/// `POST /app-manifests/{code}/conversions`: the App's settings, once per code. The answer is
/// checked against GitHub's own description of it, so the app is tested on what GitHub sends.
pub(crate) fn convert(st: &mut State, code: &str, op: &Operation, doc: &str) -> Response {
    let Some(index) = st.manifests.codes.remove(code) else {
        st.manifests
            .refused
            .push(format!("conversion of an unknown or used code {code}"));
        return gh_error(404, "Not Found", doc);
    };
    st.manifests.converted += 1;
    let app = st.manifests.created[index].clone();
    let base = st.base_url.clone();
    let at = format_rfc3339(app.created_at);
    let m = &app.manifest;
    let body = json!({
        "id": app.id,
        "slug": app.slug,
        "node_id": format!("A_kwHOAb{:08}", app.id),
        "owner": {
            "login": app.owner, "id": 5_000_001, "node_id": "O_kgDOAbc", "type": "Organization",
            "url": format!("{base}/users/{}", app.owner),
            "html_url": format!("{base}/{}", app.owner),
            "avatar_url": format!("{base}/avatars/{}", app.owner), "gravatar_id": "",
            "followers_url": format!("{base}/users/{}/followers", app.owner),
            "following_url": format!("{base}/users/{}/following{{/other_user}}", app.owner),
            "gists_url": format!("{base}/users/{}/gists{{/gist_id}}", app.owner),
            "starred_url": format!("{base}/users/{}/starred{{/owner}}{{/repo}}", app.owner),
            "subscriptions_url": format!("{base}/users/{}/subscriptions", app.owner),
            "organizations_url": format!("{base}/users/{}/orgs", app.owner),
            "repos_url": format!("{base}/users/{}/repos", app.owner),
            "events_url": format!("{base}/users/{}/events{{/privacy}}", app.owner),
            "received_events_url": format!("{base}/users/{}/received_events", app.owner),
            "site_admin": false,
        },
        "name": app.name,
        "description": m.get("description").cloned().unwrap_or(Value::Null),
        "external_url": m["url"],
        "html_url": format!("{base}/apps/{}", app.slug),
        "created_at": at,
        "updated_at": at,
        "permissions": m.get("default_permissions").cloned().unwrap_or_else(|| json!({})),
        "events": m.get("default_events").cloned().unwrap_or_else(|| json!([])),
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "webhook_secret": app.webhook_secret,
        "pem": app.private_pem,
    });
    let schema = openapi::spec()
        .response_schema(op, 201)
        .expect("the description has the 201 answer");
    let errors = openapi::spec().validate_value(schema, &body);
    assert!(
        errors.is_empty(),
        "the fake's own conversion answer does not match GitHub's description: {errors:?}"
    );
    json_response(201, &body)
}
