//! What happens when things go wrong: a worker dies mid-analysis, attempts run out, GitHub
//! answers 5xx or rate-limits, a repository cannot be fetched.

mod harness;
mod support;

use harness::app::{fixture, retarget, Options, TestApp, INSTALLATION};
use serde_json::Value;
use std::time::{Duration, Instant};

const OWNER: &str = "acme";
const REPO: &str = "gadgets";
const REPO_ID: u64 = 2002;

fn push(app: &TestApp, sha: &str) -> Value {
    let mut p = fixture("push", "with-new-branch.payload.json");
    retarget(&mut p, &app.github, OWNER, REPO, REPO_ID);
    p["ref"] = "refs/heads/main".into();
    p["before"] = "0".repeat(40).into();
    p["after"] = sha.into();
    p
}

async fn setup(options: Options) -> (TestApp, String) {
    let app = TestApp::start(options).await;
    app.github
        .add_installation(INSTALLATION, &[(OWNER, REPO, REPO_ID)]);
    app.github.create_repo(OWNER, REPO);
    let sha = app.github.commit(
        OWNER,
        REPO,
        "main",
        &[("app.py", "import os\n\nprint(os.sep)\n")],
        "init",
    );
    (app, sha)
}

async fn completed_run(app: &TestApp, sha: &str, limit: Duration) -> support::CheckRun {
    let started = Instant::now();
    loop {
        if let Some(run) = app
            .github
            .check_runs_for(sha)
            .into_iter()
            .find(|r| r.status == "completed")
        {
            return run;
        }
        assert!(
            started.elapsed() < limit,
            "no completed check run on {sha} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn job_of(text: &str) -> i64 {
    text.split("as job ")
        .nth(1)
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("no job in {text:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_whose_worker_died_is_finished_by_another() {
    let (mut app, sha) = setup(Options {
        workers: 0,
        ..Options::default()
    })
    .await;
    let (status, text) = app.webhook("push", "d1", &push(&app, &sha)).await;
    assert_eq!(status, 202, "{text}");
    let job_id = job_of(&text);
    // A worker claims the job, puts the check run in progress, and dies (stops renewing).
    let claimed = app
        .store
        .claim_job("doomed-worker", 300)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, job_id);
    app.ctx
        .start_check_run(claimed.analysis_id.unwrap())
        .await
        .unwrap();
    assert_eq!(app.github.check_runs_for(&sha)[0].status, "in_progress");

    app.start_workers(1, Duration::from_secs(30));
    let run = completed_run(&app, &sha, Duration::from_secs(60)).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        run.summary
    );
    assert_eq!(
        app.github.check_runs_for(&sha).len(),
        1,
        "the same check run is reused"
    );
    app.wait_idle(Duration::from_secs(10)).await;
    let job = app.store.get_job(job_id).await.unwrap().unwrap();
    assert_eq!((job.state.as_str(), job.attempts), ("done", 2));
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_the_last_attempt_the_check_run_says_why() {
    let (mut app, sha) = setup(Options {
        workers: 0,
        max_attempts: 1,
        ..Options::default()
    })
    .await;
    let (_, text) = app.webhook("push", "d1", &push(&app, &sha)).await;
    let job_id = job_of(&text);
    let claimed = app
        .store
        .claim_job("doomed-worker", 200)
        .await
        .unwrap()
        .unwrap();
    app.ctx
        .start_check_run(claimed.analysis_id.unwrap())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;

    app.start_workers(1, Duration::from_secs(30));
    let run = completed_run(&app, &sha, Duration::from_secs(30)).await;
    assert_eq!(run.conclusion.as_deref(), Some("timed_out"));
    let summary = run.summary.unwrap();
    assert!(
        summary.contains("did not finish within 1 attempts"),
        "{summary}"
    );
    app.wait_idle(Duration::from_secs(10)).await;
    assert_eq!(
        app.store.get_job(job_id).await.unwrap().unwrap().state,
        "failed"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn github_errors_are_retried_and_rate_limits_waited_out() {
    let (app, sha) = setup(Options::default()).await;
    app.github.fail_next("checks/create", 502, 2, &[]);
    let reset = (support::unix_now() + 1).to_string();
    app.github.fail_next(
        "checks/update",
        403,
        1,
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", reset.as_str()),
        ],
    );
    let (status, _) = app.webhook("push", "d1", &push(&app, &sha)).await;
    assert_eq!(status, 202);
    let run = completed_run(&app, &sha, Duration::from_secs(60)).await;
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    let statuses: Vec<u16> = app.github.requests().iter().map(|r| r.status).collect();
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
    let sha2 = app
        .github
        .commit(OWNER, REPO, "main", &[("more.py", "X = 1\n")], "more");
    let mut p = push(&app, &sha2);
    p["before"] = sha.clone().into();
    app.webhook("push", "d2", &p).await;
    let run2 = completed_run(&app, &sha2, Duration::from_secs(60)).await;
    assert!(
        run2.summary.unwrap().contains(&sha[..12]),
        "compared with the previous push"
    );
    assert_eq!(app.github.tokens_issued(), 1);
    app.wait_idle(Duration::from_secs(10)).await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unfetchable_repository_fails_with_the_reason() {
    let (app, sha) = setup(Options {
        max_attempts: 2,
        ..Options::default()
    })
    .await;
    // The payload's clone URL names a repository the git host does not have.
    let mut p = push(&app, &sha);
    p["repository"]["clone_url"] = app.github.clone_url(OWNER, "vanished").into();
    let (status, text) = app.webhook("push", "d1", &p).await;
    assert_eq!(status, 202, "{text}");
    let job_id = job_of(&text);
    let started = Instant::now();
    loop {
        let job = app.store.get_job(job_id).await.unwrap().unwrap();
        if job.state == "failed" {
            break;
        }
        // Skip the back-off between attempts.
        if job.state == "queued" && job.attempts > 0 {
            app.store.make_runnable_now(job_id).await.unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "job never gave up: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let job = app.store.get_job(job_id).await.unwrap().unwrap();
    assert_eq!(job.attempts, 2);
    let run = completed_run(&app, &sha, Duration::from_secs(10)).await;
    // A check never passes a gate it could not evaluate.
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    let summary = run.summary.unwrap();
    assert!(summary.contains("fetching refs/heads/main"), "{summary}");
    assert!(
        !summary.contains("ghs_"),
        "no token in what users see: {summary}"
    );
    assert_eq!(app.github.check_runs_for(&sha).len(), 1);
    let analysis = app
        .store
        .find_analysis(REPO_ID as i64, &sha)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(analysis.status, "failed");
    app.finish().await;
}
