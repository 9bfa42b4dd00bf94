//! Webhook ingress against the shared delivery generator (`flext_quality::fuzzing::webhook`,
//! also driven by the `webhook` fuzz target and the million-body benchmark), through the real
//! router in process, on PostgreSQL and on SQLite: structurally poisoned payloads (NUL bytes,
//! absurd numbers, deep nesting, fields removed or retyped), mutated and random bodies, odd
//! headers and every kind of signature. Each gets a 2xx or a 4xx with a one-line reason, never
//! a 5xx or a panic.

use flext_quality::fuzzing::webhook::{check_delivery, fixtures_dir, load_seeds, Ingress, Seeds};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn seeds() -> Seeds {
    load_seeds(&fixtures_dir()).unwrap_or_else(|e| {
        panic!(
            "GitHub's example payloads are needed ({}): {e:#}",
            fixtures_dir().display()
        )
    })
}

async fn deliveries_never_fail(ingress: Ingress) {
    let seeds = seeds();
    let handle = tokio::runtime::Handle::current();
    let fresh = AtomicU64::new(0);
    let statuses = std::sync::Mutex::new(BTreeMap::<u16, usize>::new());
    tokio::task::block_in_place(|| {
        let mut runner = TestRunner::new(Config {
            cases: 400,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&prop::collection::vec(any::<u8>(), 0..1024), |data| {
                let id = format!("fuzz-{}", fresh.fetch_add(1, Ordering::Relaxed));
                let status = handle
                    .block_on(check_delivery(&data, &ingress, &seeds, &id))
                    .map_err(TestCaseError::fail)?;
                *statuses.lock().unwrap().entry(status).or_default() += 1;
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    });
    let statuses = statuses.into_inner().unwrap();
    // Both sides were reached: deliveries recorded, and deliveries refused.
    assert!(statuses.contains_key(&202), "{statuses:?}");
    assert!(
        statuses.keys().any(|s| (400..500).contains(s)),
        "{statuses:?}"
    );
    let recorded = ingress.store.delivery_count().await.unwrap();
    assert!(
        recorded > 0,
        "accepted deliveries are recorded: {statuses:?}"
    );
    ingress.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let ingress = Ingress::postgres(&admin_url(), false)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    deliveries_never_fail(ingress).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let ingress = Ingress::sqlite().await.unwrap_or_else(|e| panic!("{e:#}"));
    deliveries_never_fail(ingress).await;
}

/// Found by `postgres`: a NUL in a name, ref or SHA of an otherwise valid, well-signed
/// payload reached PostgreSQL, which cannot store it, and ingress answered 503. It is a
/// malformed payload: 400, on both engines, and nothing is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_a_stored_name_is_a_bad_request() {
    use flext_quality::fuzzing::webhook::{builtin_seeds, send, Delivery, Signature};
    for ingress in [
        Ingress::postgres(&admin_url(), false).await.unwrap(),
        Ingress::sqlite().await.unwrap(),
    ] {
        let (event, mut payload) = builtin_seeds().remove(0);
        payload["check_suite"]["head_sha"] = "0123\u{0}abc".into();
        let mut d = Delivery {
            event: Some(event.clone().into_bytes()),
            delivery_id: Some(b"nul-1".to_vec()),
            signature: Signature::Valid,
            body: serde_json::to_vec(&payload).unwrap(),
            content_type: Some("application/json"),
            claimed_length: None,
        };
        let (status, text) = send(&ingress.router, d.request()).await;
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("NUL"), "{text}");
        payload["check_suite"]["head_sha"] = "0123abc".into();
        payload["action"] = "requested\u{0}".into();
        d.body = serde_json::to_vec(&payload).unwrap();
        d.delivery_id = Some(b"nul-2".to_vec());
        let (status, text) = send(&ingress.router, d.request()).await;
        assert_eq!(status, 400, "{text}");
        assert_eq!(ingress.store.delivery_count().await.unwrap(), 0);
        ingress.close().await;
    }
}
