//! Benchmark: the scale of the queue (issue 13 §3). 10,000 webhooks for 2,000 distinct commits
//! sent in a burst to `flext-quality serve --no-workers` on a fresh PostgreSQL database, drained
//! by 4 separate `flext-quality worker` processes (the real release binary) against the strict
//! fake GitHub, its git hosting serving the commits. The analysis tools are replaced by a fast
//! SARIF tool (`FLEXT_QUALITY_SARIF_TOOLS`, still run in the real jail), so the queue is what is
//! measured. See benches/README.md.
//!
//! It prints how fast the burst was accepted, how long until the queue was empty and jobs/s,
//! then checks: every commit analysed exactly once (one analysis, one analyse job that ran
//! once, one check run, completed), no delivery lost (every delivery id sent is recorded), no
//! check run left open, no pull request with two comments, nothing the fake refused. A broken
//! invariant is printed as FAIL and makes the run exit non-zero; the figures never do.
//!
//! `FQ_QUEUE_SMOKE=1` runs 5 repositories × 20 commits (500 webhooks) for a quick check;
//! `FQ_QUEUE_REPOS`, `FQ_QUEUE_COMMITS` (per repository), `FQ_QUEUE_PROCESSES`,
//! `FQ_QUEUE_WORKERS` (per process) and `FQ_QUEUE_CONNECTIONS` (concurrent senders) change the
//! shape; `FQ_QUEUE_KEEP=1` keeps the database and the processes' logs.
// The checks read rows as plain tuples, read once where they are declared.
#![allow(clippy::type_complexity)]

#[path = "../tests/harness/burst.rs"]
mod burst;
#[path = "../tests/support/mod.rs"]
mod support;

use anyhow::{anyhow, Context, Result};
use burst::{Process, Repo};
use sqlx::{Connection, PgConnection};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::FakeGitHub;

/// The longest the queue may take to drain before the run gives up waiting.
const DRAIN_LIMIT: Duration = Duration::from_secs(45 * 60);

struct Shape {
    repos: usize,
    commits_per_repo: usize,
    processes: usize,
    workers_each: usize,
    connections: usize,
}

fn env_number(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|n: &usize| *n > 0)
            .with_context(|| format!("{name} must be a positive number, not `{v}`")),
        Err(_) => Ok(default),
    }
}

impl Shape {
    fn from_env() -> Result<Shape> {
        let smoke = std::env::var("FQ_QUEUE_SMOKE").is_ok_and(|v| v == "1");
        Ok(Shape {
            repos: env_number("FQ_QUEUE_REPOS", if smoke { 5 } else { 20 })?,
            commits_per_repo: env_number("FQ_QUEUE_COMMITS", if smoke { 20 } else { 100 })?,
            processes: env_number("FQ_QUEUE_PROCESSES", 4)?,
            workers_each: env_number("FQ_QUEUE_WORKERS", 2)?,
            connections: env_number("FQ_QUEUE_CONNECTIONS", 32)?,
        })
    }
}

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(run());
    runtime.shutdown_background();
    outcome
}

async fn run() -> Result<()> {
    let shape = Shape::from_env()?;
    let keep = std::env::var("FQ_QUEUE_KEEP").is_ok_and(|v| v == "1");
    let admin = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = database_name();
    let mut conn = PgConnection::connect(&admin)
        .await
        .with_context(|| format!("PostgreSQL is required at {admin} (set TEST_DATABASE_URL)"))?;
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .context("creating the benchmark database")?;
    conn.close().await.ok();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    let url = format!("{base}/{name}");
    let dir = tempfile::Builder::new().prefix("fq-queue-").tempdir()?;
    println!(
        "database {name}; processes' logs in {}",
        dir.path().display()
    );

    // On a thread of its own, so that a panic comes back here and the database is still dropped.
    let work = tokio::task::spawn_blocking({
        let (url, path) = (url.clone(), dir.path().to_path_buf());
        move || {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(bench(shape, url, path))
        }
    });
    let outcome = tokio::select! {
        joined = work => joined.map_err(|e| anyhow!("the benchmark panicked: {e}")).and_then(|r| r),
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    if keep {
        println!(
            "kept the database {url} and the logs in {}",
            dir.keep().display()
        );
    } else {
        let dropped = async {
            let mut conn = PgConnection::connect(&admin).await?;
            sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await?;
            anyhow::Ok(())
        };
        match dropped.await {
            Ok(()) => println!("dropped database {name}"),
            Err(e) => eprintln!("could not drop database {name}: {e:#}"),
        }
    }
    outcome
}

fn database_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("fq_queue_{:x}{nanos:08x}", std::process::id())
}

