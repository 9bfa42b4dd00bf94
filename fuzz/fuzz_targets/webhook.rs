//! Webhook ingress through the real router over a real database (SQLite in a temporary
//! directory; PostgreSQL when `FQ_FUZZ_DATABASE_URL` names a server, in a database
//! `fq_fuzz_<n>` left behind for inspection).
#![no_main]

use flext_quality::fuzzing::webhook::{check_delivery, fixtures_dir, load_seeds, Ingress, Seeds};
use libfuzzer_sys::fuzz_target;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
});
static INGRESS: LazyLock<Ingress> = LazyLock::new(|| {
    RUNTIME
        .block_on(async {
            match std::env::var("FQ_FUZZ_DATABASE_URL") {
                Ok(url) => Ingress::postgres(&url, true).await,
                Err(_) => Ingress::sqlite().await,
            }
        })
        .expect("a database for ingress")
});
static SEEDS: LazyLock<Seeds> = LazyLock::new(|| {
    load_seeds(&fixtures_dir()).unwrap_or_else(|e| panic!("example payloads: {e:#}"))
});
static FRESH: AtomicU64 = AtomicU64::new(0);

fuzz_target!(|data: &[u8]| {
    let id = format!("fuzz-{}", FRESH.fetch_add(1, Ordering::Relaxed));
    if let Err(why) = RUNTIME.block_on(check_delivery(data, &INGRESS, &SEEDS, &id)) {
        panic!("{why}");
    }
});
