//! A newcomer's first hour, with the real binary started the way the README says: `serve` from a
//! fresh working directory with no data or tools dir set (the tools are found where the default
//! says), a signed pull request webhook from GitHub's own examples, and the check run the fake
//! GitHub then shows; `analyze` from an unrelated folder; and a server without a GitHub App that
//! explains itself and keeps its analyses waiting.

mod harness;
mod support;

use harness::dsl::SECRET;
use harness::pull::pull_request;
use harness::server::{command, Server};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_from_a_fresh_folder_analyses_a_pull_request() {
    // The tools must be where the default says: the test script installs them there.
    let default_tools = flext_quality::config::default_tools_dir();
    assert!(
        flext_quality::tools::is_installed(&default_tools),
        "the pinned tools are not in {}: run scripts/test.sh",
        default_tools.display()
    );
    let pr = pull_request().await;
    let cwd = tempfile::tempdir().unwrap();
    let server = Server::start(cwd.path(), &pr.app_settings());
    server.wait_ready().await;
    let (status, text) = server.webhook("pull_request", &pr.payload).await;
    assert_eq!(status, 202, "{text}");
    pr.expect_ruff_findings(&server).await;
    // `serve` printed a one-time sign-in link; opening it shows the dashboard with the project.
    let printed = server.printed();
    let link = printed
        .split_whitespace()
        .find(|w| w.contains("/signin/token/"))
        .unwrap_or_else(|| panic!("no sign-in link printed: {printed}"));
    let path = &link[link.find("/signin/").unwrap()..];
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = browser
        .get(format!("{}{path}", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status().as_u16(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = browser
        .get(format!("{}/", server.url()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    // minijinja escapes `/` in text as `&#x2f;`.
    assert!(
        html.contains("acme&#x2f;first") && html.contains("/projects/5005"),
        "the dashboard lists the analysed project:\n{html}"
    );
    assert!(
        !server.logs().contains(&path[14..]),
        "the link is printed, never logged"
    );
    assert!(
        cwd.path().join(".data/flext-quality.db").is_file(),
        "the SQLite database is in ./.data of the working directory"
    );
    let logs = server.logs();
    assert!(
        !logs.contains('\u{1b}'),
        "no colour codes when not on a terminal:\n{logs}"
    );
    assert!(!logs.contains("ERROR"), "{logs}");
    let mut server = server;
    assert!(server.stop(), "SIGTERM stops serve:\n{}", server.logs());
    assert_eq!(
        server.leftovers(),
        Vec::<String>::new(),
        "a stopped server leaves nothing in its TMPDIR"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_works_from_an_unrelated_folder() {
    let project = tempfile::tempdir().unwrap();
    std::fs::write(project.path().join("app.py"), "print(undefined_name)\n").unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = command(elsewhere.path(), &["analyze", "--format", "json"])
        .arg(project.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "F821" && f["path"] == "app.py"),
        "{json:#}"
    );
    // Nothing was written next to the folder it was started from, except the cache dir.
    let left: Vec<String> = std::fs::read_dir(elsewhere.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.iter().all(|n| n == ".data"), "{left:?}");

    let missing = command(elsewhere.path(), &["analyze", "no/such/dir"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));

    // Tools missing and installing refused: exactly which command would install them.
    let empty_tools = tempfile::tempdir().unwrap();
    let refused = command(elsewhere.path(), &["analyze", "--no-install"])
        .arg(project.path())
        .env("FLEXT_QUALITY_TOOLS_DIR", empty_tools.path())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("not installed") && stderr.contains("flext-quality tools install"),
        "{stderr}"
    );

    let help = command(elsewhere.path(), &["analyze", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for needle in [
        "--base",
        "--sandbox",
        "--no-install",
        "FLEXT_QUALITY_TOOLS_DIR",
    ] {
        assert!(help.contains(needle), "{needle} in:\n{help}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_without_an_app_explains_itself_and_keeps_analyses_waiting() {
    let pr = pull_request().await;
    let cwd = tempfile::tempdir().unwrap();
    let server = Server::start(cwd.path(), &[("GITHUB_WEBHOOK_SECRET", SECRET.to_owned())]);
    server.wait_ready().await;
    let (status, text) = server.webhook("pull_request", &pr.payload).await;
    assert_eq!(status, 202, "{text}");
    assert!(text.contains("waiting for GitHub App settings"), "{text}");
    let ready = reqwest::get(format!("{}/readyz", server.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        ready.contains("wait for the GitHub App settings"),
        "{ready}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let logs = server.logs();
    assert!(
        logs.contains("running without a GitHub App")
            && logs.contains("Now:")
            && logs.contains("Next:"),
        "{logs}"
    );
    assert!(!logs.contains("ERROR"), "nothing retried in vain:\n{logs}");
    assert!(
        pr.github.check_runs_for(&pr.head).is_empty(),
        "nothing ran without the App"
    );
    drop(server);

    // Once the settings are there, the waiting analysis runs: nothing was lost.
    let server = Server::start(cwd.path(), &pr.app_settings());
    server.wait_ready().await;
    pr.expect_ruff_findings(&server).await;
}