/// One webhook of the burst.
struct Delivery {
    id: String,
    event: &'static str,
    body: Arc<Vec<u8>>,
}

/// What the server answered one delivery.
struct Answer {
    id: String,
    status: Option<u16>,
    text: String,
    latency: Duration,
}

/// A commit the burst asks to analyse.
struct Commit {
    repo_id: i64,
    sha: String,
    pr: u64,
}

async fn bench(shape: Shape, url: String, dir: std::path::PathBuf) -> Result<()> {
    let (private_pem, public_pem) = support::shared_app_key();
    let github = FakeGitHub::start(burst::APP_ID, public_pem).await;
    let outcome = measure(&shape, &url, &dir, &github, private_pem).await;
    // The checks consumed what they looked at; on an early error nothing was, and the fake's
    // audit must not hide the error.
    github.ignore_unconsumed();
    let violations = github.take_violations();
    if !violations.is_empty() {
        println!(
            "FAIL  the fake GitHub refused {} request(s):\n  {}",
            violations.len(),
            violations
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        );
        return Err(outcome
            .err()
            .unwrap_or_else(|| anyhow!("the app sent requests GitHub refuses")));
    }
    outcome
}

async fn measure(
    shape: &Shape,
    url: &str,
    dir: &std::path::Path,
    github: &FakeGitHub,
    private_pem: &str,
) -> Result<()> {
    // The repositories and their commits.
    let t = Instant::now();
    let mut repos = Vec::new();
    let mut commits = Vec::new();
    let mut deliveries = Vec::new();
    for r in 0..shape.repos {
        let name = format!("service-{r:02}");
        let id = 700_000 + r as u64;
        github.add_installation(burst::INSTALLATION, &[("acme", &name, id)]);
        let (root, shas) = burst::linear_history(github, "acme", &name, shape.commits_per_repo);
        let repo = Repo {
            owner: "acme".into(),
            name: name.clone(),
            id,
            clone_url: github.clone_url("acme", &name),
        };
        for (i, sha) in shas.iter().enumerate() {
            let pr = i as u64 + 1;
            github.set_pull("acme", &name, pr, sha, "main", &root);
            let before = if i == 0 { &root } else { &shas[i - 1] };
            deliveries.extend(deliveries_for(&repo, pr, before, sha, &root));
            commits.push(Commit {
                repo_id: id as i64,
                sha: sha.clone(),
                pr,
            });
        }
        repos.push(repo);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    rng.shuffle(&mut deliveries);
    let distinct: HashSet<String> = deliveries.iter().map(|d| d.id.clone()).collect();
    println!(
        "{} repositories × {} commits = {} commits in {:.1} s (git fast-import, served by the fake's git hosting); {} webhooks, {} distinct delivery ids",
        shape.repos,
        shape.commits_per_repo,
        commits.len(),
        t.elapsed().as_secs_f64(),
        deliveries.len(),
        distinct.len()
    );

    // The server and the workers.
    let tools = burst::fast_sarif_tool(dir, 0);
    let tools_dir = std::env::var("FLEXT_QUALITY_TOOLS_DIR").unwrap_or_else(|_| {
        flext_quality::config::default_tools_dir()
            .display()
            .to_string()
    });
    let common = |port: u16, data: &str| -> Vec<(&'static str, String)> {
        vec![
            ("DATABASE_URL", url.to_owned()),
            ("GITHUB_APP_ID", burst::APP_ID.to_string()),
            ("GITHUB_PRIVATE_KEY", private_pem.to_owned()),
            ("GITHUB_WEBHOOK_SECRET", burst::SECRET.to_owned()),
            ("GITHUB_API_URL", github.url()),
            ("PORT", port.to_string()),
            (
                "FLEXT_QUALITY_DATA_DIR",
                dir.join(data).display().to_string(),
            ),
            ("FLEXT_QUALITY_TOOLS_DIR", tools_dir.clone()),
            ("FLEXT_QUALITY_SARIF_TOOLS", tools.clone()),
            ("FLEXT_QUALITY_RECONCILE_SECS", "0".into()),
            ("RUST_LOG", "warn".into()),
        ]
    };
    let port = burst::free_port();
    let server_url = format!("http://127.0.0.1:{port}");
    let mut server = Process::start(
        "serve",
        dir,
        &["serve", "--no-workers"],
        &common(port, "serve-data"),
    );
    burst::wait_for(
        &server_url,
        "/readyz",
        Duration::from_secs(120),
        &mut server,
    )
    .await;
    let mut workers = Vec::new();
    for p in 0..shape.processes {
        let port = burst::free_port();
        let threads = shape.workers_each.to_string();
        let mut worker = Process::start(
            &format!("worker-{p}"),
            dir,
            &["worker", "--workers", &threads],
            &common(port, &format!("worker-{p}-data")),
        );
        burst::wait_for(
            &format!("http://127.0.0.1:{port}"),
            "/readyz",
            Duration::from_secs(300),
            &mut worker,
        )
        .await;
        workers.push(worker);
    }
    println!(
        "serve --no-workers (pid {}) and {} worker processes × {} workers each, on PostgreSQL",
        server.pid(),
        shape.processes,
        shape.workers_each
    );

    // The burst, while the workers drain the queue.
    let mut db = PgConnection::connect(url).await?;
    let started = Instant::now();
    let answers = send_burst(&server_url, deliveries, shape.connections).await;
    let accepted_in = started.elapsed();
    let drained_in = wait_drained(&mut db, started, &mut workers).await?;

    // Figures.
    let mut latencies: Vec<Duration> = answers.iter().map(|a| a.latency).collect();
    latencies.sort();
    let jobs: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state ORDER BY 1, 2")
            .fetch_all(&mut db)
            .await?;
    let done: i64 = jobs
        .iter()
        .filter(|(_, s, _)| s == "done")
        .map(|(_, _, n)| n)
        .sum();
    let analyses_done: i64 = jobs
        .iter()
        .filter(|(k, s, _)| k == "analyse" && s == "done")
        .map(|(_, _, n)| n)
        .sum();
    println!(
        "\n== queue: {} webhooks, {} commits",
        answers.len(),
        commits.len()
    );
    println!(
        "accepting the burst   {:>8.2} s   {:>8.0} deliveries/s   (p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} connections)",
        accepted_in.as_secs_f64(),
        answers.len() as f64 / accepted_in.as_secs_f64(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
        shape.connections
    );
    println!(
        "queue empty after     {:>8.2} s   (from the first webhook)",
        drained_in.as_secs_f64()
    );
    println!(
        "jobs done             {:>8}     {:>8.1} jobs/s     ({} analyse jobs: {:.1} analyses/s)",
        done,
        done as f64 / drained_in.as_secs_f64(),
        analyses_done,
        analyses_done as f64 / drained_in.as_secs_f64()
    );
    for (kind, state, n) in &jobs {
        println!("  jobs {kind:<8} {state:<9} {n}");
    }
    for w in workers.iter().chain(std::iter::once(&server)) {
        if let Some(kb) = w.rss_kb() {
            println!(
                "  {} RSS after the run: {:.0} MB",
                w.name,
                kb as f64 / 1024.0
            );
        }
    }

    // Checks.
    println!("\n== checks");
    let mut failures = 0;
    let mut check = |ok: bool, what: String| {
        println!("{}  {what}", if ok { "PASS" } else { "FAIL" });
        if !ok {
            failures += 1;
        }
    };
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for a in &answers {
        let key = match a.status {
            Some(s) => format!("{s} {}", outcome_word(&a.text)),
            None => "no answer".into(),
        };
        *statuses.entry(key).or_default() += 1;
    }
    let all_202 = answers.iter().all(|a| a.status == Some(202));
    check(all_202, format!("every webhook answered 202: {statuses:?}"));
    for a in answers.iter().filter(|a| a.status != Some(202)).take(5) {
        println!("      {} → {:?} {}", a.id, a.status, a.text.trim());
    }

    let recorded: Vec<(String,)> = sqlx::query_as("SELECT delivery_id FROM deliveries")
        .fetch_all(&mut db)
        .await?;
    let recorded: HashSet<String> = recorded.into_iter().map(|(d,)| d).collect();
    let accepted: HashSet<&str> = answers
        .iter()
        .filter(|a| a.status == Some(202))
        .map(|a| a.id.as_str())
        .collect();
    let lost: Vec<&&str> = accepted
        .iter()
        .filter(|id| !recorded.contains(**id))
        .collect();
    check(
        lost.is_empty() && recorded.len() == distinct.len(),
        format!(
            "no delivery lost: {} distinct ids sent, {} recorded, {} answered 202 but not recorded {:?}",
            distinct.len(),
            recorded.len(),
            lost.len(),
            lost.iter().take(3).collect::<Vec<_>>()
        ),
    );

    let rows: Vec<(i64, String, String, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT project_id, sha, status, pr_number, check_run_id FROM analyses WHERE trigger <> 'base'",
    )
    .fetch_all(&mut db)
    .await?;
    let mut per_commit: HashMap<(i64, String), Vec<(String, Option<i64>, Option<i64>)>> =
        HashMap::new();
    for (project, sha, status, pr, run) in rows {
        per_commit
            .entry((project, sha))
            .or_default()
            .push((status, pr, run));
    }
    let job_rows: Vec<(String, i64, i64, String)> = sqlx::query_as(
        "SELECT a.sha, COUNT(j.id), CAST(COALESCE(SUM(j.attempts), 0) AS BIGINT), STRING_AGG(j.state, ',')
         FROM analyses a LEFT JOIN jobs j ON j.analysis_id = a.id AND j.kind = 'analyse'
         WHERE a.trigger <> 'base' GROUP BY a.id, a.sha",
    )
    .fetch_all(&mut db)
    .await?;
    let runs: HashMap<String, (i64, i64, String)> = job_rows
        .into_iter()
        .map(|(sha, jobs, attempts, states)| (sha, (jobs, attempts, states)))
        .collect();
    let mut not_one_analysis = Vec::new();
    let mut not_completed = Vec::new();
    let mut not_run_once = Vec::new();
    let mut not_one_check_run = Vec::new();
    let mut open_runs = 0;
    let mut comment_problems = Vec::new();
    let mut pr_analyses = 0;
    for c in &commits {
        let found = per_commit
            .get(&(c.repo_id, c.sha.clone()))
            .cloned()
            .unwrap_or_default();
        if found.len() != 1 {
            not_one_analysis.push(format!("{} ({} analyses)", c.sha, found.len()));
            continue;
        }
        let (status, pr, _) = &found[0];
        if status != "completed" {
            not_completed.push(format!("{} ({status})", c.sha));
        }
        match runs.get(&c.sha) {
            Some((1, 1, state)) if state == "done" => {}
            other => not_run_once.push(format!("{} (jobs, attempts, states: {other:?})", c.sha)),
        }
        let check_runs = github.check_runs_for(&c.sha);
        let completed_once = |r: &support::CheckRun| {
            r.status == "completed"
                && r.history.iter().filter(|h| h.status == "completed").count() == 1
        };
        if check_runs.len() != 1 || !completed_once(&check_runs[0]) {
            not_one_check_run.push(format!(
                "{} ({:?})",
                c.sha,
                check_runs
                    .iter()
                    .map(|r| (r.status.clone(), r.conclusion.clone()))
                    .collect::<Vec<_>>()
            ));
        }
        for r in &check_runs {
            github.consume_check_run(r.id);
        }
        let repo = &repos[(c.repo_id - 700_000) as usize];
        let comments = github.issue_comments("acme", &repo.name, c.pr);
        let expected = usize::from(pr.is_some());
        if pr.is_some() {
            pr_analyses += 1;
        }
        if comments.len() != expected {
            comment_problems.push(format!(
                "{}#{} ({} comments, analysis for the pull request: {})",
                repo.name,
                c.pr,
                comments.len(),
                pr.is_some()
            ));
        }
        for comment in &comments {
            github.consume_comment(comment.id);
        }
    }
    for r in github.check_runs() {
        if r.status != "completed" {
            open_runs += 1;
        }
    }
    let sample = |v: &Vec<String>| v.iter().take(3).cloned().collect::<Vec<_>>();
    check(
        not_one_analysis.is_empty(),
        format!(
            "one analysis per commit: {} of {} commits have another count {:?}",
            not_one_analysis.len(),
            commits.len(),
            sample(&not_one_analysis)
        ),
    );
    check(
        not_completed.is_empty(),
        format!(
            "every analysis completed: {} not {:?}",
            not_completed.len(),
            sample(&not_completed)
        ),
    );
    check(
        not_run_once.is_empty(),
        format!(
            "analysed exactly once (one analyse job, one attempt, done): {} commits otherwise {:?}",
            not_run_once.len(),
            sample(&not_run_once)
        ),
    );
    check(
        not_one_check_run.is_empty(),
        format!(
            "one check run per commit, completed once: {} commits otherwise {:?}",
            not_one_check_run.len(),
            sample(&not_one_check_run)
        ),
    );
    check(
        open_runs == 0,
        format!(
            "no check run left open: {open_runs} of {} open",
            github.check_runs().len()
        ),
    );
    check(
        comment_problems.is_empty(),
        format!(
            "one comment on each pull request analysed as one ({pr_analyses}), none elsewhere: {} otherwise {:?}",
            comment_problems.len(),
            sample(&comment_problems)
        ),
    );
    let leftover: Vec<(String, i64)> = sqlx::query_as(
        "SELECT state, COUNT(*) FROM publish_tasks WHERE state <> 'done' GROUP BY state",
    )
    .fetch_all(&mut db)
    .await?;
    check(
        leftover.is_empty(),
        format!("every publish task done: others {leftover:?}"),
    );
    for w in workers.iter_mut().chain(std::iter::once(&mut server)) {
        let alive = w.alive();
        check(alive, format!("{} still running", w.name));
    }
    let errors: usize = workers
        .iter()
        .chain(std::iter::once(&server))
        .map(|w| w.logs().lines().filter(|l| l.contains("ERROR")).count())
        .sum();
    println!("      ERROR lines in the processes' logs: {errors}");
    drop(db);
    for w in &mut workers {
        w.stop();
    }
    server.stop();
    if failures > 0 {
        return Err(anyhow!("{failures} check(s) failed"));
    }
    Ok(())
}

/// Per commit: a push, the pull request opened, synchronized and reopened with the same head
/// (three triggers for one commit), and one of them delivered twice (a redelivery: the same
/// delivery id).
fn deliveries_for(repo: &Repo, pr: u64, before: &str, sha: &str, root: &str) -> Vec<Delivery> {
    let tag = format!("{}-{pr}", repo.id);
    let body = |v: serde_json::Value| Arc::new(serde_json::to_vec(&v).expect("JSON"));
    let push = body(burst::push(repo, before, sha));
    let opened = body(burst::pull_request(repo, "opened", pr, sha, root));
    let mut list = vec![
        Delivery {
            id: format!("push-{tag}"),
            event: "push",
            body: push.clone(),
        },
        Delivery {
            id: format!("opened-{tag}"),
            event: "pull_request",
            body: opened.clone(),
        },
        Delivery {
            id: format!("synchronize-{tag}"),
            event: "pull_request",
            body: body(burst::pull_request(repo, "synchronize", pr, sha, root)),
        },
        Delivery {
            id: format!("reopened-{tag}"),
            event: "pull_request",
            body: body(burst::pull_request(repo, "reopened", pr, sha, root)),
        },
    ];
    let again = if pr % 2 == 0 {
        Delivery {
            id: format!("push-{tag}"),
            event: "push",
            body: push,
        }
    } else {
        Delivery {
            id: format!("opened-{tag}"),
            event: "pull_request",
            body: opened,
        }
    };
    list.push(again);
    list
}

/// Sends every delivery with `connections` concurrent senders; each sender's requests one
/// after another, like a pool of keep-alive connections.
async fn send_burst(url: &str, deliveries: Vec<Delivery>, connections: usize) -> Vec<Answer> {
    let queue = Arc::new(Mutex::new(deliveries.into_iter().rev().collect::<Vec<_>>()));
    let answers = Arc::new(Mutex::new(Vec::new()));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client");
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (queue, answers, http, url) =
            (queue.clone(), answers.clone(), http.clone(), url.to_owned());
        senders.spawn(async move {
            loop {
                let Some(d) = queue.lock().unwrap().pop() else {
                    return;
                };
                let sent = Instant::now();
                let answer = burst::deliver(&http, &url, d.event, &d.id, &d.body).await;
                let latency = sent.elapsed();
                let (status, text) = match answer {
                    Some((s, t)) => (Some(s), t),
                    None => (None, String::new()),
                };
                answers.lock().unwrap().push(Answer {
                    id: d.id,
                    status,
                    text,
                    latency,
                });
            }
        });
    }
    while senders.join_next().await.is_some() {}
    let answers = std::mem::take(&mut *answers.lock().unwrap());
    answers
}

/// Waits until no job is queued or running; the time since `started`. Prints progress.
async fn wait_drained(
    db: &mut PgConnection,
    started: Instant,
    workers: &mut [Process],
) -> Result<Duration> {
    let mut last_print = Instant::now();
    loop {
        let (live, done): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE state IN ('queued', 'running')),
                    COUNT(*) FILTER (WHERE state = 'done') FROM jobs",
        )
        .fetch_one(&mut *db)
        .await?;
        if live == 0 {
            return Ok(started.elapsed());
        }
        if last_print.elapsed() > Duration::from_secs(10) {
            last_print = Instant::now();
            println!(
                "  … {:.0} s: {done} jobs done, {live} queued or running",
                started.elapsed().as_secs_f64()
            );
        }
        for w in workers.iter_mut() {
            if !w.alive() {
                return Err(anyhow!("{} exited:\n{}", w.name, w.log_tail(40)));
            }
        }
        if started.elapsed() > DRAIN_LIMIT {
            return Err(anyhow!(
                "the queue did not drain within {} s ({live} jobs left)",
                DRAIN_LIMIT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first word of what the server answered (`accepted`, `duplicate`, a refusal's reason).
fn outcome_word(text: &str) -> String {
    let text = text.trim();
    if text.starts_with("duplicate") {
        "duplicate".into()
    } else if text.contains("already analysed or queued") {
        "reused".into()
    } else if text.contains("queued as job") {
        "enqueued".into()
    } else {
        text.chars().take(60).collect()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A small deterministic generator (xorshift), so every run sends the same order.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}
