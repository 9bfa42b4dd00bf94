//! Benchmark: webhook ingest of `flext-quality serve --no-workers` on PostgreSQL against its
//! peers, in one run — a minimal Probot 14 app (benches/ingest/probot) and a bare axum handler
//! that only verifies the signature (the HTTP stack's limit). See benches/README.md.
//!
//! Each is driven by `wrk` (2 threads × 32 connections) with benches/ingest/deliver.lua: the
//! same signed `pull_request` body under a fresh `X-GitHub-Delivery` per request. Printed:
//! deliveries/s, latency percentiles, non-2xx answers, the ratios against the targets, the
//! resident memory of `serve` idle and after the load, and whether every delivery answered 2xx
//! is in the database.
//!
//! `FQ_BENCH_SECONDS` (default 15) is each measured run's length, after a warm-up of
//! `FQ_BENCH_WARMUP_SECONDS` (default 3); `FQ_BENCH_PEERS` (default `bare,probot,ours`) picks
//! which to run.

use anyhow::{bail, Context, Result};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use secrecy::SecretString;
use sqlx::{Connection, PgConnection};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

const THREADS: u32 = 2;
const CONNECTIONS: u32 = 32;
const PATH: &str = "/webhooks/github";
const TARGET_VS_PROBOT: f64 = 3.0;
const TARGET_VS_BARE: f64 = 0.5;
const TARGET_P99_MS: f64 = 20.0;
const TARGET_IDLE_RSS_MB: f64 = 50.0;

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(run());
    runtime.shutdown_background();
    outcome
}

struct Settings {
    seconds: u64,
    warmup: u64,
    peers: Vec<String>,
}

fn settings() -> Result<Settings> {
    let number = |name: &str, default: u64| -> Result<u64> {
        match std::env::var(name) {
            Ok(v) => v
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0 || name.contains("WARMUP"))
                .with_context(|| format!("{name} must be a whole number of seconds, not `{v}`")),
            Err(_) => Ok(default),
        }
    };
    let peers: Vec<String> = std::env::var("FQ_BENCH_PEERS")
        .unwrap_or_else(|_| "bare,probot,ours".into())
        .split(',')
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    if let Some(p) = peers
        .iter()
        .find(|p| !["bare", "probot", "ours"].contains(&p.as_str()))
    {
        bail!("FQ_BENCH_PEERS: unknown `{p}` (bare, probot, ours)");
    }
    Ok(Settings {
        seconds: number("FQ_BENCH_SECONDS", 15)?,
        warmup: number("FQ_BENCH_WARMUP_SECONDS", 3)?,
        peers,
    })
}

