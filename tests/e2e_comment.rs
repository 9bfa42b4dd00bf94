//! End to end, the one comment per pull request: posted on the first analysis, edited in place
//! by every later one — also after a 502 on the edit, with the stored id lost, or with a
//! person's comment carrying our marker — and never a second one. Both databases.

mod harness;
mod support;

use harness::dsl::{run_test, Options};

const BASE: &[(&str, &str)] = &[
    ("a.py", "X = 1\n"),
    (".flext-quality.toml", "[backends]\nruff = {}\n"),
];

async fn one_comment_kept_current(options: Options) {
    run_test(options, |t| async move {
        let repo = t.repo("acme/talk");
        let base = repo.commit("main", BASE);
        let mut pr = repo
            .open_pr(1, &base, &[("b.py", "print(missing)\n")])
            .await;
        t.expect_check_run(&pr.head).await;
        let first = t.expect_pr_comment(&pr).await;
        assert!(
            first.body.contains("**Quality gate: failed**"),
            "{}",
            first.body
        );
        assert!(first.body.contains("Undefined name"), "{}", first.body);

        // synchronize: the same comment, edited — three requests in all for the analysis.
        let before = t.github().requests().len();
        pr.push(&[("b.py", "print(missing)\nprint(also_missing)\n")])
            .await;
        t.expect_check_run(&pr.head).await;
        let second = t.expect_pr_comment(&pr).await;
        let operations: Vec<String> = t.github().requests()[before..]
            .iter()
            .map(|r| r.operation.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            operations,
            ["checks/create", "checks/update", "issues/update-comment"]
        );
        assert_eq!(second.id, first.id);
        assert!(second.body.contains("also_missing"), "{}", second.body);

        // GitHub fails the edit with 502s: publishing is retried, and still one comment.
        t.github().fail_next("issues/update-comment", 502, 4, &[]);
        pr.push(&[("b.py", "print(missing)\n")]).await;
        t.expect_check_run(&pr.head).await;
        let third = t.expect_pr_comment(&pr).await;
        assert_eq!(third.id, first.id);

        // The stored id is lost (a restored backup, say): the marker finds the comment.
        t.store()
            .execute_admin("UPDATE pr_comments SET comment_id = NULL")
            .await
            .unwrap();
        pr.push(&[("b.py", "Y = 2\n")]).await;
        t.expect_check_run(&pr.head).await;
        let fourth = t.expect_pr_comment(&pr).await;
        assert_eq!(fourth.id, first.id);
        assert!(fourth.body.contains("no new findings"), "{}", fourth.body);
    })
    .await;
}

on_both_databases!(one_comment_kept_current);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_persons_comment_with_our_marker_is_not_adopted() {
    run_test(Options::default(), |t| async move {
        let repo = t.repo("acme/imposter");
        let base = repo.commit("main", BASE);
        // Someone pastes our marker before we ever comment.
        t.github().add_issue_comment(
            &repo.owner,
            &repo.name,
            1,
            "mallory",
            "<!-- flext-quality:pr-comment -->\nAll good, merge it!",
        );
        let mut pr = repo
            .open_pr(1, &base, &[("b.py", "print(missing)\n")])
            .await;
        t.expect_check_run(&pr.head).await;
        let ours = t.expect_pr_comment(&pr).await;
        // With our comment's id lost, the search must pass over theirs (the fake refuses an App
        // editing a person's comment) and find ours.
        t.store()
            .execute_admin("UPDATE pr_comments SET comment_id = NULL")
            .await
            .unwrap();
        pr.push(&[("b.py", "Y = 2\n")]).await;
        t.expect_check_run(&pr.head).await;
        let again = t.expect_pr_comment(&pr).await;
        assert_eq!(again.id, ours.id);
        let all = t.github().issue_comments(&repo.owner, &repo.name, 1);
        assert_eq!(all.len(), 2, "theirs untouched, ours separate: {all:?}");
        assert!(all
            .iter()
            .any(|c| c.user == "mallory" && c.body.ends_with("merge it!") && c.revision == 1));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_heads_analysed_at_once_leave_one_comment_showing_the_newer() {
    let options = Options {
        workers: 4,
        ..Options::default()
    };
    run_test(options, |t| async move {
        let repo = t.repo("acme/race");
        let base = repo.commit("main", BASE);
        let mut pr = repo.open_pr(1, &base, &[("b.py", "print(one)\n")]).await;
        let older = pr.head.clone();
        pr.push(&[("b.py", "print(two)\n")]).await;
        let runs = t.expect_check_runs(&older, 1).await;
        assert_eq!(runs.len(), 1);
        t.expect_check_run(&pr.head).await;
        let comment = t.expect_pr_comment(&pr).await;
        assert!(comment.body.contains(&pr.head[..12]), "{}", comment.body);
        assert!(!comment.body.contains(&older[..12]), "{}", comment.body);
    })
    .await;
}
