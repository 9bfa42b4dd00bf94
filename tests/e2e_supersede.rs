//! End to end, superseded commits: when a pull request's head moves while the old head is
//! still being analysed, that analysis is stopped (its tools killed) and its check run
//! completed `cancelled` with "superseded by <sha>", while the new head is analysed; pushes to
//! the default branch are never cancelled, since each becomes a base.

mod harness;
mod support;

use harness::dsl::{run_test, Options};
use std::time::{Duration, Instant};
use support::git_server::DELETED;

const CRATE: &str =
    "[package]\nname = \"superseded_marker\"\nversion = \"0.1.0\"\nedition = \"2021\"\n";

/// Processes on this machine whose command line mentions `needle`.
fn processes(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(needle))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_head_cancels_the_analysis_of_the_old_one() {
    let options = Options {
        lease: Duration::from_secs(2),
        ..Options::default()
    };
    run_test(options, |t| async move {
        let repo = t.repo("acme/moving");
        let base = repo.commit(
            "main",
            &[("Cargo.toml", CRATE), ("src/lib.rs", "pub fn f() {}\n")],
        );
        // The first head's build script never ends: its analysis is still running when the
        // pull request moves on.
        let mut pr = repo
            .open_pr(
                1,
                &base,
                &[(
                    "build.rs",
                    "fn main() { std::thread::sleep(std::time::Duration::from_secs(1000)); }\n",
                )],
            )
            .await;
        let old = pr.head.clone();
        let started = Instant::now();
        while !t
            .github()
            .check_runs_for(&old)
            .iter()
            .any(|r| r.status == "in_progress")
            || processes("superseded_marker").is_empty()
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the old head never started"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        pr.push(&[("build.rs", DELETED)]).await;
        let cancelled = t.expect_check_run(&old).await;
        assert_eq!(
            cancelled.conclusion.as_deref(),
            Some("cancelled"),
            "{cancelled:?}"
        );
        assert_eq!(
            cancelled.title.as_deref(),
            Some(format!("Superseded by {}", &pr.head[..12]).as_str())
        );
        let new = t.expect_check_run(&pr.head).await;
        assert_eq!(
            new.conclusion.as_deref(),
            Some("success"),
            "{:?}",
            new.summary
        );
        t.expect_pr_comment(&pr).await;

        // The old head's tools are gone, not left running.
        let stopped = Instant::now();
        while !processes("superseded_marker").is_empty() {
            assert!(
                stopped.elapsed() < Duration::from_secs(10),
                "{:?}",
                processes("superseded_marker")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let old_analysis = t
            .store()
            .find_analysis(repo.id as i64, &old)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            old_analysis.status,
            flext_quality::domain::status::AnalysisStatus::Cancelled
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushes_to_the_default_branch_are_never_cancelled() {
    run_test(Options::default(), |t| async move {
        let repo = t.repo("acme/steady");
        let first = repo.commit("main", &[("a.py", "X = 1\n")]);
        repo.push(None, &first).await;
        let second = repo.commit("main", &[("b.py", "Y = 2\n")]);
        repo.push(Some(&first), &second).await;
        for sha in [&first, &second] {
            let run = t.expect_check_run(sha).await;
            assert_eq!(
                run.conclusion.as_deref(),
                Some("success"),
                "{:?}",
                run.summary
            );
        }
    })
    .await;
}