/// What one wrk run saw.
#[derive(Debug, Clone, Copy)]
struct Load {
    requests: u64,
    seconds: f64,
    non_2xx: u64,
    socket_errors: u64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl Load {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    fn answered_2xx(&self) -> u64 {
        self.requests - self.non_2xx
    }
}

struct Bench {
    dir: tempfile::TempDir,
    body_file: PathBuf,
    signature: String,
    secret: String,
    settings: Settings,
}

async fn run() -> Result<()> {
    let settings = settings()?;
    which("wrk", "install it with `apt-get install -y wrk`")?;
    let body = std::fs::read(fixture()).context("reading the pull_request example payload")?;
    let dir = tempfile::tempdir()?;
    let body_file = dir.path().join("body.json");
    std::fs::write(&body_file, &body)?;
    let secret = random_hex(16);
    let signature =
        flext_quality::github::signature::sign(&SecretString::from(secret.clone()), &body);
    let bench = Bench {
        dir,
        body_file,
        signature,
        secret,
        settings,
    };
    println!(
        "ingest: wrk {THREADS} threads × {CONNECTIONS} connections, {} s per run after {} s of warm-up; \
         one signed pull_request body ({} bytes), a fresh X-GitHub-Delivery per request; {} cores",
        bench.settings.seconds,
        bench.settings.warmup,
        body.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let wants = |p: &str| bench.settings.peers.iter().any(|x| x == p);
    let bare = if wants("bare") {
        Some(bench.bare().await?)
    } else {
        None
    };
    let probot = if wants("probot") {
        Some(bench.probot().await?)
    } else {
        None
    };
    let ours = if wants("ours") {
        Some(bench.ours().await?)
    } else {
        None
    };
    println!();
    println!(
        "{:<34} {:>11} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "server", "deliveries/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "non-2xx", "errors"
    );
    for (name, load) in [
        ("bare axum (verify signature only)", bare),
        ("Probot 14", probot.as_ref().map(|p| p.load)),
        (
            "flext-quality serve --no-workers",
            ours.as_ref().map(|o| o.load),
        ),
    ] {
        if let Some(l) = load {
            println!(
                "{name:<34} {:>11.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8} {:>7}",
                l.per_second(),
                l.p50_ms,
                l.p90_ms,
                l.p99_ms,
                l.max_ms,
                l.non_2xx,
                l.socket_errors
            );
        }
    }
    println!();
    if let Some(o) = &ours {
        let pass = |ok: bool| if ok { "MET" } else { "NOT MET" };
        if let Some(p) = &probot {
            let ratio = o.load.per_second() / p.load.per_second();
            println!(
                "ours / Probot:      {ratio:.2}×   (target ≥ {TARGET_VS_PROBOT}×: {})",
                pass(ratio >= TARGET_VS_PROBOT)
            );
        }
        if let Some(b) = &bare {
            let ratio = o.load.per_second() / b.per_second();
            println!(
                "ours / bare axum:   {:.0} %   (target ≥ {:.0} %: {})",
                ratio * 100.0,
                TARGET_VS_BARE * 100.0,
                pass(ratio >= TARGET_VS_BARE)
            );
        }
        println!(
            "our p99:            {:.2} ms (target < {TARGET_P99_MS} ms: {})",
            o.load.p99_ms,
            pass(o.load.p99_ms < TARGET_P99_MS)
        );
        println!(
            "serve RSS:          {:.1} MB idle (target ≤ {TARGET_IDLE_RSS_MB} MB: {}), {:.1} MB after the load",
            o.idle_rss_mb,
            pass(o.idle_rss_mb <= TARGET_IDLE_RSS_MB),
            o.loaded_rss_mb
        );
        let missing = o.load.answered_2xx().saturating_sub(o.recorded);
        println!(
            "durability:         {} deliveries answered 2xx, {} recorded in PostgreSQL ({}; {} recorded whose answer wrk did not wait for at the stop); {}",
            o.load.answered_2xx(),
            o.recorded,
            if missing == 0 {
                "none accepted is missing".to_owned()
            } else {
                format!("{missing} ACCEPTED BUT MISSING")
            },
            o.recorded.saturating_sub(o.load.answered_2xx()),
            o.queue,
        );
    }
    if let Some(p) = &probot {
        println!(
            "Probot RSS:         {:.1} MB idle, {:.1} MB after the load; its handler ran {} times",
            p.idle_rss_mb, p.loaded_rss_mb, p.handled
        );
    }
    Ok(())
}

impl Bench {
    /// Runs wrk against `url` for `seconds`, delivery ids starting with `prefix`.
    async fn wrk(&self, url: &str, seconds: u64, prefix: &str) -> Result<Load> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ingest/deliver.lua");
        let output = Command::new("wrk")
            .args([
                &format!("-t{THREADS}"),
                &format!("-c{CONNECTIONS}"),
                &format!("-d{seconds}s"),
                "--timeout",
                "10s",
                "-s",
            ])
            .arg(&script)
            .arg(url)
            .arg("--")
            .arg(&self.body_file)
            .arg(&self.signature)
            .arg(prefix)
            .output()
            .await
            .context("running wrk")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "wrk failed ({}): {stdout}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("FQ-SUMMARY "))
            .with_context(|| format!("wrk printed no summary: {stdout}"))?;
        let n: Vec<u64> = line
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .with_context(|| format!("wrk summary `{line}`"))?;
        let [requests, micros, non_2xx, socket_errors, p50, p90, p99, max] = n[..] else {
            bail!("wrk summary `{line}`");
        };
        let ms = |us: u64| us as f64 / 1000.0;
        Ok(Load {
            requests,
            seconds: micros as f64 / 1e6,
            non_2xx,
            socket_errors,
            p50_ms: ms(p50),
            p90_ms: ms(p90),
            p99_ms: ms(p99),
            max_ms: ms(max),
        })
    }

    /// A warm-up (not counted) then the measured run.
    async fn measure(&self, name: &str, url: &str) -> Result<Load> {
        if self.settings.warmup > 0 {
            self.wrk(url, self.settings.warmup, "warm").await?;
        }
        let load = self.wrk(url, self.settings.seconds, "run").await?;
        println!(
            "{name}: {:.0} deliveries/s, p99 {:.2} ms, {} non-2xx",
            load.per_second(),
            load.p99_ms,
            load.non_2xx
        );
        Ok(load)
    }

    async fn bare(&self) -> Result<Load> {
        let secrets = std::sync::Arc::new(vec![SecretString::from(self.secret.clone())]);
        let handler = move |headers: HeaderMap, body: Bytes| {
            let secrets = secrets.clone();
            async move {
                let signature = headers
                    .get("x-hub-signature-256")
                    .and_then(|v| v.to_str().ok());
                match flext_quality::github::signature::verify(&secrets, signature, &body) {
                    Ok(()) => StatusCode::ACCEPTED,
                    Err(_) => StatusCode::UNAUTHORIZED,
                }
            }
        };
        let app = axum::Router::new().route(PATH, axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}{PATH}", listener.local_addr()?);
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let load = self.measure("bare axum", &url).await;
        server.abort();
        load
    }

    async fn probot(&self) -> Result<ProbotRun> {
        which(
            "node",
            "install Node.js 20.18 or newer (for example from https://nodejs.org or `apt-get install -y nodejs npm`)",
        )?;
        let app_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ingest/probot");
        if !app_dir.join("node_modules/probot").is_dir() {
            which("npm", "install npm (it comes with Node.js)")?;
            println!("installing the Probot app's packages (npm ci)…");
            let status = std::process::Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&app_dir)
                .status()
                .context("running npm ci")?;
            if !status.success() {
                bail!("npm ci failed in {}", app_dir.display());
            }
        }
        let port = free_port()?;
        let log = self.dir.path().join("probot.stderr");
        let mut child = Command::new("node")
            .arg("index.js")
            .current_dir(&app_dir)
            .env("PORT", port.to_string())
            .env("WEBHOOK_SECRET", &self.secret)
            .env("WEBHOOK_PATH", PATH)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true)
            .spawn()
            .context("starting the Probot app")?;
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&format!("{base}/ping"), &mut child, &log).await?;
        let pid = child.id().context("Probot's pid")?;
        let idle_rss_mb = rss_mb(pid)?;
        let load = self.measure("Probot 14", &format!("{base}{PATH}")).await?;
        let loaded_rss_mb = rss_mb(pid)?;
        // SIGTERM: the app says how many deliveries reached its handler, then exits.
        // SAFETY: signals our own child process.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        let handled = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("pull_request handled: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        Ok(ProbotRun {
            load,
            idle_rss_mb,
            loaded_rss_mb,
            handled,
        })
    }

    async fn ours(&self) -> Result<OursRun> {
        let admin = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("fq_ingest_{}", random_hex(6));
        let mut conn = PgConnection::connect(&admin)
            .await
            .context("PostgreSQL is required (set TEST_DATABASE_URL)")?;
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .context("creating the benchmark database")?;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        let outcome = self.ours_on(&url).await;
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await
            .context("dropping the benchmark database")?;
        outcome
    }

    async fn ours_on(&self, database_url: &str) -> Result<OursRun> {
        let port = free_port()?;
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data)?;
        let log = self.dir.path().join("serve.stderr");
        let mut child = Command::new(env!("CARGO_BIN_EXE_flext-quality"))
            .args(["serve", "--no-workers"])
            // Its own directory, so no developer's .env is read.
            .current_dir(&data)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url)
            .env("GITHUB_WEBHOOK_SECRET", &self.secret)
            .env("PORT", port.to_string())
            .env("FLEXT_QUALITY_DATA_DIR", &data)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true)
            .spawn()
            .context("starting flext-quality serve")?;
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&format!("{base}/healthz"), &mut child, &log).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let pid = child.id().context("serve's pid")?;
        let idle_rss_mb = rss_mb(pid)?;
        let load = self
            .measure("flext-quality serve", &format!("{base}{PATH}"))
            .await?;
        let loaded_rss_mb = rss_mb(pid)?;
        // Answers still being written when wrk stopped are committed within moments.
        tokio::time::sleep(Duration::from_secs(1)).await;
        child.kill().await.ok();
        let mut db = PgConnection::connect(database_url).await?;
        let (recorded,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM deliveries WHERE delivery_id LIKE 'run-%'")
                .fetch_one(&mut db)
                .await?;
        let (analyses, jobs): (i64, i64) =
            sqlx::query_as("SELECT (SELECT COUNT(*) FROM analyses), (SELECT COUNT(*) FROM jobs)")
                .fetch_one(&mut db)
                .await?;
        db.close().await.ok();
        Ok(OursRun {
            load,
            idle_rss_mb,
            loaded_rss_mb,
            recorded: recorded as u64,
            queue: format!("{analyses} analysis and {jobs} job queued for the one commit"),
        })
    }
}

struct ProbotRun {
    load: Load,
    idle_rss_mb: f64,
    loaded_rss_mb: f64,
    handled: u64,
}

struct OursRun {
    load: Load,
    idle_rss_mb: f64,
    loaded_rss_mb: f64,
    recorded: u64,
    queue: String,
}

/// The example payload the tests use too.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/github/webhooks/pull_request/opened.payload.json")
}

fn which(program: &str, how: &str) -> Result<()> {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    if !found {
        bail!("`{program}` is not installed: {how}");
    }
    Ok(())
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    openssl::rand::rand_bytes(&mut b).expect("random bytes");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Resident memory of a process, from /proc.
fn rss_mb(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS in /proc/<pid>/status")?;
    Ok(kb / 1024.0)
}

/// Waits until `url` answers 200, or fails with the server's log if it exits or takes over
/// 60 s.
async fn wait_ready(url: &str, child: &mut Child, log: &Path) -> Result<()> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "the server exited ({status}) before answering: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if let Ok(r) = client.get(url).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!(
                "{url} did not answer within 60 s: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
