//! One million generated webhook deliveries through the real router (issue 13, §5): the
//! shared generator of `flext_quality::fuzzing::webhook` (GitHub's example payloads poisoned
//! structurally, mutated byte by byte, random bodies, odd headers, every kind of signature)
//! sent in process to `flext_quality::web::router` over a fresh database, many at once.
//!
//! It counts answers by status, 5xx and panics (target 0 of each) and prints deliveries per
//! second. It prints; it does not fail on a number.
//!
//! `FQ_BENCH_BODIES` (default 1,000,000), `FQ_BENCH_DB` (`postgres`, the default, on the
//! server of `TEST_DATABASE_URL`, in a database created and dropped; or `sqlite`),
//! `FQ_BENCH_CONCURRENCY` (default 64 in flight), `FQ_BENCH_SEED`.

use anyhow::{bail, Context, Result};
use flext_quality::fuzzing::webhook::{
    check_response, delivery, fixtures_dir, load_seeds, send, Ingress,
};
use flext_quality::fuzzing::{fill_bytes, panic_message, Entropy};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn var<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .replace('_', "")
            .parse()
            .map_err(|_| anyhow::anyhow!("{name} must be a number, not `{v}`")),
        _ => Ok(default),
    }
}

/// What happened to one delivery.
enum Outcome {
    Status(u16, Option<String>),
    Panic(String),
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; nothing else is expected.
    let total: u64 = var("FQ_BENCH_BODIES", 1_000_000)?;
    let concurrency: usize = var("FQ_BENCH_CONCURRENCY", 64)?;
    let seed: u64 = var("FQ_BENCH_SEED", 0x5eed_1e55)?;
    let engine = std::env::var("FQ_BENCH_DB").unwrap_or_else(|_| "postgres".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(total, concurrency.max(1), seed, &engine))
}

async fn run(total: u64, concurrency: usize, seed: u64, engine: &str) -> Result<()> {
    let seeds = Arc::new(load_seeds(&fixtures_dir()).with_context(|| {
        format!(
            "GitHub's example payloads are needed at {}",
            fixtures_dir().display()
        )
    })?);
    let ingress = match engine {
        "postgres" => {
            let admin = std::env::var("TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            Ingress::postgres(&admin, true).await?
        }
        "sqlite" => Ingress::sqlite().await?,
        other => bail!("FQ_BENCH_DB must be postgres or sqlite, not `{other}`"),
    };
    let ingress = Arc::new(ingress);
    println!(
        "ingress_million: {total} generated deliveries through flext_quality::web::router \
         (in process) on {engine}, {concurrency} in flight, {} seed payloads, seed {seed:#x}",
        seeds.len()
    );
    if engine == "postgres" {
        println!(
            "  (the benchmark's own database has synchronous_commit off: this run measures \
             what ingress answers, not how durably it records)"
        );
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut failures: Vec<String> = Vec::new();
    let mut panics: Vec<String> = Vec::new();
    let mut done: u64 = 0;
    let mut last_report = Instant::now();
    let record = |outcome: Outcome,
                  statuses: &mut BTreeMap<u16, u64>,
                  failures: &mut Vec<String>,
                  panics: &mut Vec<String>| match outcome {
        Outcome::Status(s, why) => {
            *statuses.entry(s).or_default() += 1;
            if let Some(w) = why {
                failures.push(w);
            }
        }
        Outcome::Panic(p) => panics.push(p),
    };
    for i in 0..total {
        while tasks.len() >= concurrency {
            if let Some(joined) = tasks.join_next().await {
                done += 1;
                let outcome = joined.unwrap_or_else(|e| {
                    Outcome::Panic(if e.is_panic() {
                        panic_message(&*e.into_panic())
                    } else {
                        "task cancelled".into()
                    })
                });
                record(outcome, &mut statuses, &mut failures, &mut panics);
            }
        }
        let (ingress, seeds) = (ingress.clone(), seeds.clone());
        tasks.spawn(async move {
            let mut state = seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            let mut bytes = Vec::new();
            let len = 64 + (i as usize * 7919) % 960;
            fill_bytes(&mut state, &mut bytes, len);
            let d = delivery(&mut Entropy::new(&bytes), &seeds, &format!("m-{i}"), true);
            let (status, body) = send(&ingress.router, d.request()).await;
            let why = check_response(status, &body)
                .err()
                .map(|w| format!("delivery {i}: {w}"));
            Outcome::Status(status, why)
        });
        if last_report.elapsed() > Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "  … {done} answered in {:.0} s ({:.0}/s)",
                started.elapsed().as_secs_f64(),
                done as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.unwrap_or_else(|e| {
            Outcome::Panic(if e.is_panic() {
                panic_message(&*e.into_panic())
            } else {
                "task cancelled".into()
            })
        });
        record(outcome, &mut statuses, &mut failures, &mut panics);
    }
    let elapsed = started.elapsed();
    let class = |lo: u16| -> u64 {
        statuses
            .iter()
            .filter(|(s, _)| (lo..lo + 100).contains(*s))
            .map(|(_, n)| n)
            .sum()
    };
    let server_errors = class(500);
    println!(
        "\n  {total} deliveries in {:.1} s: {:.0} deliveries/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  2xx {}  4xx {}  5xx {}  panics {}",
        class(200),
        class(400),
        server_errors,
        panics.len()
    );
    let by_status: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    println!("  by status: {}", by_status.join(", "));
    let recorded = ingress.store.delivery_count().await?;
    println!("  deliveries recorded in the database: {recorded}");
    let (health, _) = send(
        &ingress.router,
        axum::http::Request::get("/healthz").body(axum::body::Body::empty())?,
    )
    .await;
    println!("  GET /healthz afterwards: {health}");
    println!(
        "  5xx: {server_errors} (target 0) {}; panics: {} (target 0) {}; answers that broke the rules (5xx, or a 4xx without a one-line reason): {}",
        if server_errors == 0 { "MET" } else { "NOT MET" },
        panics.len(),
        if panics.is_empty() { "MET" } else { "NOT MET" },
        failures.len()
    );
    for f in failures.iter().take(5) {
        println!("    {}", f.chars().take(400).collect::<String>());
    }
    for p in panics.iter().take(5) {
        println!("    panic: {p}");
    }
    match Arc::try_unwrap(ingress) {
        Ok(ingress) => ingress.close().await,
        Err(_) => eprintln!("  (the database was left behind: a task still holds it)"),
    }
    Ok(())
}
