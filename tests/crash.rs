//! A crash: the real server killed with SIGKILL in the middle of an analysis, then started
//! again on the same data. No check run is left `in_progress` past the job's deadline: the
//! restarted workers' sweep (or the take-over of the dead worker's expired lease) completes it
//! `timed_out` with the reason.

mod harness;
mod support;

use harness::pull::{app_env, crate_repo, first_push, wait_in_progress};
use harness::server::Server;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_mid_analysis_leaves_no_check_run_in_progress() {
    let (github, private_pem, sha) = crate_repo(
        "crash_marker",
        6006,
        "fn main() { std::thread::sleep(std::time::Duration::from_secs(1000)); }\n",
    )
    .await;
    let settings = app_env(
        &github,
        &private_pem,
        &[
            ("FLEXT_QUALITY_JOB_DEADLINE_SECS", "6"),
            ("FLEXT_QUALITY_LEASE_SECS", "2"),
        ],
    );
    let cwd = tempfile::tempdir().unwrap();
    let mut server = Server::start(cwd.path(), &settings);
    server.wait_ready().await;
    let body = first_push(&github, "acme", "crash_marker", 6006, &sha);
    let (status, text) = server.webhook("push", &body).await;
    assert_eq!(status, 202, "{text}");

    wait_in_progress(&github, &sha, &server).await;
    // Let Clippy's build script start, then pull the plug.
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.kill();
    let killed_at = Instant::now();

    let server = Server::start(cwd.path(), &settings);
    server.wait_ready().await;
    let run = loop {
        if let Some(r) = github
            .check_runs_for(&sha)
            .into_iter()
            .find(|r| r.status == "completed")
        {
            break r;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(60),
            "still in progress:\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let run = github.consume_check_run(run.id).unwrap();
    assert_eq!(
        run.conclusion.as_deref(),
        Some("timed_out"),
        "{:?}",
        run.summary
    );
    assert!(
        run.summary
            .as_deref()
            .unwrap_or("")
            .contains("FLEXT_QUALITY_JOB_DEADLINE_SECS"),
        "{:?}",
        run.summary
    );
    assert_eq!(
        github.check_runs_for(&sha).len(),
        1,
        "the same check run, completed"
    );
    drop(server);
}
