//! End to end, the repository config: read from the base branch, errors shown in the check
//! run with the key and line, the gate tightened, annotations on changed lines only, and a
//! neutral verdict when nothing can be analysed.

mod harness;
mod support;

use flext_quality::domain::status::AnalysisStatus;
use harness::dsl::{run_test, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalid_config_is_shown_with_its_key_and_line() {
    run_test(Options::default(), |t| async move {
        let repo = t.repo("acme/configured");
        let base = repo.commit(
            "main",
            &[
                ("a.py", "X = 1\n"),
                (
                    ".flext-quality.toml",
                    "[backends]\nruff = {}\n\n[gate]\nmin_scroe = 80\n",
                ),
            ],
        );
        let pr = repo.open_pr(1, &base, &[("b.py", "Y = 2\n")]).await;
        let run = t.expect_check_run(&pr.head).await;
        assert_eq!(run.conclusion.as_deref(), Some("failure"));
        let summary = run.summary.unwrap();
        assert!(
            summary.contains(".flext-quality.toml:5") && summary.contains("min_scroe"),
            "{summary}"
        );
        let comment = t.expect_pr_comment(&pr).await;
        assert!(
            comment.body.contains("could not analyse")
                && comment.body.contains("config is invalid"),
            "{}",
            comment.body
        );
        let analysis = t
            .store()
            .find_analysis(repo.id as i64, &pr.head)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(analysis.status, AnalysisStatus::Failed);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_base_config_tightens_the_gate_and_limits_annotations_to_changed_lines() {
    run_test(Options::default(), |t| async move {
        let repo = t.repo("acme/configured");
        // An old minor finding (unused import) on the base; the config wants changed lines only
        // annotated and no new minor findings at all.
        let config = "[backends]\nruff = {}\n\n[gate]\nnew = { minor = 0 }\n\n[report]\nannotate = \"changed-lines\"\n";
        let base = repo.commit(
            "main",
            &[
                ("old.py", "import os\n\nVALUE = 1\n"),
                (".flext-quality.toml", config),
            ],
        );
        repo.push(None, &base).await;
        let base_run = t.expect_check_run(&base).await;
        assert_eq!(
            base_run.conclusion.as_deref(),
            Some("success"),
            "a first analysis counts no finding, not even the old minor one against `minor ≤ 0`"
        );

        // The PR touches old.py below the old finding and adds a new unused import elsewhere.
        let pr = repo
            .open_pr(
                2,
                &base,
                &[
                    ("old.py", "import os\n\nVALUE = 2\n"),
                    ("new.py", "import sys\n\nOTHER = 3\n"),
                ],
            )
            .await;
        let run = t.expect_check_run(&pr.head).await;
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
        let comment = t.expect_pr_comment(&pr).await;
        assert!(
            comment.body.contains("| new minor findings | 1 | ≤ 0 | ❌ |"),
            "{}",
            comment.body
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_to_analyse_is_neutral_with_the_reason() {
    run_test(Options::default(), |t| async move {
        let repo = t.repo("acme/docs");
        let base = repo.commit("main", &[("README.md", "# docs only\n")]);
        let pr = repo
            .open_pr(3, &base, &[("CHANGELOG.md", "- more docs\n")])
            .await;
        let run = t.expect_check_run(&pr.head).await;
        assert_eq!(run.conclusion.as_deref(), Some("neutral"));
        let summary = run.summary.unwrap();
        assert!(
            summary.contains("nothing to analyse") && summary.contains("no Python files"),
            "{summary}"
        );
        let comment = t.expect_pr_comment(&pr).await;
        assert!(
            comment.body.contains("nothing to analyse"),
            "{}",
            comment.body
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_no_tool_ran_there_is_no_score_and_the_check_fails() {
    // Every tool is out of time at once: none produces a result. Allowing a backend to fail
    // must not let a commit on which nothing ran pass, nor show it as "grade A".
    let options = Options {
        settings: |s| s.analysis.analysis_timeout_secs = 0,
        ..Options::default()
    };
    run_test(options, |t| async move {
        let repo = t.repo("acme/untimely");
        let config = "[backends]\nruff = {}\nbandit = {}\n\n[gate]\nallow_backend_failure = true\n";
        let base = repo.commit(
            "main",
            &[("a.py", "X = 1\n"), (".flext-quality.toml", config)],
        );
        let pr = repo.open_pr(1, &base, &[("b.py", "import os\n")]).await;
        let run = t.expect_check_run(&pr.head).await;
        assert_eq!(run.conclusion.as_deref(), Some("failure"));
        assert_eq!(
            run.title.as_deref(),
            Some("No tool ran · 2 backends failed")
        );
        let summary = run.summary.unwrap();
        assert!(summary.contains("**No score:**"), "{summary}");
        assert!(!summary.contains("· grade"), "{summary}");
        assert!(
            summary.contains("not all of them (`allow_backend_failure`)"),
            "{summary}"
        );
        let comment = t.expect_pr_comment(&pr).await;
        assert!(comment.body.contains("no tool ran"), "{}", comment.body);
        let analysis = t
            .store()
            .find_analysis(repo.id as i64, &pr.head)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((analysis.score, analysis.grade), (None, None));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repository_can_turn_the_comment_off() {
    run_test(Options::default(), |t| async move {
        let repo = t.repo("acme/quiet");
        let base = repo.commit(
            "main",
            &[
                ("a.py", "X = 1\n"),
                (".flext-quality.toml", "[report]\npr_comment = false\n"),
            ],
        );
        let pr = repo
            .open_pr(1, &base, &[("b.py", "print(missing)\n")])
            .await;
        let run = t.expect_check_run(&pr.head).await;
        assert_eq!(run.conclusion.as_deref(), Some("failure"));
        t.wait_idle().await;
        assert!(t.bot_comments(&pr).is_empty(), "{:?}", t.bot_comments(&pr));
    })
    .await;
}
