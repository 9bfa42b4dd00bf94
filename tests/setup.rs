//! One-click setup, for real: the `serve` binary started with no App, `/setup`'s form read
//! and posted to the strict fake GitHub as a browser would, GitHub's redirect followed back
//! with the state cookie; then — without a restart — the new App's settings are in `.env`
//! (mode 0600, never in the log), the analysis that waited for them runs, a pull request
//! webhook signed with the new secret is analysed with a check run published by the new App,
//! and GitHub sign-in works with its OAuth client. Replayed and forged callbacks are refused,
//! `/setup` is closed afterwards, and on Fly.io the settings are shown once as the
//! `fly secrets set` line instead of being written.

mod harness;
mod support;

use harness::dsl::{fixture, INSTALLATION};
use harness::server::{free_port, Server};
use reqwest::redirect::Policy;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};
use support::manifest::CreatedApp;
use support::{shared_app_key, FakeGitHub};

const KEYS: [&str; 5] = [
    "GITHUB_APP_ID",
    "GITHUB_PRIVATE_KEY",
    "GITHUB_WEBHOOK_SECRET",
    "GITHUB_CLIENT_ID",
    "GITHUB_CLIENT_SECRET",
];

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// Text as it was before the templates' HTML escaping.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} in:\n{text}"))
        + start.len();
    let len = text[from..].find(end).expect("the end");
    &text[from..from + len]
}

/// The `name=value` of a cookie a response sets, and the whole `Set-Cookie` line.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<(String, String)> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| (v.split(';').next().unwrap().to_owned(), v.to_owned()))
}

/// A server with no App whose GitHub is the fake; `PUBLIC_URL` is its own address.
fn start(github: &FakeGitHub, cwd: &std::path::Path, extra: &[(&str, String)]) -> Server {
    let port = free_port();
    let mut envs = vec![
        ("GITHUB_API_URL", github.url()),
        ("GITHUB_WEB_URL", github.url()),
        ("PUBLIC_URL", format!("http://127.0.0.1:{port}")),
    ];
    envs.extend(extra.iter().cloned());
    Server::start_on(port, cwd, &envs)
}

