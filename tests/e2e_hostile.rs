//! End to end, a hostile pull request against the whole app: a clone URL that would take the
//! token elsewhere, finding text that tries to forge the check run's summary, suppressions it
//! adds — and the scope of every token the app asks for.

mod harness;
mod support;

use harness::dsl::{run_test, Options};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_foreign_clone_url_gets_no_token_and_fails_with_the_reason() {
    run_test(Options::default(), |t| async move {
        let repo = t.repo("acme/hostile");
        let base = repo.commit("main", &[("a.py", "X = 1\n")]);
        repo.set_ref("refs/heads/feature", &base);
        let head = repo.commit("feature", &[("b.py", "Y = 2\n")]);
        repo.set_ref("refs/pull/1/head", &head);
        // Where the payload says to clone from: another host (the fake GitHub is 127.0.0.1).
        let thief = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = thief.local_addr().unwrap().port();
        let mut payload = repo.pr_payload("opened", 1, &head, &base);
        payload["repository"]["clone_url"] =
            format!("http://localhost:{port}/acme/hostile.git").into();
        let (status, body) = t.webhook("pull_request", &payload).await;
        assert_eq!(status, 202, "{body}");
        let run = t.expect_check_run(&head).await;
        assert_eq!(run.conclusion.as_deref(), Some("failure"));
        let summary = run.summary.unwrap();
        assert!(
            summary.contains("not on the GitHub host") && summary.contains("no token is sent"),
            "{summary}"
        );
        // Nothing ever connected to the other host, and nothing was fetched at all.
        let accepted = tokio::time::timeout(Duration::from_millis(200), thief.accept()).await;
        assert!(accepted.is_err(), "something connected to the foreign host");
        assert_eq!(t.github().git_request_count(), 0);
        // Retrying cannot help, so it was not retried.
        let analysis = t
            .store()
            .find_analysis(repo.id as i64, &head)
            .await
            .unwrap()
            .unwrap();
        let jobs = t.store().jobs_of_analysis(analysis.id).await.unwrap();
        assert_eq!(jobs[0].attempts, 1, "{jobs:?}");
        // The pull request's comment says so too.
        t.wait_idle().await;
        let comments = t.github().issue_comments(&repo.owner, &repo.name, 1);
        assert_eq!(comments.len(), 1, "{comments:?}");
        let comment = t.github().consume_comment(comments[0].id).unwrap();
        assert!(
            comment.body.contains("could not analyse"),
            "{}",
            comment.body
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finding_text_cannot_forge_the_summary_and_added_suppressions_are_listed() {
    run_test(Options::default(), |t| async move {
        let repo = t.repo("acme/hostile");
        let base = repo.commit(
            "main",
            &[
                (
                    ".flext-quality.toml",
                    "[backends]\nruff = {}\nbandit = {}\n",
                ),
                ("a.py", "import os\n"),
            ],
        );
        // Bandit quotes a hard-coded password in its message: the pull request chooses it.
        let forged = "</details>\n\n### Quality gate: passed ✅\n| x | y |";
        let pr = repo
            .open_pr(
                2,
                &base,
                &[
                    ("creds.py", &format!("password = {forged:?}\n")),
                    (
                        "quiet.py",
                        "import sys  # noqa: F401\nimport subprocess  # nosec\n",
                    ),
                ],
            )
            .await;
        let run = t.expect_check_run(&pr.head).await;
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
        // The comment cannot be forged either, and lists the same suppressions.
        let comment = t.expect_pr_comment(&pr).await.body;
        assert_eq!(
            comment.lines().filter(|l| l.starts_with("### ")).count(),
            1,
            "{comment}"
        );
        assert_eq!(comment.matches("</details>").count(), 1, "{comment}");
        assert!(
            comment.contains("#### Suppressions this pull request adds (2)"),
            "{comment}"
        );

        // Every token asked for one repository and only what its job needs: analysing, or
        // writing the comment.
        let requests = t.github().token_requests();
        assert!(!requests.is_empty());
        let analyse =
            serde_json::json!({"checks": "write", "contents": "read", "metadata": "read"});
        let converse = serde_json::json!({"pull_requests": "write", "metadata": "read"});
        for r in &requests {
            assert_eq!(r["repository_ids"], serde_json::json!([repo.id]), "{r}");
            assert!(
                r["permissions"] == analyse || r["permissions"] == converse,
                "{r}"
            );
        }
        assert!(requests.iter().any(|r| r["permissions"] == converse));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gate_on_suppressions_fails_a_change_that_adds_one() {
    run_test(Options::default(), |t| async move {
        let repo = t.repo("acme/hostile");
        let base = repo.commit(
            "main",
            &[
                (
                    ".flext-quality.toml",
                    "[backends]\nruff = {}\n[gate]\nnew_suppressions = 0\n",
                ),
                ("a.py", "import os  # noqa: F401\n"),
            ],
        );
        let pr = repo
            .open_pr(3, &base, &[("b.py", "import sys  # noqa\n")])
            .await;
        let run = t.expect_check_run(&pr.head).await;
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
        let comment = t.expect_pr_comment(&pr).await.body;
        assert!(
            comment.contains("| suppressions added | 1 | ≤ 0 | ❌ |"),
            "{comment}"
        );
    })
    .await;
}
