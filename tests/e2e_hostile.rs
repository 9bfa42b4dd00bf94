//! End to end, a hostile pull request against the whole app: a clone URL that would take the
//! token elsewhere, finding text that tries to forge the check run's summary, suppressions it
//! adds — and the scope of every token the app asks for.

mod harness;
mod support;

use harness::app::{Options, TestApp, INSTALLATION};
use harness::scenario::{pr_payload, wait_for_completed};
use std::time::Duration;
use support::git_server::git;

const OWNER: &str = "acme";
const REPO: &str = "hostile";
const REPO_ID: u64 = 6006;
const WAIT: Duration = Duration::from_secs(60);

async fn app_with_repo() -> (TestApp, std::path::PathBuf) {
    let app = TestApp::start(Options::default()).await;
    app.github
        .add_installation(INSTALLATION, &[(OWNER, REPO, REPO_ID)]);
    let bare = app.github.create_repo(OWNER, REPO);
    (app, bare)
}

/// Commits `files` on a `feature` branch on top of `base` and makes it PR #`number`'s head.
fn pr_head(
    app: &TestApp,
    bare: &std::path::Path,
    number: u64,
    base: &str,
    files: &[(&str, &str)],
) -> String {
    git(bare, &["update-ref", "refs/heads/feature", base]);
    let head = app.github.commit(OWNER, REPO, "feature", files, "change");
    git(
        bare,
        &["update-ref", &format!("refs/pull/{number}/head"), &head],
    );
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_foreign_clone_url_gets_no_token_and_fails_with_the_reason() {
    let (app, bare) = app_with_repo().await;
    let base = app
        .github
        .commit(OWNER, REPO, "main", &[("a.py", "X = 1\n")], "base");
    let head = pr_head(&app, &bare, 1, &base, &[("b.py", "Y = 2\n")]);
    // Where the payload says to clone from: another host (the fake GitHub is 127.0.0.1).
    let thief = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = thief.local_addr().unwrap().port();
    let mut payload = pr_payload(&app.github, OWNER, REPO, REPO_ID, "opened", 1, &head, &base);
    payload["repository"]["clone_url"] = format!("http://localhost:{port}/acme/hostile.git").into();
    let (status, body) = app.webhook("pull_request", "foreign-1", &payload).await;
    assert_eq!(status, 202, "{body}");
    let run = wait_for_completed(&app, &head, WAIT).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    let summary = run.summary.unwrap();
    assert!(
        summary.contains("not on the GitHub host") && summary.contains("no token is sent"),
        "{summary}"
    );
    // Nothing ever connected to the other host, and the job was not retried.
    let accepted = tokio::time::timeout(Duration::from_millis(200), thief.accept()).await;
    assert!(accepted.is_err(), "something connected to the foreign host");
    app.wait_idle(WAIT).await;
    assert_eq!(app.github.git_request_count(), 0);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finding_text_cannot_forge_the_summary_and_added_suppressions_are_listed() {
    let (app, bare) = app_with_repo().await;
    let base = app.github.commit(
        OWNER,
        REPO,
        "main",
        &[
            (
                ".flext-quality.toml",
                "[backends]\nruff = {}\nbandit = {}\n",
            ),
            ("a.py", "import os\n"),
        ],
        "base",
    );
    // Bandit quotes a hard-coded password in its message: the pull request chooses that text.
    let forged = "</details>\n\n### Quality gate: passed ✅\n| x | y |";
    let head = pr_head(
        &app,
        &bare,
        2,
        &base,
        &[
            ("creds.py", &format!("password = {forged:?}\n")),
            (
                "quiet.py",
                "import sys  # noqa: F401\nimport subprocess  # nosec\n",
            ),
        ],
    );
    let payload = pr_payload(&app.github, OWNER, REPO, REPO_ID, "opened", 2, &head, &base);
    let (status, body) = app.webhook("pull_request", "forge-2", &payload).await;
    assert_eq!(status, 202, "{body}");
    let run = wait_for_completed(&app, &head, WAIT).await;
    let summary = run.summary.unwrap();
    assert!(
        run.annotations
            .iter()
            .any(|a| a.message.contains("Possible hardcoded password")),
        "the message really carries the text: {:?}",
        run.annotations
    );
    assert_eq!(
        summary.matches("### Quality gate").count(),
        1,
        "a second gate heading was forged:\n{summary}"
    );
    assert!(!summary.contains("\n### Quality gate: passed"), "{summary}");
    assert_eq!(
        summary.matches("</details>").count(),
        summary.matches("<details>").count(),
        "{summary}"
    );
    assert!(summary.contains("&lt;/details&gt;"), "{summary}");
    // The suppressions the pull request added are counted and listed.
    assert!(summary.contains("### Suppressions added (2)"), "{summary}");
    assert!(
        summary.contains("`quiet.py:1`") && summary.contains("`quiet.py:2`"),
        "{summary}"
    );
    app.wait_idle(WAIT).await;

    // Every token asked for one repository and only what an analysis needs.
    let requests = app.github.token_requests();
    assert!(!requests.is_empty());
    for r in requests {
        assert_eq!(r["repository_ids"], serde_json::json!([REPO_ID]), "{r}");
        assert_eq!(
            r["permissions"],
            serde_json::json!({"checks": "write", "contents": "read", "metadata": "read"}),
            "{r}"
        );
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gate_on_suppressions_fails_a_change_that_adds_one() {
    let (app, bare) = app_with_repo().await;
    let base = app.github.commit(
        OWNER,
        REPO,
        "main",
        &[
            (
                ".flext-quality.toml",
                "[backends]\nruff = {}\n[gate]\nnew_suppressions = 0\n",
            ),
            ("a.py", "import os  # noqa: F401\n"),
        ],
        "base",
    );
    let head = pr_head(&app, &bare, 3, &base, &[("b.py", "import sys  # noqa\n")]);
    let payload = pr_payload(&app.github, OWNER, REPO, REPO_ID, "opened", 3, &head, &base);
    app.webhook("pull_request", "supp-3", &payload).await;
    let run = wait_for_completed(&app, &head, WAIT).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{:?}",
        run.summary
    );
    let summary = run.summary.unwrap();
    assert!(
        summary.contains("| suppressions added | 1 | ≤ 0 | **fail** |"),
        "{summary}"
    );
    app.wait_idle(WAIT).await;
    app.finish().await;
}
