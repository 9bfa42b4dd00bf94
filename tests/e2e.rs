//! End to end: signed webhooks into the real router, real workers, a real database, real git
//! repositories served over smart HTTP by the fake GitHub, the real Ruff — and the check runs
//! GitHub would show.

mod harness;
mod support;

use harness::app::{fixture, retarget, Options, TestApp, INSTALLATION};
use harness::scenario::{pr_payload, push_payload, wait_for_completed};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use support::git_server::git;

const OWNER: &str = "acme";
const REPO: &str = "widgets";
const REPO_ID: u64 = 1001;

const LIB_V1: &str = r#""""Legacy helpers."""

import os


def legacy_path():
    return os.path.join("a", "b") + undefined_legacy
"#;

/// The same module with ten lines added above the old finding.
fn lib_v2() -> String {
    let constants: String = (0..10).map(|i| format!("LIMIT_{i} = {i}\n")).collect();
    LIB_V1.replacen("import os\n", &format!("import os\n\n{constants}"), 1)
}

const NEW_WITH_PROBLEMS: &str = r#""""New feature."""

import sys


def feature():
    return undefined_name
"#;

const NEW_CLEAN: &str = r#""""New feature."""


def feature():
    return 42
"#;

/// Ruff's own findings on a tree, run bare: (path, rule, message) — the oracle for "new".
fn bare_ruff(bare_repo: &std::path::Path, sha: &str) -> Vec<(String, String, String, String)> {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    git(
        dir.path(),
        &["fetch", "-q", bare_repo.to_str().unwrap(), sha],
    );
    git(dir.path(), &["checkout", "-q", sha]);
    let ruff = harness::tools::tool("ruff");
    let out = std::process::Command::new(ruff)
        .args([
            "check",
            "--output-format=json",
            "--exit-zero",
            "--isolated",
            "--no-cache",
            ".",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let root = dir.path().canonicalize().unwrap();
    let findings: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    findings
        .iter()
        .map(|f| {
            let path = std::path::Path::new(f["filename"].as_str().unwrap())
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let row = f["location"]["row"].as_u64().unwrap() as usize;
            let text = std::fs::read_to_string(root.join(&path)).unwrap();
            let line = text
                .lines()
                .nth(row - 1)
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            (
                path,
                f["code"].as_str().unwrap_or("invalid-syntax").to_owned(),
                f["message"].as_str().unwrap().to_owned(),
                line,
            )
        })
        .collect()
}

/// Findings in `head` whose (path, rule, message, line text) is not in `base`, counted as a multiset.
fn oracle_new(
    base: &[(String, String, String, String)],
    head: &[(String, String, String, String)],
) -> BTreeSet<(String, String, String)> {
    let mut remaining = base.to_vec();
    let mut new = BTreeSet::new();
    for h in head {
        if let Some(i) = remaining.iter().position(|b| b == h) {
            remaining.remove(i);
        } else {
            new.insert((h.0.clone(), h.1.clone(), h.2.clone()));
        }
    }
    new
}

async fn pull_request_is_judged_on_what_it_adds(engine: flext_quality::store::Engine) {
    let app = TestApp::start(Options {
        engine,
        ..Options::default()
    })
    .await;
    app.github
        .add_installation(INSTALLATION, &[(OWNER, REPO, REPO_ID)]);
    let bare = app.github.create_repo(OWNER, REPO);
    // The base branch's config chooses Ruff alone, so Ruff run bare is the oracle below.
    let main1 = app.github.commit(
        OWNER,
        REPO,
        "main",
        &[
            ("lib.py", LIB_V1),
            (".flext-quality.toml", "[backends]\nruff = {}\n"),
        ],
        "legacy",
    );

    // The default branch is analysed on push: it becomes the base later PRs compare with.
    let (status, body) = app
        .webhook(
            "push",
            "delivery-push-1",
            &push_payload(&app.github, OWNER, REPO, REPO_ID, &"0".repeat(40), &main1),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let base_run = wait_for_completed(&app, &main1, Duration::from_secs(60)).await;
    assert_eq!(base_run.name, "flext-quality");
    assert_eq!(
        base_run.conclusion.as_deref(),
        Some("failure"),
        "a push is gated on the whole code: {:?}",
        base_run.summary
    );
    assert!(base_run
        .annotations
        .iter()
        .any(|a| a.path == "lib.py" && a.title.as_deref().unwrap_or("").contains("F821")));
    app.wait_idle(Duration::from_secs(30)).await;

    // A pull request that shifts the old finding by ten lines and adds two problems — and
    // tries to switch off the rule it breaks, which it cannot: the config comes from the base.
    git(&bare, &["update-ref", "refs/heads/feature", &main1]);
    let head1 = app.github.commit(
        OWNER,
        REPO,
        "feature",
        &[
            ("lib.py", &lib_v2()),
            ("feature.py", NEW_WITH_PROBLEMS),
            (
                ".flext-quality.toml",
                "[backends]\nruff = { ignore = [\"F821\", \"F401\"] }\n",
            ),
        ],
        "feature",
    );
    git(&bare, &["update-ref", "refs/pull/1/head", &head1]);
    let requests_before = app.github.api_request_count();
    let git_before = app.github.git_request_count();
    let sent = Instant::now();
    let (status, body) = app
        .webhook(
            "pull_request",
            "delivery-pr-1",
            &pr_payload(
                &app.github,
                OWNER,
                REPO,
                REPO_ID,
                "opened",
                1,
                &head1,
                &main1,
            ),
        )
        .await;
    let ack = sent.elapsed();
    assert_eq!(status, 202, "{body}");
    assert!(ack < Duration::from_secs(2), "webhook answered in {ack:?}");
    let run = wait_for_completed(&app, &head1, Duration::from_secs(60)).await;
    let elapsed = sent.elapsed();
    app.wait_idle(Duration::from_secs(30)).await;
    let requests = app.github.api_request_count() - requests_before;
    let git_requests = app.github.git_request_count() - git_before;
    println!(
        "webhook→completed check run: {elapsed:?} (202 after {ack:?}); GitHub API requests: {requests}; git HTTP requests: {git_requests}"
    );
    assert_eq!(
        requests,
        2,
        "create in progress, then complete with the annotations: {:?}",
        app.github.requests()
    );

    assert_eq!(
        run.history.first().map(|h| h.status.as_str()),
        Some("in_progress"),
        "created in progress: {:?}",
        run.history
    );
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    let title = run.title.clone().unwrap();
    assert!(
        title.starts_with("Grade ") && title.contains(" new finding"),
        "{title}"
    );
    let annotated: BTreeSet<(String, String, String)> = run
        .annotations
        .iter()
        .map(|a| {
            let rule = a
                .title
                .as_deref()
                .unwrap()
                .split_whitespace()
                .nth(1)
                .unwrap()
                .to_owned();
            (a.path.clone(), rule, a.message.clone())
        })
        .collect();
    let expected = oracle_new(&bare_ruff(&bare, &main1), &bare_ruff(&bare, &head1));
    assert_eq!(
        annotated, expected,
        "annotations are exactly Ruff's new findings"
    );
    assert_eq!(
        annotated.len(),
        run.annotations.len(),
        "no annotation repeated"
    );
    assert!(annotated
        .iter()
        .any(|(p, r, _)| p == "feature.py" && r == "F821"));
    assert!(annotated
        .iter()
        .any(|(p, r, _)| p == "feature.py" && r == "F401"));
    assert!(
        !run.annotations
            .iter()
            .any(|a| a.path == "lib.py" && a.message.contains("undefined_legacy")),
        "the shifted finding is not new"
    );
    let summary = run.summary.clone().unwrap();
    for needle in [
        "Quality gate: failed",
        "new major findings",
        "security",
        "reliability",
        "maintainability",
        "fixed",
        "ruff",
    ] {
        assert!(
            summary.contains(needle),
            "summary lacks {needle:?}:\n{summary}"
        );
    }
    // Saved: the analysis, its findings, score, grade, verdict, timings and tool version.
    let analysis = app
        .store
        .find_analysis(REPO_ID as i64, &head1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (analysis.status.as_str(), analysis.verdict.as_deref()),
        ("completed", Some("failure"))
    );
    assert_eq!(analysis.compared_sha.as_deref(), Some(main1.as_str()));
    assert!(
        analysis.tool_versions.as_deref().unwrap().contains("0.17"),
        "{:?}",
        analysis.tool_versions
    );
    assert_eq!(analysis.new_count, Some(expected.len() as i64));
    let saved = app.store.load_findings(analysis.id).await.unwrap();
    assert_eq!(saved.iter().filter(|(_, new)| *new).count(), expected.len());

    // GitHub redelivers: nothing runs twice.
    let (status, body) = app
        .webhook(
            "pull_request",
            "delivery-pr-1",
            &pr_payload(
                &app.github,
                OWNER,
                REPO,
                REPO_ID,
                "opened",
                1,
                &head1,
                &main1,
            ),
        )
        .await;
    assert_eq!((status, body.contains("duplicate")), (202, true), "{body}");
    // Another event for the same commit reuses the analysis.
    let mut suite = fixture("check_suite", "requested.with-organization.payload.json");
    retarget(&mut suite, &app.github, OWNER, REPO, REPO_ID);
    suite["check_suite"]["head_sha"] = head1.clone().into();
    suite["check_suite"]["head_branch"] = "feature".into();
    suite["check_suite"]["pull_requests"] = json!([{ "number": 1, "head": { "ref": "feature", "sha": head1 }, "base": { "ref": "main", "sha": main1 } }]);
    let (status, body) = app.webhook("check_suite", "delivery-suite-1", &suite).await;
    assert_eq!(
        (status, body.contains("already analysed")),
        (202, true),
        "{body}"
    );
    app.wait_idle(Duration::from_secs(30)).await;
    assert_eq!(
        app.github.check_runs_for(&head1).len(),
        1,
        "one check run per commit"
    );

    // The follow-up push removes both problems: the gate passes.
    let head2 = app
        .github
        .commit(OWNER, REPO, "feature", &[("feature.py", NEW_CLEAN)], "fix");
    git(&bare, &["update-ref", "refs/pull/1/head", &head2]);
    let (status, _) = app
        .webhook(
            "pull_request",
            "delivery-pr-2",
            &pr_payload(
                &app.github,
                OWNER,
                REPO,
                REPO_ID,
                "synchronize",
                1,
                &head2,
                &main1,
            ),
        )
        .await;
    assert_eq!(status, 202);
    let run2 = wait_for_completed(&app, &head2, Duration::from_secs(60)).await;
    assert_eq!(
        run2.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        run2.summary
    );
    let new2 = oracle_new(&bare_ruff(&bare, &main1), &bare_ruff(&bare, &head2));
    assert_eq!(run2.annotations.len(), new2.len(), "{:?}", run2.annotations);
    assert!(run2
        .annotations
        .iter()
        .all(|a| a.annotation_level != "failure"));
    app.wait_idle(Duration::from_secs(30)).await;
    app.github.check_runs();

    // Secrets never reach the logs or the disk (installation tokens all start with ghs_).
    let logs = harness::app::logs();
    assert!(
        logs.contains("analysis complete"),
        "debug logs were captured: {} bytes: {}",
        logs.len(),
        &logs[..logs.len().min(3000)]
    );
    for secret in ["ghs_", harness::app::SECRET, "PRIVATE KEY"] {
        assert!(!logs.contains(secret), "{secret:?} appears in the logs");
        let leaked = harness::app::files_containing(&app.settings.data_dir, secret);
        assert!(leaked.is_empty(), "{secret:?} written to {leaked:?}");
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pull_request_is_judged_on_what_it_adds_postgres() {
    pull_request_is_judged_on_what_it_adds(flext_quality::store::Engine::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pull_request_is_judged_on_what_it_adds_sqlite() {
    pull_request_is_judged_on_what_it_adds(flext_quality::store::Engine::Sqlite).await;
}
