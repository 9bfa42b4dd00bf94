//! A crash: the real server killed with SIGKILL in the middle of an analysis, then started
//! again on the same data. No check run is left `in_progress` past the job's deadline: the
//! restarted workers' sweep (or the take-over of the dead worker's expired lease) completes it
//! `timed_out` with the reason.

mod harness;
mod support;

use harness::dsl::{APP_ID, INSTALLATION};
use harness::pull::{app_env, first_push};
use harness::server::Server;
use std::time::{Duration, Instant};
use support::{shared_app_key, FakeGitHub};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_mid_analysis_leaves_no_check_run_in_progress() {
    let (private_pem, public_pem) = shared_app_key();
    let github = FakeGitHub::start(APP_ID, public_pem).await;
    github.add_installation(INSTALLATION, &[("acme", "crashy", 6006)]);
    github.create_repo("acme", "crashy");
    let sha = github.commit(
        "acme",
        "crashy",
        "main",
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"crash_marker\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
            ),
            (
                "build.rs",
                "fn main() { std::thread::sleep(std::time::Duration::from_secs(1000)); }\n",
            ),
            ("src/lib.rs", "pub fn f() {}\n"),
        ],
        "slow",
    );
    let settings = app_env(
        &github,
        private_pem,
        &[
            ("FLEXT_QUALITY_JOB_DEADLINE_SECS", "6"),
            ("FLEXT_QUALITY_LEASE_SECS", "2"),
        ],
    );
    let cwd = tempfile::tempdir().unwrap();
    let mut server = Server::start(cwd.path(), &settings);
    server.wait_ready().await;
    let body = first_push(&github, "acme", "crashy", 6006, &sha);
    let (status, text) = server.webhook("push", &body).await;
    assert_eq!(status, 202, "{text}");

    let started = Instant::now();
    while !github
        .check_runs_for(&sha)
        .iter()
        .any(|r| r.status == "in_progress")
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