/// `GET /setup{query}`: the form's action, its manifest, and the state cookie.
async fn setup_form(server: &Server, query: &str) -> (String, Value, String) {
    let resp = browser()
        .get(format!("{}/setup{query}", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (cookie, line) = set_cookie(&resp, "fq_setup").expect("the state is bound to the browser");
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Lax"),
        "{line}"
    );
    let html = resp.text().await.unwrap();
    let action = unescape(between(&html, "<form method=\"post\" action=\"", "\""));
    let manifest = unescape(between(&html, "name=\"manifest\" value=\"", "\""));
    (action, serde_json::from_str(&manifest).unwrap(), cookie)
}

/// The browser posts the manifest to GitHub, which creates the App and redirects back.
async fn create_on_github(action: &str, manifest: &Value) -> String {
    let resp = browser()
        .post(action)
        .form(&[("manifest", manifest.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 302, "{:?}", resp.text().await);
    resp.headers()["location"].to_str().unwrap().to_owned()
}

async fn webhook(
    server: &Server,
    event: &str,
    id: &str,
    secret: &str,
    body: &[u8],
) -> (u16, String) {
    let signature = flext_quality::github::signature::sign(
        &secrecy::SecretString::from(secret.to_owned()),
        body,
    );
    let r = reqwest::Client::new()
        .post(format!("{}/webhooks/github", server.url()))
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", id)
        .header("X-Hub-Signature-256", signature)
        .header("Content-Type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A repository with a base and two pull request heads that Ruff objects to; the payloads.
fn pull_requests(github: &FakeGitHub) -> Vec<(String, Vec<u8>)> {
    github.add_installation(INSTALLATION, &[("acme", "setup", 6006)]);
    github.create_repo("acme", "setup");
    let base = github.commit("acme", "setup", "main", &[("a.py", "X = 1\n")], "base");
    let bare = github.repo_path("acme", "setup");
    (1..=2)
        .map(|n| {
            let branch = format!("feature{n}");
            support::git_server::git(
                &bare,
                &["update-ref", &format!("refs/heads/{branch}"), &base],
            );
            let file = format!("b{n}.py");
            let head = github.commit(
                "acme",
                "setup",
                &branch,
                &[(&file, "print(undefined_name)\n")],
                "pr",
            );
            support::git_server::git(
                &bare,
                &["update-ref", &format!("refs/pull/{n}/head"), &head],
            );
            let mut p = fixture("pull_request", "opened.payload.json");
            p["repository"]["id"] = 6006.into();
            p["repository"]["full_name"] = "acme/setup".into();
            p["repository"]["clone_url"] = github.clone_url("acme", "setup").into();
            p["repository"]["default_branch"] = "main".into();
            p["installation"] = json!({ "id": INSTALLATION, "node_id": "MDIz" });
            p["number"] = n.into();
            p["pull_request"]["head"]["sha"] = head.clone().into();
            p["pull_request"]["base"]["sha"] = base.clone().into();
            p["pull_request"]["base"]["ref"] = "main".into();
            (head, serde_json::to_vec(&p).unwrap())
        })
        .collect()
}

/// The completed check run on `head` (consumed) and the pull request's comment (consumed).
async fn expect_analysed(github: &FakeGitHub, server: &Server, head: &str, pr: u64) {
    let started = Instant::now();
    let run = loop {
        if let Some(r) = github
            .check_runs_for(head)
            .into_iter()
            .find(|r| r.status == "completed")
        {
            break r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "no completed check run on {head} after 180 s:\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let run = github.consume_check_run(run.id).unwrap();
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{:?}",
        run.summary
    );
    assert!(
        run.annotations
            .iter()
            .any(|a| a.message == "Undefined name `undefined_name`"),
        "{:?}",
        run.annotations
    );
    let comment = loop {
        if let Some(c) = github
            .issue_comments("acme", "setup", pr)
            .into_iter()
            .next()
        {
            break c;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "no comment on #{pr}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    github.consume_comment(comment.id);
}

/// No secret of the App appears in `text`.
fn assert_no_secret(app: &CreatedApp, text: &str, what: &str) {
    let key_line = app.private_pem.lines().nth(5).unwrap();
    for secret in [
        app.webhook_secret.as_str(),
        app.client_secret.as_str(),
        key_line,
    ] {
        assert!(!text.contains(secret), "a secret in {what}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_click_setup_creates_the_app_and_the_running_server_uses_it_at_once() {
    // A GitHub that knows no App of this server yet (the one it starts with is never used).
    let github = FakeGitHub::start(1, &shared_app_key().1).await;
    let prs = pull_requests(&github);
    let cwd = tempfile::tempdir().unwrap();
    let env_file = cwd.path().join(".env");
    // The operator's own .env: a setting to keep and a webhook secret (no App) to replace.
    std::fs::write(
        &env_file,
        "# the operator's own\nFLEXT_QUALITY_RECONCILE_SECS=0\nGITHUB_WEBHOOK_SECRET=an-old-secret\n",
    )
    .unwrap();
    std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    // And an older OAuth client in the environment, which would win over .env at a restart.
    let server = start(
        &github,
        cwd.path(),
        &[
            ("GITHUB_CLIENT_ID", "Iv1.an-old-client".into()),
            ("GITHUB_CLIENT_SECRET", "an-old-client-secret".into()),
        ],
    );
    server.wait_ready().await;
    let url = server.url();

    // Before the App: a pull request is accepted and waits.
    let (status, text) = webhook(
        &server,
        "pull_request",
        "before",
        "an-old-secret",
        &prs[0].1,
    )
    .await;
    assert_eq!(status, 202, "{text}");
    assert!(text.contains("waiting for GitHub App settings"), "{text}");

    // The form: GitHub's manifest flow, for an organisation and under a chosen name too.
    let (action, _, _) = setup_form(&server, "?org=acme&name=Acme%20quality").await;
    assert!(
        action.starts_with(&format!(
            "{}/organizations/acme/settings/apps/new?state=",
            github.url()
        )),
        "{action}"
    );
    let (action, manifest, state_cookie) = setup_form(&server, "").await;
    let (path, state) = action.split_once("?state=").unwrap();
    assert_eq!(path, format!("{}/settings/apps/new", github.url()));
    assert_eq!(state.len(), 32, "{action}");
    assert!(
        manifest["name"]
            .as_str()
            .unwrap()
            .starts_with("flext-quality-"),
        "{manifest}"
    );
    assert_eq!(manifest["url"], url.as_str());
    assert_eq!(
        manifest["hook_attributes"],
        json!({"url": format!("{url}/webhooks/github"), "active": true})
    );
    assert_eq!(manifest["redirect_url"], format!("{url}/setup/callback"));
    assert_eq!(
        manifest["callback_urls"],
        json!([format!("{url}/signin/callback")])
    );
    assert_eq!(manifest["public"], false);
    assert_eq!(
        manifest["default_permissions"],
        json!({"checks": "write", "contents": "read", "metadata": "read", "pull_requests": "write"})
    );
    assert_eq!(
        manifest["default_events"],
        json!([
            "check_run",
            "check_suite",
            "issue_comment",
            "pull_request",
            "push"
        ])
    );
    let bad = browser()
        .get(format!("{url}/setup?org=a/b"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);

    // GitHub creates the App and sends the browser back.
    let callback = create_on_github(&action, &manifest).await;
    assert!(
        callback.starts_with(&format!("{url}/setup/callback?code=")),
        "{callback}"
    );
    assert!(callback.ends_with(&format!("&state={state}")), "{callback}");
    let app = github.created_apps().pop().expect("an App");
    assert_eq!(github.manifests(), vec![manifest]);

    // A callback this browser did not start: refused before the code is used.
    let forged = callback.replace("state=", "state=0");
    let r = browser()
        .get(&forged)
        .header("cookie", &state_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = browser().get(&callback).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400, "no state cookie");
    assert_eq!(github.manifest_conversions(), 0);

    let done = browser()
        .get(&callback)
        .header("cookie", &state_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status().as_u16(), 200);
    assert_eq!(done.headers()["cache-control"], "no-store");
    let (cleared, line) = set_cookie(&done, "fq_setup").expect("the state cookie is cleared");
    assert!(
        cleared == "fq_setup=" && line.contains("Max-Age=0"),
        "{line}"
    );
    let page = unescape(&done.text().await.unwrap());
    assert!(
        page.contains(&env_file.canonicalize().unwrap().display().to_string()),
        "{page}"
    );
    for key in KEYS {
        assert!(page.contains(key), "{key} named on the page:\n{page}");
    }
    assert!(
        page.contains(&format!(
            "{}/apps/{}/installations/new",
            github.url(),
            app.slug
        )),
        "{page}"
    );
    assert_no_secret(&app, &page, "the page");
    let shadowed = between(&page, "Set in this server's environment too:", "</p>");
    assert!(
        shadowed.contains("GITHUB_CLIENT_ID") && shadowed.contains("GITHUB_CLIENT_SECRET"),
        "{shadowed}"
    );
    assert!(
        !shadowed.contains("GITHUB_WEBHOOK_SECRET"),
        "it was in .env: {shadowed}"
    );

    // The settings are in .env, readable by the owner only, the operator's lines kept.
    let mode = std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&env_file).unwrap();
    assert!(
        text.starts_with("# the operator's own\nFLEXT_QUALITY_RECONCILE_SECS=0\n"),
        "{text}"
    );
    assert!(!text.contains("an-old-secret"), "{text}");
    let read: std::collections::HashMap<String, String> = dotenvy::from_path_iter(&env_file)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(read["GITHUB_APP_ID"], app.id.to_string());
    assert_eq!(
        read["GITHUB_PRIVATE_KEY"].replace("\\n", "\n"),
        app.private_pem.trim_end()
    );
    assert_eq!(read["GITHUB_WEBHOOK_SECRET"], app.webhook_secret);
    assert_eq!(read["GITHUB_CLIENT_ID"], app.client_id);
    assert_eq!(read["GITHUB_CLIENT_SECRET"], app.client_secret);

    // Once only: a replay is refused without asking GitHub again, and setup is closed.
    let again = browser()
        .get(&callback)
        .header("cookie", &state_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 409);
    assert_no_secret(&app, &again.text().await.unwrap(), "a replay");
    assert_eq!(github.manifest_conversions(), 1);
    let closed = browser().get(format!("{url}/setup")).send().await.unwrap();
    assert_eq!(closed.status().as_u16(), 404);
    assert!(set_cookie(&closed, "fq_setup").is_none());
    let closed = closed.text().await.unwrap();
    assert!(
        !closed.contains("<form") && !closed.contains("manifest"),
        "{closed}"
    );
    assert_no_secret(&app, &closed, "/setup afterwards");

    // Without a restart: the waiting analysis runs, the old secret is out, the new one in.
    expect_analysed(&github, &server, &prs[0].0, 1).await;
    let (status, _) = webhook(&server, "pull_request", "old", "an-old-secret", &prs[1].1).await;
    assert_eq!(status, 401, "the old secret no longer verifies");
    let (status, text) = webhook(
        &server,
        "pull_request",
        "after",
        &app.webhook_secret,
        &prs[1].1,
    )
    .await;
    assert_eq!(status, 202, "{text}");
    assert!(!text.contains("waiting"), "{text}");
    expect_analysed(&github, &server, &prs[1].0, 2).await;
    assert!(
        github.token_requests().len() >= 2,
        "installation tokens came from the new App's JWTs"
    );

    // GitHub sign-in works with the new App's OAuth client (not the old one), no restart either.
    github.sign_in_as("octo-operator", &[INSTALLATION]);
    let start = browser().get(format!("{url}/signin")).send().await.unwrap();
    assert_eq!(start.status().as_u16(), 303);
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        authorize.starts_with(&format!(
            "{}/login/oauth/authorize?client_id={}&",
            github.url(),
            app.client_id
        )),
        "{authorize}"
    );
    let (oauth_cookie, _) = set_cookie(&start, "fq_oauth").unwrap();
    let back = browser().get(&authorize).send().await.unwrap();
    let back = back.headers()["location"].to_str().unwrap().to_owned();
    let signed_in = browser()
        .get(&back)
        .header("cookie", oauth_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        signed_in.status().as_u16(),
        303,
        "{:?}",
        signed_in.text().await
    );
    assert!(set_cookie(&signed_in, "fq_session").is_some());

    let logs = server.logs();
    assert_no_secret(&app, &logs, "serve.log");
    assert_no_secret(&app, &server.printed(), "serve's standard output");
    assert!(
        logs.contains("GitHub App created from the manifest"),
        "{logs}"
    );
    assert!(!logs.contains("ERROR"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_fly_the_settings_are_shown_once_as_the_fly_secrets_line_and_not_written() {
    let github = FakeGitHub::start(1, &shared_app_key().1).await;
    let cwd = tempfile::tempdir().unwrap();
    let server = start(
        &github,
        cwd.path(),
        &[("FLY_APP_NAME", "flext-test".into())],
    );
    server.wait_ready().await;
    let (action, manifest, state_cookie) = setup_form(&server, "").await;
    let callback = create_on_github(&action, &manifest).await;
    let app = github.created_apps().pop().unwrap();
    let done = browser()
        .get(&callback)
        .header("cookie", &state_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status().as_u16(), 200);
    assert_eq!(done.headers()["cache-control"], "no-store");
    let page = done.text().await.unwrap();
    let line = unescape(between(&page, "<pre>", "</pre>"));
    assert_eq!(
        line,
        format!(
            "fly secrets set --app flext-test GITHUB_APP_ID={} GITHUB_PRIVATE_KEY=\"{}\" GITHUB_WEBHOOK_SECRET={} GITHUB_CLIENT_ID={} GITHUB_CLIENT_SECRET={}",
            app.id,
            app.private_pem.trim_end().replace('\n', "\\n"),
            app.webhook_secret,
            app.client_id,
            app.client_secret
        )
    );
    let written: Vec<String> = std::fs::read_dir(cwd.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!written.iter().any(|n| n.contains(".env")), "{written:?}");
    // Applied at once here too: a delivery signed with the new secret is accepted.
    let ping = serde_json::to_vec(&fixture("ping", "payload.json")).unwrap();
    let (status, text) = webhook(&server, "ping", "fly-ping", &app.webhook_secret, &ping).await;
    assert_eq!(status, 202, "{text}");
    let again = browser()
        .get(&callback)
        .header("cookie", &state_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 409, "shown once");
    assert_no_secret(&app, &server.logs(), "serve.log");
    assert_no_secret(&app, &server.printed(), "serve's standard output");
}

#[tokio::test]
async fn the_fake_refuses_what_github_refuses() {
    let github = FakeGitHub::start(1, &shared_app_key().1).await;
    let good = json!({
        "name": "x", "url": "https://q.example.com",
        "hook_attributes": {"url": "https://q.example.com/webhooks/github"},
        "redirect_url": "https://q.example.com/setup/callback",
        "default_permissions": {"checks": "write"}, "default_events": ["check_run"],
    });
    let mut relative = good.clone();
    relative["hook_attributes"]["url"] = "/webhooks/github".into();
    let mut unpermitted = good.clone();
    unpermitted["default_events"] = json!(["push"]);
    for bad in [relative, unpermitted] {
        let r = browser()
            .post(format!("{}/settings/apps/new?state=s", github.url()))
            .form(&[("manifest", bad.to_string())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 422);
    }
    let refused = github.manifest_refusals();
    assert!(
        refused[0].contains("hook_attributes.url") && refused[1].contains("push"),
        "{refused:?}"
    );
    let back = create_on_github(
        &format!("{}/settings/apps/new?state=s", github.url()),
        &good,
    )
    .await;
    let code = between(&back, "code=", "&").to_owned();
    let convert = |code: String| {
        let url = format!("{}/app-manifests/{code}/conversions", github.url());
        async move {
            reqwest::Client::new()
                .post(url)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(convert(code.clone()).await, 201);
    assert_eq!(convert(code).await, 404, "a code works once");
    assert_eq!(convert("nope".into()).await, 404);
}
