//! A newcomer's first hour, with the real binary started the way the README says: `serve` from a
//! fresh working directory with no data or tools dir set (the tools are found where the default
//! says), a signed pull request webhook from GitHub's own examples, and the check run the fake
//! GitHub then shows; `analyze` from an unrelated folder; and a server without a GitHub App that
//! explains itself and keeps its analyses waiting.

mod harness;
mod support;

use harness::dsl::{fixture, APP_ID, INSTALLATION, SECRET};
use harness::server::{command, Server};
use std::time::{Duration, Instant};
use support::{shared_app_key, FakeGitHub};

/// A fake GitHub with one installed repository and a pull request (base `a.py`, head adding a
/// `b.py` Ruff objects to), and GitHub's own example payload pointed at it.
struct PullRequest {
    github: FakeGitHub,
    private_pem: String,
    head: String,
    payload: Vec<u8>,
}

async fn pull_request() -> PullRequest {
    let (private_pem, public_pem) = shared_app_key();
    let github = FakeGitHub::start(APP_ID, public_pem).await;
    github.add_installation(INSTALLATION, &[("acme", "first", 5005)]);
    github.create_repo("acme", "first");
    let base = github.commit("acme", "first", "main", &[("a.py", "X = 1\n")], "base");
    let bare = github.repo_path("acme", "first");
    support::git_server::git(&bare, &["update-ref", "refs/heads/feature", &base]);
    let head = github.commit(
        "acme",
        "first",
        "feature",
        &[("b.py", "import os\nprint(undefined_name)\n")],
        "feature",
    );
    support::git_server::git(&bare, &["update-ref", "refs/pull/1/head", &head]);
    let mut p = fixture("pull_request", "opened.payload.json");
    p["repository"]["id"] = 5005.into();
    p["repository"]["full_name"] = "acme/first".into();
    p["repository"]["clone_url"] = github.clone_url("acme", "first").into();
    p["repository"]["default_branch"] = "main".into();
    p["installation"] = serde_json::json!({ "id": INSTALLATION, "node_id": "MDIz" });
    p["number"] = 1.into();
    p["pull_request"]["head"]["sha"] = head.clone().into();
    p["pull_request"]["base"]["sha"] = base.clone().into();
    p["pull_request"]["base"]["ref"] = "main".into();
    PullRequest {
        github,
        private_pem: private_pem.to_string(),
        head,
        payload: serde_json::to_vec(&p).unwrap(),
    }
}

impl PullRequest {
    fn app_settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GITHUB_APP_ID", APP_ID.to_string()),
            ("GITHUB_PRIVATE_KEY", self.private_pem.clone()),
            ("GITHUB_WEBHOOK_SECRET", SECRET.to_owned()),
            ("GITHUB_API_URL", self.github.url()),
        ]
    }

    /// The completed check run on the head, consumed, with the real Ruff findings asserted.
    async fn expect_ruff_findings(&self, server: &Server) {
        let started = Instant::now();
        let run = loop {
            if let Some(r) = self
                .github
                .check_runs_for(&self.head)
                .into_iter()
                .find(|r| r.status == "completed")
            {
                break r;
            }
            assert!(
                started.elapsed() < Duration::from_secs(180),
                "no completed check run after 180 s:\n{}",
                server.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // Let the publish job finish before looking.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let run = self.github.consume_check_run(run.id).unwrap();
        assert_eq!(
            run.conclusion.as_deref(),
            Some("failure"),
            "{:?}",
            run.summary
        );
        let messages: Vec<&str> = run.annotations.iter().map(|a| a.message.as_str()).collect();
        assert!(
            messages.contains(&"Undefined name `undefined_name`")
                && messages.contains(&"`os` imported but unused"),
            "the real Ruff findings: {messages:?}\n{:?}\n{}",
            run.summary,
            server.logs()
        );
        // And the pull request's one comment, once its publish job ran.
        let started = Instant::now();
        let comment = loop {
            if let Some(c) = self
                .github
                .issue_comments("acme", "first", 1)
                .into_iter()
                .next()
            {
                break c;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no pull request comment:\n{}",
                server.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let comment = self.github.consume_comment(comment.id).unwrap();
        assert!(comment.body.contains("Undefined name"), "{}", comment.body);
    }
}

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
