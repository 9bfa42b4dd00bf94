//! `/readyz` says what is missing, as JSON, and is 200 only when nothing is: the database
//! answers with every migration applied, and — where the process runs analyses — the tools
//! are installed and the jail works. Draining for a shutdown is "not ready" too.

mod harness;
mod support;

use flext_quality::analysis::jail::JailState;
use harness::dsl::{run_test, Options, Tester};
use serde_json::Value;
use std::sync::Arc;

/// Serves the real router over `state` and GETs `/readyz`.
async fn readyz(state: Arc<flext_quality::web::AppState>) -> (u16, Value) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/readyz", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, flext_quality::web::router(state))
            .await
            .unwrap()
    });
    let r = reqwest::get(url).await.unwrap();
    let out = (r.status().as_u16(), r.json().await.unwrap());
    server.abort();
    out
}

fn state(
    t: &Tester,
    tools_dir: &std::path::Path,
    jail: Option<JailState>,
) -> Arc<flext_quality::web::AppState> {
    let mut state =
        flext_quality::server::app_state(t.settings(), t.store().clone(), Default::default());
    let s = Arc::get_mut(&mut state).unwrap();
    s.runs_workers = true.into();
    s.tools_dir = tools_dir.to_path_buf();
    *s.jail.write().unwrap() = jail;
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_names_what_is_missing() {
    run_test(Options::default(), |t| async move {
        let tools = t.settings().analysis.tools_dir.clone();
        let (status, body) = readyz(state(&t, &tools, Some(JailState::Jailed))).await;
        assert_eq!((status, &body["missing"]), (200, &serde_json::json!([])), "{body}");

        let empty = tempfile::tempdir().unwrap();
        let (status, body) = readyz(state(&t, empty.path(), None)).await;
        assert_eq!(status, 503);
        let missing = body["missing"].to_string();
        assert!(missing.contains("analysis tools are not installed"), "{missing}");
        assert!(missing.contains("jail has not been tried"), "{missing}");

        let (status, body) = readyz(state(&t, &tools, Some(JailState::Unavailable("bwrap: no user namespaces".into())))).await;
        assert_eq!(status, 503);
        assert!(body["missing"].to_string().contains("no user namespaces"), "{body}");

        let draining = state(&t, &tools, Some(JailState::Jailed));
        draining.draining.store(true, std::sync::atomic::Ordering::SeqCst);
        let (status, body) = readyz(draining).await;
        assert_eq!((status, body["missing"][0].as_str()), (503, Some("shutting down")));

        // A database an older release migrated: this binary must not serve it.
        let url = t.database_url();
        let admin = flext_quality::store::Store::connect(&url).await.unwrap();
        // The row says which migrations ran; without it this one counts as not applied.
        admin.execute_admin("DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)").await.unwrap();
        let (status, body) = readyz(state(&t, &tools, Some(JailState::Jailed))).await;
        assert_eq!(status, 503);
        assert!(body["missing"].to_string().contains("1 database migration(s) not applied"), "{body}");
    })
    .await;
}
