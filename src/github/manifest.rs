//! GitHub's App manifest flow, our side of it: the manifest that describes the App this server
//! needs (its URLs, permissions and events), and the exchange of the code GitHub sends back for
//! the new App's credentials (`POST /app-manifests/{code}/conversions`).
//!
//! The permissions and events are the ones the README's "Registering the GitHub App" lists, so
//! the one-click App and a hand-made one are the same App.

use anyhow::{bail, Context, Result};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{json, Value};

/// What the App may do: publish check runs, read the code, comment on pull requests. The
/// installation tokens ask for a subset of these per job (`github::app::Access`).
pub const PERMISSIONS: &[(&str, &str)] = &[
    ("checks", "write"),
    ("contents", "read"),
    ("metadata", "read"),
    ("pull_requests", "write"),
];

/// The webhooks the App subscribes to. `installation` and `installation_repositories` are not
/// in the list: GitHub sends them to every App without a subscription.
pub const EVENTS: &[&str] = &[
    "check_run",
    "check_suite",
    "issue_comment",
    "pull_request",
    "push",
];

/// The manifest of an App called `name` for a server at `base` (its public URL, no trailing
/// slash): webhooks to `/webhooks/github`, the browser back to `/setup/callback`, sign-in
/// back to `/signin/callback`; private to the account or organisation that creates it.
pub fn manifest(base: &str, name: &str) -> Value {
    let permissions: serde_json::Map<String, Value> = PERMISSIONS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect();
    json!({
        "name": name,
        "url": base,
        "description": "Code quality gate: analyses pull requests and pushes, grades them, and answers with a check run.",
        "hook_attributes": {"url": format!("{base}/webhooks/github"), "active": true},
        "redirect_url": format!("{base}/setup/callback"),
        "callback_urls": [format!("{base}/signin/callback")],
        "public": false,
        "default_permissions": permissions,
        "default_events": EVENTS,
    })
}

/// The App GitHub created from the manifest, with its credentials in secret types.
pub struct CreatedApp {
    pub id: u64,
    pub slug: String,
    pub name: String,
    /// `https://github.com/apps/<slug>`: its page, where it is installed.
    pub html_url: String,
    /// Who owns it (the person or the organisation that created it).
    pub owner: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// `None` when GitHub made the App without a webhook secret.
    pub webhook_secret: Option<SecretString>,
    pub pem: SecretString,
}

impl std::fmt::Debug for CreatedApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApp")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// GitHub's answer as it comes; turned into [`CreatedApp`] at once.
#[derive(Deserialize)]
struct Conversion {
    id: u64,
    slug: Option<String>,
    name: String,
    html_url: String,
    owner: Option<Owner>,
    client_id: String,
    client_secret: String,
    webhook_secret: Option<String>,
    pem: String,
}

#[derive(Deserialize)]
struct Owner {
    login: Option<String>,
}

/// A manifest code as GitHub makes them; anything else is refused before it goes into a URL.
pub fn valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 100
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Swaps the one-time `code` for the new App's credentials. Errors never carry the answer's
/// body or the request's URL (they hold secrets, and the code).
pub async fn convert(http: &reqwest::Client, api_url: &str, code: &str) -> Result<CreatedApp> {
    if !valid_code(code) {
        bail!("the code GitHub sent back is malformed");
    }
    let resp = http
        .post(format!("{api_url}/app-manifests/{code}/conversions"))
        .header(reqwest::header::ACCEPT, "application/vnd.github+json")
        .header(reqwest::header::USER_AGENT, "flext-quality")
        .header("x-github-api-version", "2022-11-28")
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!("asking GitHub for the App's settings: {}", e.without_url())
        })?;
    match resp.status().as_u16() {
        201 => {}
        404 => bail!("GitHub does not know this code: it was used already or is over an hour old"),
        s => bail!("GitHub answered {s} to the exchange of the code"),
    }
    let raw: Conversion = resp
        .json()
        .await
        .map_err(|e| anyhow::anyhow!("reading the App's settings: {}", e.without_url()))
        .context("GitHub's answer is not the App it created")?;
    Ok(CreatedApp {
        id: raw.id,
        slug: raw.slug.unwrap_or_default(),
        name: raw.name,
        html_url: raw.html_url,
        owner: raw.owner.and_then(|o| o.login).unwrap_or_default(),
        client_id: raw.client_id,
        client_secret: SecretString::from(raw.client_secret),
        webhook_secret: raw.webhook_secret.map(SecretString::from),
        pem: SecretString::from(raw.pem),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_manifest_points_every_url_at_this_server() {
        let m = super::manifest("https://q.example.com", "flext-quality-ab12");
        assert_eq!(m["url"], "https://q.example.com");
        assert_eq!(
            m["hook_attributes"]["url"],
            "https://q.example.com/webhooks/github"
        );
        assert_eq!(m["hook_attributes"]["active"], true);
        assert_eq!(m["redirect_url"], "https://q.example.com/setup/callback");
        assert_eq!(
            m["callback_urls"][0],
            "https://q.example.com/signin/callback"
        );
        assert_eq!(m["public"], false);
        assert_eq!(m["default_permissions"]["checks"], "write");
        assert_eq!(m["default_permissions"]["contents"], "read");
        assert!(m["default_events"]
            .as_array()
            .unwrap()
            .contains(&"pull_request".into()));
    }

    #[test]
    fn only_plain_codes_go_into_the_url() {
        assert!(super::valid_code("a1b2c3d4e5f6"));
        for bad in ["", "../app", "a/b", "a?b", "a b", &"x".repeat(101)] {
            assert!(!super::valid_code(bad), "{bad}");
        }
    }
}
