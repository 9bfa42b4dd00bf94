//! GitHub in a storm (issue 13, faults): for a while it answers a share of requests with 502
//! and 503, secondary rate limits (403 and `retry-after`), 429s and the primary limit, and it
//! loses the answers to writes it did apply. Pull requests and pushes go through the real
//! server and workers meanwhile. Once the storm is over every analysis completes, each commit
//! has exactly one check run and each pull request one comment, no annotation is sent twice,
//! and the client backed off: nothing was sent to a caller GitHub had told to wait.
//!
//! The waits here never skip the app's back-offs (unlike `expect_check_run`): how often the app
//! comes back is part of what is measured.

mod harness;
mod support;

use flext_quality::domain::status::{AnalysisStatus, JobState, PublishState};
use harness::dsl::{run_test, Options, Repo, Tester};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use support::storm::{Blow, Storm, StormReport};

const APP_PY: &str = "import os\n\nprint(os.sep)\n";
/// Workers of the app under test: the most requests of one installation in flight at once.
const WORKERS: usize = 2;

/// A module with `n` unused imports: `n` new minor findings, so `n` annotations.
fn unused_imports(n: usize) -> String {
    (0..n).map(|i| format!("import os as os_{i}\n")).collect()
}

/// A repository whose `main` has been analysed (before any storm): its first commit.
async fn analysed_repo(t: &Tester, name: &str) -> (Repo, String) {
    let repo = t.repo(name);
    let sha = repo.commit("main", &[("app.py", APP_PY)]);
    repo.push(None, &sha).await;
    t.expect_check_run(&sha).await;
    (repo, sha)
}

