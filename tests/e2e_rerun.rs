//! End to end, re-running from the pull request: GitHub's "Re-run" and "Re-run all", our
//! "Re-run" button, and `/flext-quality rerun` from someone who may write to the repository
//! each give the head a fresh analysis with a new check run; the command from someone who may
//! not creates nothing.

mod harness;
mod support;

use harness::dsl::{run_test, Options, Pr, Tester};

const BASE: &[(&str, &str)] = &[
    ("a.py", "X = 1\n"),
    (".flext-quality.toml", "[backends]\nruff = {}\n"),
];

async fn opened(t: &Tester) -> Pr {
    let repo = t.repo("acme/again");
    let base = repo.commit("main", BASE);
    let pr = repo
        .open_pr(1, &base, &[("b.py", "print(missing)\n")])
        .await;
    let run = t.expect_check_run(&pr.head).await;
    let labels: Vec<&str> = run
        .actions
        .iter()
        .map(|a| a["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["Re-run"], "the check run offers the button");
    t.expect_pr_comment(&pr).await;
    pr
}

/// After a re-run was asked for: a second completed check run on the head, and the comment
/// edited again.
async fn expect_rerun(t: &Tester, pr: &Pr) {
    let runs = t.expect_check_runs(&pr.head, 2).await;
    assert_ne!(runs[0].id, runs[1].id);
    assert_eq!(runs[1].conclusion.as_deref(), Some("failure"));
    assert_eq!(t.expect_pr_comment(pr).await.revision, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_writer_can_ask_for_a_rerun_in_a_comment_and_a_reader_cannot() {
    run_test(Options::default(), |t| async move {
        let pr = opened(&t).await;
        let repo = pr.repo();
        t.github()
            .set_permission(&repo.owner, &repo.name, "reader", "read");
        t.github()
            .set_permission(&repo.owner, &repo.name, "writer", "write");

        let (status, body) = t.comment_on(&pr, "reader", "/flext-quality rerun").await;
        assert_eq!(status, 202, "{body}");
        assert!(body.contains("command queued"), "{body}");
        t.wait_idle().await;
        assert_eq!(
            t.github().check_runs_for(&pr.head).len(),
            1,
            "a reader creates nothing"
        );
        assert!(harness::dsl::logs().contains("`/flext-quality rerun` refused"));

        let (status, _) = t.comment_on(&pr, "writer", "/flext-quality rerun").await;
        assert_eq!(status, 202);
        expect_rerun(&t, &pr).await;

        // Anything else in a comment is just a comment.
        let (_, body) = t
            .comment_on(&pr, "writer", "looks good, /flext-quality rerun later?")
            .await;
        assert!(body.contains("not a flext-quality command"), "{body}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rerun_from_the_check_run() {
    run_test(Options::default(), |t| async move {
        let pr = opened(&t).await;
        let (status, body) = t.check_run_event(&pr, "rerequested", None).await;
        assert_eq!(status, 202, "{body}");
        expect_rerun(&t, &pr).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rerun_all_from_the_check_suite() {
    run_test(Options::default(), |t| async move {
        let pr = opened(&t).await;
        let (status, body) = t.rerequest_suite(&pr).await;
        assert_eq!(status, 202, "{body}");
        expect_rerun(&t, &pr).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rerun_from_our_button() {
    run_test(Options::default(), |t| async move {
        let pr = opened(&t).await;
        let (status, body) = t
            .check_run_event(&pr, "requested_action", Some("something_else"))
            .await;
        assert_eq!(status, 202, "{body}");
        assert!(body.contains("not ours"), "{body}");
        let (status, body) = t
            .check_run_event(&pr, "requested_action", Some("rerun"))
            .await;
        assert_eq!(status, 202, "{body}");
        expect_rerun(&t, &pr).await;
    })
    .await;
}
