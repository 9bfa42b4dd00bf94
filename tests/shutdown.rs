//! A graceful shutdown, with the real binary: SIGTERM in the middle of an analysis. New
//! webhooks get 503 at once (GitHub records a failed delivery, reconciliation brings it back),
//! the running job gets its grace period, then goes back to the queue with its lease released,
//! and the process exits 0. The next instance takes the job over at once — long before the
//! lease would have expired — and completes the same check run.

mod harness;
mod support;

use harness::pull::{app_env, crate_repo, first_push, wait_in_progress};
use harness::server::Server;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_mid_analysis_hands_the_job_to_the_next_instance() {
    // The build script waits until a moment in the future: past the first instance's grace
    // period, so the second instance must finish the job; then it lets the build go on.
    let until = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 12;
    let build = format!(
        "fn main() {{ loop {{ let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(); if now >= {until} {{ break; }} std::thread::sleep(std::time::Duration::from_millis(200)); }} }}\n"
    );
    let (github, private_pem, sha) = crate_repo("graceful", 7007, &build).await;
    let settings = app_env(
        &github,
        &private_pem,
        &[
            // A lease far longer than the test: only the hand-back can explain a quick take-over.
            ("FLEXT_QUALITY_LEASE_SECS", "120"),
            ("FLEXT_QUALITY_SHUTDOWN_GRACE_SECS", "2"),
        ],
    );
    let cwd = tempfile::tempdir().unwrap();
    let mut first = Server::start(cwd.path(), &settings);
    first.wait_ready().await;
    let body = first_push(&github, "acme", "graceful", 7007, &sha);
    let (status, text) = first.webhook("push", &body).await;
    assert_eq!(status, 202, "{text}");
    wait_in_progress(&github, &sha, &first).await;
    tokio::time::sleep(Duration::from_millis(800)).await;

    first.terminate();
    let terminated = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, text) = first.webhook("push", &body).await;
    assert_eq!(status, 503, "a webhook during shutdown is refused: {text}");
    assert!(text.contains("shutting down"), "{text}");
    let ready = reqwest::get(format!("{}/readyz", first.url()))
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let code = first.wait_exit(Duration::from_secs(20));
    assert_eq!(
        code,
        Some(0),
        "exit 0 after handing back:\n{}",
        first.logs()
    );
    assert!(terminated.elapsed() < Duration::from_secs(10));
    let logs = first.logs();
    assert!(logs.contains("grace period over"), "{logs}");
    assert!(logs.contains("goes back to the queue"), "{logs}");

    let second = Server::start(cwd.path(), &settings);
    second.wait_ready().await;
    let restarted = Instant::now();
    let run = loop {
        if let Some(r) = github
            .check_runs_for(&sha)
            .into_iter()
            .find(|r| r.status == "completed")
        {
            break r;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(90),
            "not taken over:\n{}",
            second.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        restarted.elapsed() < Duration::from_secs(60),
        "taken over at once, not after the 120 s lease"
    );
    let run = github.consume_check_run(run.id).unwrap();
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{:?}",
        run.summary
    );
    assert_eq!(
        github.check_runs_for(&sha).len(),
        1,
        "one check run, completed by the second instance"
    );
    drop(second);
}