/// Waits, without hurrying the app's back-offs, until `ready` holds and no job is left.
async fn settle(t: &Tester, limit: Duration, ready: impl Fn() -> bool) {
    let started = Instant::now();
    loop {
        let busy = t.store().count_jobs(JobState::Queued).await.unwrap()
            + t.store().count_jobs(JobState::Running).await.unwrap();
        if ready() && busy == 0 {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "not settled after {limit:?}: {busy} job(s) left; check runs: {:#?}",
            t.github()
                .check_runs()
                .iter()
                .map(|r| (&r.head_sha, &r.status, &r.conclusion, &r.title))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn completed_on(t: &Tester, sha: &str) -> bool {
    t.github()
        .check_runs_for(sha)
        .iter()
        .any(|r| r.status == "completed")
}

/// The one check run on `sha`, completed, consumed; fails on a second one.
fn only_check_run(t: &Tester, sha: &str) -> support::CheckRun {
    let runs = t.github().check_runs_for(sha);
    let ours: Vec<_> = runs.iter().filter(|r| r.name == "flext-quality").collect();
    assert_eq!(
        ours.len(),
        1,
        "exactly one check run on {sha}: {:#?}",
        ours.iter()
            .map(|r| (r.id, &r.status, &r.external_id, &r.title))
            .collect::<Vec<_>>()
    );
    let run = t.github().consume_check_run(ours[0].id).unwrap();
    assert_eq!(run.status, "completed", "{run:?}");
    run
}

/// No annotation of the check run was sent twice.
fn no_repeated_annotations(run: &support::CheckRun) {
    let distinct: HashSet<String> = run
        .annotations
        .iter()
        .map(|a| {
            format!(
                "{}:{}:{}:{}",
                a.path,
                a.start_line,
                a.title.as_deref().unwrap_or(""),
                a.message
            )
        })
        .collect();
    assert_eq!(
        distinct.len(),
        run.annotations.len(),
        "annotations sent twice on check run {}",
        run.id
    );
}

/// The analysis of `sha` finished (not given up), and each of its publish tasks is done.
async fn analysed_and_published(t: &Tester, repo: &Repo, sha: &str) {
    let analysis = t
        .store()
        .find_analysis(repo.id as i64, sha)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("an analysis of {sha}"));
    assert_eq!(
        analysis.status,
        AnalysisStatus::Completed,
        "the analysis of {sha} completed"
    );
    for task in t.store().publish_tasks(analysis.id).await.unwrap() {
        assert_eq!(task.state, PublishState::Done, "{task:?}");
    }
}

fn print_report(report: &StormReport) {
    println!(
        "storm: {} requests, hits {:?}, {} answers lost after applying ({:?}), {} rate limits \
         answered, {} requests refused while told to wait, {} error answers in the busiest second",
        report.requests,
        report.hits,
        report.lost.len(),
        report.lost,
        report.windows.len(),
        report
            .windows
            .iter()
            .map(|w| w.refused.len())
            .sum::<usize>(),
        report.busiest_second
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_github_storm_loses_nothing_and_duplicates_nothing() {
    let options = Options {
        workers: WORKERS,
        timeout: Duration::from_secs(400),
        ..Options::default()
    };
    run_test(options, |t| async move {
        let (one, base_one) = analysed_repo(&t, "acme/storm-one").await;
        let (two, base_two) = analysed_repo(&t, "acme/storm-two").await;
        let (three, base_three) = analysed_repo(&t, "acme/storm-three").await;
        let calm = t.github().api_request_count();

        // The storm rages until everything went through it once (ended below).
        t.github().start_storm(Storm {
            lasts: Duration::from_secs(600),
            percent: 35,
            blows: Blow::ALL.to_vec(),
            wait_secs: 2,
            // Where duplicates come from, for sure at least once each: a check run, a comment
            // and an annotation batch GitHub made, their answers lost.
            lose_first: vec![
                ("checks/create", ""),
                ("issues/create-comment", ""),
                ("checks/update", "\"annotations\""),
            ],
            ..Storm::default()
        });
        // Two batches of annotations on the first pull request (GitHub takes 50 a request).
        let mut pr_one = one
            .open_pr(1, &base_one, &[("many.py", &unused_imports(60))])
            .await;
        let pr_two = two.open_pr(2, &base_two, &[("b.py", "import sys\n")]).await;
        let pushed = three.commit("main", &[("c.py", "import json\n")]);
        three.push(Some(&base_three), &pushed).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        // The first pull request moves on while its first head may be in any state.
        let first_head = pr_one.head.clone();
        let head_one = pr_one.push(&[("many.py", &unused_imports(70))]).await;

        // Every check run completed and every comment posted in the storm; then it ends, and
        // what is still retrying finishes.
        let shas = [head_one.clone(), pr_two.head.clone(), pushed.clone()];
        let through = Instant::now();
        while !(shas.iter().all(|sha| completed_on(&t, sha))
            && !t.github().issue_comments("acme", "storm-one", 1).is_empty()
            && !t.github().issue_comments("acme", "storm-two", 2).is_empty())
        {
            assert!(
                through.elapsed() < Duration::from_secs(240),
                "not through the storm after 240 s: {:#?}",
                t.github().check_runs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        t.github().stop_storm();
        let report = t.github().storm_report();
        println!("through the storm in {:?}", through.elapsed());
        settle(&t, Duration::from_secs(240), || true).await;
        print_report(&report);
        println!(
            "API requests: {} before the storm, {} in all",
            calm,
            t.github().api_request_count()
        );

        // Exactly one check run per commit, completed; no annotation twice.
        let run_one = only_check_run(&t, &head_one);
        no_repeated_annotations(&run_one);
        assert_eq!(
            run_one.annotations.len(),
            70,
            "every new finding annotated once: {:?}",
            run_one.summary
        );
        assert_eq!(run_one.conclusion.as_deref(), Some("success"));
        let run_two = only_check_run(&t, &pr_two.head);
        no_repeated_annotations(&run_two);
        let run_three = only_check_run(&t, &pushed);
        no_repeated_annotations(&run_three);
        for run in [&run_two, &run_three] {
            assert_ne!(
                run.title.as_deref(),
                Some("Analysis could not finish"),
                "{:?}",
                run.summary
            );
        }
        // The superseded head: at most its one check run, and it is not left open.
        let superseded = t.github().check_runs_for(&first_head);
        assert!(superseded.len() <= 1, "{superseded:#?}");
        for run in superseded {
            let run = t.github().consume_check_run(run.id).unwrap();
            assert_eq!(run.status, "completed", "{run:?}");
        }
        analysed_and_published(&t, &one, &head_one).await;
        analysed_and_published(&t, &two, &pr_two.head).await;
        analysed_and_published(&t, &three, &pushed).await;
        // No check run anywhere left open.
        let open: Vec<_> = t
            .github()
            .check_runs()
            .into_iter()
            .filter(|r| r.status != "completed")
            .map(|r| (r.id, r.head_sha))
            .collect();
        assert!(open.is_empty(), "left open: {open:?}");

        // One comment per pull request, the newest head's.
        for (repo, number, head) in [("storm-one", 1, &head_one), ("storm-two", 2, &pr_two.head)] {
            let comments = t.github().issue_comments("acme", repo, number);
            assert_eq!(
                comments.len(),
                1,
                "one comment on {repo}#{number}: {:#?}",
                comments.iter().map(|c| c.id).collect::<Vec<_>>()
            );
            let comment = t.github().consume_comment(comments[0].id).unwrap();
            assert!(comment.body.contains(&head[..12]), "{}", comment.body);
        }

        // The storm really hit: every kind of blow, and writes applied with their answers lost.
        for blow in Blow::ALL {
            assert!(report.hit(blow) > 0, "no {blow:?} in the storm: {report:?}");
        }
        for write in ["/check-runs", "/comments"] {
            assert!(
                report
                    .lost
                    .iter()
                    .any(|l| l.starts_with("POST") && l.ends_with(write)),
                "no lost answer to POST …{write}: {:?}",
                report.lost
            );
        }
        assert!(
            report.lost.iter().any(|l| l.starts_with("PATCH")),
            "no lost annotation batch: {:?}",
            report.lost
        );
        // And the client backed off: nothing sent to a caller told to wait, no burst of
        // retries into the errors.
        let report = t.github().storm_report();
        let eager = report.not_backing_off(WORKERS);
        assert!(
            eager.is_empty(),
            "sent while told to wait:\n  {}",
            eager.join("\n  ")
        );
        assert!(
            report.busiest_second <= 12,
            "{} error answers in one second: retrying into the storm",
            report.busiest_second
        );
    })
    .await;
}

/// Nothing but rate limits for a while — secondary (403 and 429 with `retry-after`) and primary
/// (`x-ratelimit-reset`) — on every request: the app waits each one out for the whole
/// installation, sends nothing while told to wait, and finishes once they stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limits_on_every_request_are_waited_out_not_hammered() {
    let options = Options {
        workers: WORKERS,
        ..Options::default()
    };
    run_test(options, |t| async move {
        let one = t.repo("acme/limited-one");
        let two = t.repo("acme/limited-two");
        let a = one.commit("main", &[("a.py", APP_PY)]);
        let b = two.commit("main", &[("b.py", "import sys\n")]);
        t.github().start_storm(Storm {
            lasts: Duration::from_secs(6),
            percent: 100,
            blows: vec![
                Blow::SecondaryLimit,
                Blow::TooManyRequests,
                Blow::PrimaryLimit,
            ],
            wait_secs: 1,
            ..Storm::default()
        });
        tokio::join!(one.push(None, &a), two.push(None, &b));
        settle(&t, Duration::from_secs(120), || {
            completed_on(&t, &a) && completed_on(&t, &b)
        })
        .await;
        let report = t.github().storm_report();
        print_report(&report);
        for sha in [&a, &b] {
            let run = only_check_run(&t, sha);
            assert_eq!(
                run.conclusion.as_deref(),
                Some("success"),
                "{:?}",
                run.summary
            );
        }
        assert!(report.windows.len() >= 3, "{report:?}");
        let eager = report.not_backing_off(WORKERS);
        assert!(
            eager.is_empty(),
            "sent while told to wait:\n  {}",
            eager.join("\n  ")
        );
    })
    .await;
}
