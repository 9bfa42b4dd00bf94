//! End to end, the repository config: read from the base branch, errors shown in the check
//! run with the key and line, the gate tightened, annotations on changed lines only, and a
//! neutral verdict when nothing can be analysed.

mod harness;
mod support;

use harness::app::{Options, TestApp, INSTALLATION};
use harness::scenario::{pr_payload, push_payload, wait_for_completed};
use std::time::Duration;
use support::git_server::git;

const OWNER: &str = "acme";
const REPO: &str = "configured";
const REPO_ID: u64 = 3003;
const WAIT: Duration = Duration::from_secs(60);

async fn app_with_repo() -> (TestApp, std::path::PathBuf) {
    let app = TestApp::start(Options::default()).await;
    app.github
        .add_installation(INSTALLATION, &[(OWNER, REPO, REPO_ID)]);
    let bare = app.github.create_repo(OWNER, REPO);
    (app, bare)
}

/// Opens PR #`number` from a `feature` branch made of `files` on top of `base`.
async fn open_pr(
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
    let payload = pr_payload(
        &app.github,
        OWNER,
        REPO,
        REPO_ID,
        "opened",
        number,
        &head,
        base,
    );
    let (status, body) = app
        .webhook("pull_request", &format!("pr-{number}-{head}"), &payload)
        .await;
    assert_eq!(status, 202, "{body}");
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalid_config_is_shown_with_its_key_and_line() {
    let (app, bare) = app_with_repo().await;
    let base = app.github.commit(
        OWNER,
        REPO,
        "main",
        &[
            ("a.py", "X = 1\n"),
            (
                ".flext-quality.toml",
                "[backends]\nruff = {}\n\n[gate]\nmin_scroe = 80\n",
            ),
        ],
        "typo",
    );
    let head = open_pr(&app, &bare, 1, &base, &[("b.py", "Y = 2\n")]).await;
    let run = wait_for_completed(&app, &head, WAIT).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    let summary = run.summary.unwrap();
    assert!(
        summary.contains(".flext-quality.toml:5") && summary.contains("min_scroe"),
        "{summary}"
    );
    let analysis = app
        .store
        .find_analysis(REPO_ID as i64, &head)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(analysis.status, "failed");
    app.wait_idle(WAIT).await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_base_config_tightens_the_gate_and_limits_annotations_to_changed_lines() {
    let (app, bare) = app_with_repo().await;
    // An old minor finding (unused import) on the base; the config wants changed lines only
    // annotated and no new minor findings at all.
    let config = "[backends]\nruff = {}\n\n[gate]\nnew = { minor = 0 }\n\n[report]\nannotate = \"changed-lines\"\n";
    let base = app.github.commit(
        OWNER,
        REPO,
        "main",
        &[
            ("old.py", "import os\n\nVALUE = 1\n"),
            (".flext-quality.toml", config),
        ],
        "base",
    );
    let (status, _) = app
        .webhook(
            "push",
            "push-base",
            &push_payload(&app.github, OWNER, REPO, REPO_ID, &"0".repeat(40), &base),
        )
        .await;
    assert_eq!(status, 202);
    let base_run = wait_for_completed(&app, &base, WAIT).await;
    assert_eq!(
        base_run.conclusion.as_deref(),
        Some("failure"),
        "whole code gated: the old minor finding fails `new minor ≤ 0`"
    );
    app.wait_idle(WAIT).await;

    // The PR touches old.py below the old finding and adds a new unused import elsewhere.
    let head = open_pr(
        &app,
        &bare,
        2,
        &base,
        &[
            ("old.py", "import os\n\nVALUE = 2\n"),
            ("new.py", "import sys\n\nOTHER = 3\n"),
        ],
    )
    .await;
    let run = wait_for_completed(&app, &head, WAIT).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "a new minor finding fails the tightened gate"
    );
    let summary = run.summary.clone().unwrap();
    assert!(
        summary.contains("new minor findings | 1 | ≤ 0 | **fail**"),
        "{summary}"
    );
    let paths: Vec<(&str, i64)> = run
        .annotations
        .iter()
        .map(|a| (a.path.as_str(), a.start_line))
        .collect();
    // Changed lines: new.py line 1 (new), not old.py line 1 (unchanged line of an old finding).
    assert_eq!(paths, [("new.py", 1)], "{:?}", run.annotations);
    app.wait_idle(WAIT).await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_to_analyse_is_neutral_with_the_reason() {
    let (app, bare) = app_with_repo().await;
    let base = app.github.commit(
        OWNER,
        REPO,
        "main",
        &[("README.md", "# docs only\n")],
        "docs",
    );
    let head = open_pr(&app, &bare, 3, &base, &[("CHANGELOG.md", "- more docs\n")]).await;
    let run = wait_for_completed(&app, &head, WAIT).await;
    assert_eq!(run.conclusion.as_deref(), Some("neutral"));
    let summary = run.summary.unwrap();
    assert!(
        summary.contains("nothing to analyse") && summary.contains("no Python files"),
        "{summary}"
    );
    app.wait_idle(WAIT).await;
    app.finish().await;
}
