//! End to end, the default branch's gate is fair: a push is judged, like a pull request, on
//! what it changed against the commit it replaced; the branch's first analysis is its baseline;
//! and a config change that finds more in old code does not make that code new.

mod harness;
mod support;

use harness::dsl::{run_test, Options};

const CONFIG: &str = "[backends]\nruff = {}\n";
/// An old major finding (F821) every push keeps.
const OLD: &str = "print(legacy_name)\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_is_gated_on_what_it_changed() {
    run_test(Options::default(), |t| async move {
        let repo = t.repo("acme/main-line");
        let first = repo.commit("main", &[("old.py", OLD), (".flext-quality.toml", CONFIG)]);
        repo.push(None, &first).await;
        let run = t.expect_check_run(&first).await;
        assert_eq!(
            run.conclusion.as_deref(),
            Some("success"),
            "{:?}",
            run.summary
        );
        assert!(run.summary.unwrap().contains("this one is the baseline"));

        // A push that adds a major finding fails on it, and only on it.
        let second = repo.commit("main", &[("new.py", "print(other_name)\n")]);
        repo.push(Some(&first), &second).await;
        let run = t.expect_check_run(&second).await;
        assert_eq!(run.conclusion.as_deref(), Some("failure"));
        let paths: Vec<&str> = run.annotations.iter().map(|a| a.path.as_str()).collect();
        assert_eq!(paths, ["new.py"]);
        assert!(run
            .summary
            .unwrap()
            .contains("| new major findings | 1 | ≤ 0 | **fail** |"));
        t.wait_idle().await;
        assert_eq!(t.slack().take().len(), 1, "the branch started failing");

        // A push that fixes it passes, though the old finding is still there.
        let third = repo.commit("main", &[("new.py", "OTHER = 1\n")]);
        repo.push(Some(&second), &third).await;
        let run = t.expect_check_run(&third).await;
        assert_eq!(
            run.conclusion.as_deref(),
            Some("success"),
            "{:?}",
            run.summary
        );
        t.wait_idle().await;
        assert_eq!(t.slack().take().len(), 1, "the branch recovered");

        // A config that finds more (every Ruff rule) does not make the old code new: the
        // commit replaced is judged again under it before comparing.
        let fourth = repo.commit(
            "main",
            &[(
                ".flext-quality.toml",
                "[backends]\nruff = { select = [\"ALL\"] }\n",
            )],
        );
        repo.push(Some(&third), &fourth).await;
        let run = t.expect_check_run(&fourth).await;
        assert_eq!(
            run.conclusion.as_deref(),
            Some("success"),
            "{:?}",
            run.summary
        );
        assert!(run.annotations.is_empty(), "{:?}", run.annotations);
        assert!(run.summary.unwrap().contains("**0 new**"));
    })
    .await;
}
