//! End to end: signed webhooks into the real router, real workers, a real database, real git
//! repositories served over smart HTTP by the fake GitHub, the real Ruff — and the check runs
//! GitHub would show.

mod harness;
mod support;

use flext_quality::domain::status::{AnalysisStatus, JobKind};
use harness::dsl::{run_test, Options, Tester};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use support::git_server::git;

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

async fn pull_request_is_judged_on_what_it_adds(options: Options) {
    run_test(options, |t| async move { judged_on_what_it_adds(&t).await }).await;
}

async fn judged_on_what_it_adds(t: &Tester) {
    let repo = t.repo("acme/widgets");
    // The base branch's config chooses Ruff alone, so Ruff run bare is the oracle below.
    let main1 = repo.commit(
        "main",
        &[
            ("lib.py", LIB_V1),
            (".flext-quality.toml", "[backends]\nruff = {}\n"),
        ],
    );

    // The default branch is analysed on push: it becomes the base later PRs compare with.
    repo.push(None, &main1).await;
    let base_run = t.expect_check_run(&main1).await;
    assert_eq!(base_run.name, "flext-quality");
    // The branch's first analysis is its baseline: nothing in it is new.
    assert_eq!(
        base_run.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        base_run.summary
    );
    assert!(base_run.annotations.is_empty());
    assert!(base_run
        .summary
        .as_deref()
        .unwrap()
        .contains("this one is the baseline"));

    // A pull request that shifts the old finding by ten lines and adds two problems — and
    // tries to switch off the rule it breaks, which it cannot: the config comes from the base.
    let requests_before = t.github().api_request_count();
    let git_before = t.github().git_request_count();
    let sent = Instant::now();
    let pr = repo
        .open_pr(
            1,
            &main1,
            &[
                ("lib.py", &lib_v2()),
                ("feature.py", NEW_WITH_PROBLEMS),
                (
                    ".flext-quality.toml",
                    "[backends]\nruff = { ignore = [\"F821\", \"F401\"] }\n",
                ),
            ],
        )
        .await;
    let ack = sent.elapsed();
    assert!(ack < Duration::from_secs(2), "webhook answered in {ack:?}");
    let run = t.expect_check_run(&pr.head).await;
    let elapsed = sent.elapsed();
    let comment = t.expect_pr_comment(&pr).await;
    let requests = t.github().api_request_count() - requests_before;
    let git_requests = t.github().git_request_count() - git_before;
    println!(
        "webhook→completed check run: {elapsed:?} (202 after {ack:?}); GitHub API requests: {requests}; git HTTP requests: {git_requests}"
    );
    let operations: Vec<String> = t.github().requests()[requests_before..]
        .iter()
        .map(|r| r.operation.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        operations,
        [
            "checks/create",
            "checks/update",
            "apps/create-installation-access-token",
            "issues/create-comment"
        ],
        "the check run created in progress and completed with the annotations, then the comment posted (with the first token for comments)"
    );
    assert_eq!(requests, 4);
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
    let expected = oracle_new(
        &bare_ruff(&repo.bare, &main1),
        &bare_ruff(&repo.bare, &pr.head),
    );
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
    // Saved: the analysis, its findings, score, grade, verdict and the config it ran under;
    // published through one outbox task.
    let analysis = t
        .store()
        .find_analysis(repo.id as i64, &pr.head)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(analysis.status, AnalysisStatus::Completed);
    assert_eq!(
        analysis.verdict,
        Some(flext_quality::domain::gate::Verdict::Failure)
    );
    assert_eq!(analysis.compared_sha.as_deref(), Some(main1.as_str()));
    assert_eq!(analysis.config_key.len(), 16, "{analysis:?}");
    assert_eq!(analysis.new_count, Some(expected.len() as i64));
    let saved = t.store().load_findings(analysis.id).await.unwrap();
    assert_eq!(saved.iter().filter(|f| f.is_new).count(), expected.len());
    let details = t.store().analysis_details(analysis.id).await.unwrap();
    assert!(
        details.backends.iter().any(
            |b| b.name == "ruff" && b.version.as_deref().is_some_and(|v| v.starts_with("0.17"))
        ),
        "{:?}",
        details.backends
    );
    let jobs = t.store().jobs_of_analysis(analysis.id).await.unwrap();
    let kinds: Vec<JobKind> = jobs.iter().map(|j| j.kind).collect();
    // The analysis, then one publish job per sink: the check run and the comment.
    assert_eq!(
        kinds,
        [JobKind::Analyse, JobKind::Publish, JobKind::Publish],
        "{jobs:?}"
    );

    // GitHub redelivers: nothing runs twice.
    let pr_payload = repo.pr_payload("opened", 1, &pr.head, &main1);
    let (status, body) = t
        .webhook_as("pull_request", "redelivered", &pr_payload)
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = t
        .webhook_as("pull_request", "redelivered", &pr_payload)
        .await;
    assert_eq!((status, body.contains("duplicate")), (202, true), "{body}");
    // Another event for the same commit reuses the analysis.
    let mut suite = repo.payload("check_suite", "requested.with-organization.payload.json");
    suite["check_suite"]["head_sha"] = pr.head.clone().into();
    suite["check_suite"]["head_branch"] = "feature".into();
    suite["check_suite"]["pull_requests"] = json!([{ "number": 1, "head": { "ref": "feature", "sha": pr.head }, "base": { "ref": "main", "sha": main1 } }]);
    let (status, body) = t.webhook("check_suite", &suite).await;
    assert_eq!(
        (status, body.contains("already analysed")),
        (202, true),
        "{body}"
    );
    t.wait_idle().await;
    assert_eq!(
        t.github().check_runs_for(&pr.head).len(),
        1,
        "one check run per commit"
    );

    // The follow-up push removes both problems: the gate passes.
    let mut pr = pr;
    let head2 = pr.push(&[("feature.py", NEW_CLEAN)]).await;
    let run2 = t.expect_check_run(&head2).await;
    // The same comment, edited: still exactly one, now showing the passing head.
    let comment2 = t.expect_pr_comment(&pr).await;
    assert_eq!(comment2.id, comment.id);
    assert!(comment2.revision > comment.revision);
    assert!(
        comment2.body.contains("no new findings"),
        "{}",
        comment2.body
    );
    assert_eq!(
        run2.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        run2.summary
    );
    let new2 = oracle_new(
        &bare_ruff(&repo.bare, &main1),
        &bare_ruff(&repo.bare, &head2),
    );
    assert_eq!(run2.annotations.len(), new2.len(), "{:?}", run2.annotations);
    assert!(run2
        .annotations
        .iter()
        .all(|a| a.annotation_level != "failure"));

    // Secrets never reach the logs or the disk (installation tokens all start with ghs_).
    let logs = harness::dsl::logs();
    assert!(
        logs.contains("analysis complete"),
        "debug logs were captured: {} bytes: {}",
        logs.len(),
        &logs[..logs.len().min(3000)]
    );
    for secret in ["ghs_", harness::dsl::SECRET, "PRIVATE KEY"] {
        assert!(!logs.contains(secret), "{secret:?} appears in the logs");
        let leaked = harness::dsl::files_containing(&t.settings().data_dir, secret);
        assert!(leaked.is_empty(), "{secret:?} written to {leaked:?}");
    }
}

on_both_databases!(pull_request_is_judged_on_what_it_adds);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_pull_request_test_takes_ten_lines() {
    run_test(Options::default(), |t| async move {
        let repo = t.repo("acme/ten");
        let base = repo.commit("main", &[("a.py", "X = 1\n")]);
        let pr = repo
            .open_pr(1, &base, &[("b.py", "print(missing)\n")])
            .await;
        let run = t.expect_check_run(&pr.head).await;
        assert_eq!(run.conclusion.as_deref(), Some("failure"));
        assert!(run
            .annotations
            .iter()
            .any(|a| a.message == "Undefined name `missing`"));
        assert!(t
            .expect_pr_comment(&pr)
            .await
            .body
            .contains("Undefined name"));
    })
    .await;
}
