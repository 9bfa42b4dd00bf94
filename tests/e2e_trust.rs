//! End to end, findings people trust: copies of a finding are paired with the base along the
//! diff, so an inserted copy is annotated where it was inserted, and a renamed file brings its
//! findings along; test code is test code. Real Bandit, real git, the fake GitHub.

mod harness;
mod support;

use harness::dsl::{run_test, Options};
use support::git_server::DELETED;

const ASSERT: &str = "assert __name__ != \"x\"";

fn checks() -> String {
    format!("VALUE = 1\n{ASSERT}\nprint(VALUE)\n{ASSERT}\n")
}

/// The lines of `path` annotated with Bandit's B101.
fn b101_lines(run: &support::CheckRun, path: &str) -> Vec<i64> {
    let mut lines: Vec<i64> = run
        .annotations
        .iter()
        .filter(|a| a.path == path && a.title.as_deref().unwrap_or("").contains("B101"))
        .map(|a| a.start_line)
        .collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_inserted_copy_is_annotated_where_it_was_inserted() {
    run_test(Options::default(), |t| async move {
        let repo = t.repo("acme/copies");
        let base = repo.commit("main", &[("checks.py", &checks())]);
        repo.push(None, &base).await;
        t.expect_check_run(&base).await;

        // A third identical assert on top: lines 3 and 5 are the old copies, moved down.
        let pr = repo
            .open_pr(
                1,
                &base,
                &[("checks.py", &format!("{ASSERT}\n{}", checks()))],
            )
            .await;
        let run = t.expect_check_run(&pr.head).await;
        assert_eq!(
            b101_lines(&run, "checks.py"),
            [1],
            "the inserted line, not the last copy: {:?}",
            run.annotations
        );
        assert!(run.summary.unwrap().contains("**1 new**, **0 fixed**"));
        let comment = t.expect_pr_comment(&pr).await.body;
        assert!(comment.contains("checks.py:1]"), "{comment}");
        assert!(!comment.contains("checks.py:5]"), "{comment}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_renamed_file_brings_its_findings_along() {
    run_test(Options::default(), |t| async move {
        let repo = t.repo("acme/moves");
        let base = repo.commit("main", &[("checks.py", &checks())]);
        repo.push(None, &base).await;
        t.expect_check_run(&base).await;

        let pr = repo
            .open_pr(
                1,
                &base,
                &[("checks.py", DELETED), ("pkg/checks.py", &checks())],
            )
            .await;
        let run = t.expect_check_run(&pr.head).await;
        assert_eq!(run.conclusion.as_deref(), Some("success"));
        assert!(run.annotations.is_empty(), "{:?}", run.annotations);
        let summary = run.summary.unwrap();
        assert!(summary.contains("**0 new**, **0 fixed**"), "{summary}");
        let comment = t.expect_pr_comment(&pr).await.body;
        assert!(comment.contains("no new findings"), "{comment}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn asserts_in_tests_are_not_security_findings() {
    run_test(Options::default(), |t| async move {
        let repo = t.repo("acme/tested");
        let base = repo.commit("main", &[("app.py", "VALUE = 1\n")]);
        let pr = repo
            .open_pr(
                1,
                &base,
                &[(
                    "tests/test_app.py",
                    "from app import VALUE\n\n\ndef test_value():\n    assert VALUE == 1\n",
                )],
            )
            .await;
        let run = t.expect_check_run(&pr.head).await;
        assert_eq!(run.conclusion.as_deref(), Some("success"));
        assert!(run.annotations.is_empty(), "{:?}", run.annotations);
        let summary = run.summary.unwrap();
        assert!(
            summary.contains("Counted differently: test code (1 file, `[paths] tests`): not reported there: 1 × bandit:B101."),
            "{summary}"
        );
        t.expect_pr_comment(&pr).await;
    })
    .await;
}
