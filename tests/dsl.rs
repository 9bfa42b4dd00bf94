//! The test DSL holds the suite to its rules: a check run the app published that no assertion
//! consumed fails the test at teardown, and a test that panics still drops its database.

mod harness;
mod support;

use harness::dsl::{run_test, Options};
use std::time::Duration;

/// Whether a database of that name exists on the PostgreSQL server.
async fn database_exists(name: &str) -> bool {
    let admin = flext_quality::store::Store::connect(&harness::db::admin_url())
        .await
        .expect("PostgreSQL is required for this test");
    let exists = admin.database_exists(name).await.unwrap();
    admin.close().await;
    exists
}

fn message(e: tokio::task::JoinError) -> String {
    let p = e.into_panic();
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unconsumed_check_run_fails_the_test() {
    let result = tokio::spawn(run_test(Options::default(), |t| async move {
        let repo = t.repo("acme/unread");
        let sha = repo.commit("main", &[("a.py", "X = 1\n")]);
        repo.push(None, &sha).await;
        // Wait for it without consuming it: only assertions that read it count.
        let started = std::time::Instant::now();
        while !t
            .github()
            .check_runs_for(&sha)
            .iter()
            .any(|r| r.status == "completed")
        {
            assert!(started.elapsed() < Duration::from_secs(60));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        t.wait_idle().await;
    }))
    .await;
    let text = message(result.expect_err("the test must fail"));
    assert!(
        text.contains("teardown") && text.contains("check run #"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panicking_test_still_drops_its_database() {
    let name = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let seen = name.clone();
    let result = tokio::spawn(run_test(Options::default(), |t| async move {
        *seen.lock().unwrap() = t.database_name();
        panic!("deliberately");
    }))
    .await;
    assert!(message(result.expect_err("the test must fail")).contains("deliberately"));
    let name = name
        .lock()
        .unwrap()
        .clone()
        .expect("a PostgreSQL test database");
    assert!(!database_exists(&name).await, "{name} was left behind");
}
