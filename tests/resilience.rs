//! What happens when things go wrong: a worker dies mid-analysis, attempts run out, GitHub
//! answers 5xx or rate-limits (while analysing, and while publishing), a repository cannot be
//! fetched, a job outlives its deadline.

mod harness;
mod support;

use flext_quality::domain::status::{AnalysisStatus, JobKind, JobState, PublishState};
use harness::dsl::{run_test, Options, Repo, Tester};
use std::time::{Duration, Instant};

const APP_PY: &str = "import os\n\nprint(os.sep)\n";

/// A repository with one commit on `main`, its push sent; returns the SHA.
async fn pushed(t: &Tester) -> (Repo, String) {
    let repo = t.repo("acme/gadgets");
    let sha = repo.commit("main", &[("app.py", APP_PY)]);
    repo.push(None, &sha).await;
    (repo, sha)
}

async fn analysis_id(t: &Tester, repo: &Repo, sha: &str) -> i64 {
    t.store()
        .find_analysis(repo.id as i64, sha)
        .await
        .unwrap()
        .expect("the push created an analysis")
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_whose_worker_died_is_finished_by_another() {
    let options = Options {
        workers: 0,
        ..Options::default()
    };
    run_test(options, |t| async move {
        let (repo, sha) = pushed(&t).await;
        // A worker claims the job with a short lease, puts the check run in progress, and dies.
        let claimed = t
            .store()
            .claim_job("doomed-worker", 300)
            .await
            .unwrap()
            .unwrap();
        let cx = t.ctx().clone();
        let id = claimed.analysis_id.unwrap();
        let doomed = tokio::spawn(async move { flext_quality::jobs::analyse::run(&cx, id).await });
        let started = Instant::now();
        while t.github().check_runs_for(&sha).is_empty() {
            assert!(started.elapsed() < Duration::from_secs(30));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        doomed.abort();
        assert_eq!(t.github().check_runs_for(&sha)[0].status, "in_progress");
        tokio::time::sleep(Duration::from_millis(350)).await;

        t.start_workers(1).await;
        let run = t.expect_check_run(&sha).await;
        assert_eq!(
            run.conclusion.as_deref(),
            Some("success"),
            "{:?}",
            run.summary
        );
        assert_eq!(
            t.github().check_runs_for(&sha).len(),
            1,
            "the same check run is reused"
        );
        let job = t.store().get_job(claimed.id).await.unwrap().unwrap();
        assert_eq!((job.state, job.attempts), (JobState::Done, 2));
        let _ = repo;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_the_last_attempt_the_check_run_says_why() {
    let options = Options {
        workers: 0,
        max_attempts: 1,
        ..Options::default()
    };
    run_test(options, |t| async move {
        let (repo, sha) = pushed(&t).await;
        // The only attempt's worker dies.
        let claimed = t
            .store()
            .claim_job("doomed-worker", 200)
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
        t.start_workers(1).await;
        let run = t.expect_check_run(&sha).await;
        assert_eq!(run.conclusion.as_deref(), Some("timed_out"));
        let summary = run.summary.unwrap();
        assert!(
            summary.contains("did not finish within 1 attempts"),
            "{summary}"
        );
        assert_eq!(
            t.store().get_job(claimed.id).await.unwrap().unwrap().state,
            JobState::Failed
        );
        let analysis = t
            .store()
            .get_analysis(analysis_id(&t, &repo, &sha).await)
            .await;
        assert_eq!(analysis.unwrap().unwrap().status, AnalysisStatus::Failed);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn github_errors_are_retried_and_rate_limits_waited_out() {
    run_test(Options::default(), |t| async move {
        t.github().fail_next("checks/create", 502, 2, &[]);
        let reset = (support::unix_now() + 1).to_string();
        t.github().fail_next(
            "checks/update",
            403,
            1,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", reset.as_str()),
            ],
        );
        let (repo, sha) = pushed(&t).await;
        let run = t.expect_check_run(&sha).await;
        assert_eq!(run.conclusion.as_deref(), Some("success"));
        let statuses: Vec<u16> = t.github().requests().iter().map(|r| r.status).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 502).count(),
            2,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 403).count(),
            1,
            "{statuses:?}"
        );

        // A second commit reuses the cached installation token.
        let sha2 = repo.commit("main", &[("more.py", "X = 1\n")]);
        repo.push(Some(&sha), &sha2).await;
        let run2 = t.expect_check_run(&sha2).await;
        assert!(
            run2.summary.unwrap().contains(&sha[..12]),
            "compared with the previous push"
        );
        assert_eq!(t.github().tokens_issued(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_permission_is_not_retried_in_vain() {
    run_test(Options::default(), |t| async move {
        // A 403 that is no rate limit: the App lacks a permission. Retrying cannot heal that.
        t.github().fail_next("checks/create", 403, 10, &[]);
        let (repo, sha) = pushed(&t).await;
        let id = analysis_id(&t, &repo, &sha).await;
        t.wait_idle().await;
        // The analysis stops at its first attempt; the task that would report the failure
        // meets the same refusal once, and stops too.
        let jobs = t.store().jobs_of_analysis(id).await.unwrap();
        let states: Vec<_> = jobs.iter().map(|j| (j.kind, j.state, j.attempts)).collect();
        assert_eq!(
            states,
            [
                (JobKind::Analyse, JobState::Failed, 1),
                (JobKind::Publish, JobState::Failed, 1)
            ],
            "{jobs:?}"
        );
        let forbidden = t
            .github()
            .requests()
            .iter()
            .filter(|r| r.status == 403)
            .count();
        assert_eq!(forbidden, 2, "one refusal per job, not one per attempt");
        t.github().ignore_unconsumed();
    })
    .await;
}

/// The proof that publishing is an outbox: GitHub failing the completing PATCH again
/// and again retries the publish task, and never runs the tools again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_publish_failure_retries_publishing_not_the_analysis() {
    run_test(Options::default(), |t| async move {
        // Each publish attempt sends the PATCH up to four times (GitHub's 5xx are retried at
        // once); eight 502s fail two whole attempts, the third goes through.
        let repo = t.repo("acme/gadgets");
        let first = repo.commit("main", &[("app.py", "import os\n\nprint(os.sep)\n")]);
        repo.push(None, &first).await;
        t.expect_check_run(&first).await;
        t.github().fail_next("checks/update", 502, 8, &[]);
        let runs_before = t.ctx().engine.tool_runs();
        // One new minor finding (an unused import): annotated, and the gate still passes.
        let sha = repo.commit(
            "main",
            &[("app.py", "import os\nimport sys\n\nprint(os.sep)\n")],
        );
        repo.push(Some(&first), &sha).await;
        let run = t.expect_check_run(&sha).await;
        assert_eq!(
            run.conclusion.as_deref(),
            Some("success"),
            "{:?}",
            run.summary
        );
        let tool_runs = t.ctx().engine.tool_runs() - runs_before;

        let id = analysis_id(&t, &repo, &sha).await;
        let jobs = t.store().jobs_of_analysis(id).await.unwrap();
        let analyse: Vec<_> = jobs.iter().filter(|j| j.kind == JobKind::Analyse).collect();
        let publish: Vec<_> = jobs.iter().filter(|j| j.kind == JobKind::Publish).collect();
        assert_eq!(analyse.len(), 1, "{jobs:?}");
        assert_eq!((analyse[0].state, analyse[0].attempts), (JobState::Done, 1));
        assert_eq!(publish.len(), 1, "{jobs:?}");
        assert_eq!((publish[0].state, publish[0].attempts), (JobState::Done, 3));
        let tasks = t.store().publish_tasks(id).await.unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!((tasks[0].state, tasks[0].attempts), (PublishState::Done, 3));
        // Ruff, MyPy and Bandit ran once each: the tools never ran again.
        assert_eq!(tool_runs, 3, "tool runs during the whole analysis");
        let statuses: Vec<u16> = t.github().requests().iter().map(|r| r.status).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 502).count(),
            8,
            "{statuses:?}"
        );
        assert_eq!(run.annotations.len(), 1, "no annotation batch sent twice");
        println!(
            "tool runs: {tool_runs}; publish attempts: {}",
            publish[0].attempts
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unfetchable_repository_fails_with_the_reason() {
    let options = Options {
        max_attempts: 2,
        ..Options::default()
    };
    run_test(options, |t| async move {
        let repo = t.repo("acme/gadgets");
        let sha = repo.commit("main", &[("app.py", APP_PY)]);
        // The payload's clone URL names a repository the git host does not have.
        let mut p = repo.push_payload(None, &sha);
        p["repository"]["clone_url"] = t.github().clone_url("acme", "vanished").into();
        let (status, text) = t.webhook("push", &p).await;
        assert_eq!(status, 202, "{text}");
        let run = t.expect_check_run(&sha).await;
        // A check never passes a gate it could not evaluate.
        assert_eq!(run.conclusion.as_deref(), Some("failure"));
        let summary = run.summary.unwrap();
        assert!(summary.contains("fetching refs/heads/main"), "{summary}");
        assert!(
            !summary.contains("ghs_"),
            "no token in what users see: {summary}"
        );
        assert_eq!(t.github().check_runs_for(&sha).len(), 1);
        let id = analysis_id(&t, &repo, &sha).await;
        let analysis = t.store().get_analysis(id).await.unwrap().unwrap();
        assert_eq!(analysis.status, AnalysisStatus::Failed);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_past_its_deadline_is_stopped_and_says_so() {
    let options = Options {
        settings: |s| s.job_deadline_secs = 2,
        ..Options::default()
    };
    run_test(options, |t| async move {
        let repo = t.repo("acme/slow");
        // A build script that never ends keeps Clippy busy past the job's deadline.
        let sha = repo.commit(
            "main",
            &[
                (
                    "Cargo.toml",
                    "[package]\nname = \"slow\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
                ),
                (
                    "build.rs",
                    "fn main() { std::thread::sleep(std::time::Duration::from_secs(1000)); }\n",
                ),
                ("src/lib.rs", "pub fn f() {}\n"),
            ],
        );
        let started = Instant::now();
        repo.push(None, &sha).await;
        let run = t.expect_check_run(&sha).await;
        assert_eq!(
            run.conclusion.as_deref(),
            Some("timed_out"),
            "{:?}",
            run.summary
        );
        assert!(run
            .summary
            .unwrap()
            .contains("FLEXT_QUALITY_JOB_DEADLINE_SECS"),);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
    })
    .await;
}

/// The sweep: an analysis whose job ended (or died) without ending it is given up when a
/// worker starts, and its check run completed `timed_out` with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_starting_sweeps_analyses_nobody_finished() {
    let options = Options {
        workers: 0,
        ..Options::default()
    };
    run_test(options, |t| async move {
        let (repo, sha) = pushed(&t).await;
        let id = analysis_id(&t, &repo, &sha).await;
        // Its job ended without ending the analysis, long ago.
        t.store()
            .execute_admin(&format!(
                "UPDATE jobs SET state = 'failed', deadline_at = 1 WHERE analysis_id = {id}"
            ))
            .await
            .unwrap();
        t.start_workers(1).await;
        let run = t.expect_check_run(&sha).await;
        assert_eq!(
            run.conclusion.as_deref(),
            Some("timed_out"),
            "{:?}",
            run.summary
        );
        assert!(run
            .summary
            .unwrap()
            .contains("no worker is running it any more"));
    })
    .await;
}

/// GitHub's limits are the installation's, not a request's: a rate limit on one repository's
/// request holds every request of that installation until the reset, and content-creating
/// requests go one at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_limit_pauses_the_whole_installation_and_writes_go_one_at_a_time() {
    let options = Options {
        workers: 4,
        ..Options::default()
    };
    run_test(options, |t| async move {
        t.github().slow_writes(Duration::from_millis(150));
        t.github()
            .fail_next("checks/create", 429, 1, &[("retry-after", "2")]);
        let one = t.repo("acme/one");
        let two = t.repo("acme/two");
        let a = one.commit("main", &[("a.py", "X = 1\n")]);
        let b = two.commit("main", &[("b.py", "Y = 2\n")]);
        tokio::join!(one.push(None, &a), two.push(None, &b));
        t.expect_check_run(&a).await;
        t.expect_check_run(&b).await;

        let requests = t.github().requests();
        let limited = requests
            .iter()
            .find(|r| r.status == 429)
            .expect("the injected rate limit")
            .at;
        let during: Vec<String> = requests
            .iter()
            .filter(|r| r.at > limited)
            .filter(|r| r.at.duration_since(limited).unwrap() < Duration::from_millis(1900))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert!(during.is_empty(), "sent during the pause: {during:?}");
        assert_eq!(
            t.github().max_writes_in_flight(harness::dsl::INSTALLATION),
            1,
            "one content-creating request at a time"
        );
    })
    .await;
}
