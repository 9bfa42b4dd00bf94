//! Benchmark: what the dashboard's pages and the REST API read, on a PostgreSQL database at the
//! scale of issue 11 — 500 projects, 200,000 analyses, 5,000,000 findings. See
//! benches/README.md.
//!
//! Creates a fresh database on the server of `TEST_DATABASE_URL`, applies the migrations, seeds
//! it with set-based SQL (benches/dashboard_seed.sql), then times each page's store calls with a
//! random project or analysis per iteration and prints p50 / p95 / max with PASS or FAIL against
//! 50 ms at the 95th percentile. A second section times the same pages as HTTP GETs against the
//! real router, for the routes it serves; a third adds one large analysis (20,000 findings, the
//! newest) and times the pages that read one analysis on it. The database is dropped at the
//! end, also after an error, a panic or Ctrl-C.
//!
//! `FQ_BENCH_SCALE=0.01` seeds a hundredth (5 projects, each with its full history) for a quick
//! check; `FQ_BENCH_KEEP=1` keeps the database (its URL is printed) to look at plans with
//! `EXPLAIN ANALYZE`; `FQ_BENCH_SEED` changes the random picks.

use anyhow::{anyhow, bail, Context, Result};
use flext_quality::store::{FindingQuery, Store, Visible};
use sqlx::{Connection, PgConnection};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Projects at scale 1.
const PROJECTS: f64 = 500.0;
const ANALYSES_PER_PROJECT: i64 = 400;
const FINDINGS_PER_ANALYSIS: i64 = 25;
/// Analyses whose findings one statement inserts.
const FINDINGS_CHUNK: i64 = 20_000;
const INSTALLATIONS: [i64; 4] = [1001, 1002, 1003, 1004];
const ITERATIONS: usize = 200;
const WARMUPS: usize = 5;
const TARGET_P95: Duration = Duration::from_millis(50);
/// A page whose iterations take longer than this in all is cut short (and says so).
const PAGE_BUDGET: Duration = Duration::from_secs(60);
const SEED_SQL: &str = include_str!("dashboard_seed.sql");

fn main() -> Result<()> {
    // A page that fails logs why (the answer itself only says "see the log").
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("error"))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(run());
    // After Ctrl-C the benchmark's thread may still be in a query: do not wait for it.
    runtime.shutdown_background();
    outcome
}

async fn run() -> Result<()> {
    let scale: f64 = match std::env::var("FQ_BENCH_SCALE") {
        Ok(s) => s
            .trim()
            .parse()
            .ok()
            .filter(|s: &f64| *s > 0.0 && *s <= 1.0)
            .with_context(|| format!("FQ_BENCH_SCALE must be in (0, 1], not `{s}`"))?,
        Err(_) => 1.0,
    };
    let seed: u64 = std::env::var("FQ_BENCH_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(11);
    let keep = std::env::var("FQ_BENCH_KEEP").is_ok_and(|v| v == "1");
    let admin = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = database_name();
    let mut conn = PgConnection::connect(&admin)
        .await
        .context("PostgreSQL is required (set TEST_DATABASE_URL)")?;
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .context("creating the benchmark database")?;
    conn.close().await.ok();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    let url = format!("{base}/{name}");
    println!("database {name} (scale {scale}, seed {seed})");

    // On a thread of its own, so that a panic comes back here as an error and the database is
    // still dropped.
    let work = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(bench(url, scale, seed))
        }
    });
    let outcome = tokio::select! {
        joined = work => joined.map_err(|e| anyhow!("the benchmark panicked: {e}")).and_then(|r| r),
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    if keep {
        println!("kept the database: {url}");
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
    format!("fq_bench_{:x}{nanos:08x}", std::process::id())
}

async fn bench(url: String, scale: f64, seed: u64) -> Result<()> {
    let store = Store::connect(&url).await?;
    store.migrate().await?;
    let mut conn = PgConnection::connect(&url).await?;
    let size = Size::at(scale);
    seed_database(&mut conn, &size).await?;
    let mut rng = Rng(seed);
    let mut world = World::load(&mut conn, &mut rng).await?;
    let pages = Page::all();
    println!(
        "\nstore calls: {ITERATIONS} iterations per page after {WARMUPS} warm-ups, a random \
         project or analysis each time; a page's time is its calls one after another"
    );
    let mut results = Vec::new();
    for page in &pages {
        results.push(measure_store(&store, &world, page, WARMUPS, &mut rng).await?);
    }
    print_table(&results);

    if let Err(e) = http_section(&store, &world, &pages, &mut rng).await {
        println!("\nHTTP section stopped: {e:#}");
    }
    large_analysis_section(&url, &mut conn, &mut world, &pages, &mut rng).await?;
    conn.close().await.ok();
    store.close().await;
    Ok(())
}

/// How much to seed.
struct Size {
    projects: i64,
    analyses: i64,
    findings: i64,
}

impl Size {
    fn at(scale: f64) -> Size {
        // At least one project per installation; every project keeps its whole history.
        let projects = ((PROJECTS * scale).round() as i64).max(4);
        let analyses = projects * ANALYSES_PER_PROJECT;
        Size {
            projects,
            analyses,
            findings: analyses * FINDINGS_PER_ANALYSIS,
        }
    }

    /// The seed script's `{{name}}` values.
    fn fill(&self, sql: &str, now: i64, range: (i64, i64)) -> String {
        let mut out = sql.to_owned();
        for (key, value) in [
            ("projects", self.projects),
            ("per_project", ANALYSES_PER_PROJECT),
            ("analyses", self.analyses),
            ("findings", self.findings),
            ("now", now),
            // A year of history.
            ("span", 365 * 86_400_000),
            ("from", range.0),
            ("to", range.1),
        ] {
            out = out.replace(&format!("{{{{{key}}}}}"), &value.to_string());
        }
        out.replace("{{details_ok}}", &sql_text(&details(false)))
            .replace("{{details_failed}}", &sql_text(&details(true)))
    }
}

/// An analysis's details as the app writes them: four backends (one failed when `failed`),
/// a score and a gate. Built as JSON and read back into the app's own type, so a change of
/// that type breaks the benchmark here instead of its pages at run time.
fn details(failed: bool) -> String {
    let backend = |name: &str, ms: u64, findings: u64, status: serde_json::Value| {
        serde_json::json!({"name": name, "version": "1.0.0", "status": status, "elapsed_ms": ms,
            "findings": findings, "cached_files": 0, "dropped": [], "tool_errors": [],
            "over_limit": 0, "notes": []})
    };
    let ok = serde_json::json!({"state": "ok"});
    let value = serde_json::json!({
        "backends": [
            backend("ruff", 900, 12, ok.clone()),
            backend("mypy", 14000, 3, ok.clone()),
            backend("bandit", 2100, 2, if failed {
                serde_json::json!({"state": "failed", "reason": "bandit exited with status 2"})
            } else {
                ok.clone()
            }),
            backend("semgrep", 6000, 1, ok),
        ],
        "score": if failed { serde_json::Value::Null } else {
            serde_json::json!({"score": 84.5, "grade": "B", "security": 5.0, "reliability": 6.5,
                "maintainability": 4.0, "ncloc": 12000, "uncapped_grade": "B"})
        },
        "gate": {"verdict": if failed { "failure" } else { "success" }, "conditions": [
            {"name": "new major findings ≤ 0", "actual": "0", "threshold": "≤ 0", "passed": true}
        ], "reason": null, "note": null},
        "base_score": 86.0,
        "suppressions": [],
        "jail": null,
        "max_annotations": 50,
        "failure": if failed {
            serde_json::json!({"conclusion": "failure", "title": "bandit failed",
                "summary": "bandit exited with status 2"})
        } else { serde_json::Value::Null },
        "timings": {"fetch_ms": 400, "analyse_ms": 15000, "total_ms": 16000},
    });
    let parsed: flext_quality::store::AnalysisDetails =
        serde_json::from_value(value).expect("the seed's details are the app's AnalysisDetails");
    serde_json::to_string(&parsed).expect("details serialise")
}

/// A value inside single quotes in SQL.
fn sql_text(s: &str) -> String {
    s.replace('\'', "''")
}

/// The seed script's steps, each from its `-- step: <name>` line: (name, SQL).
fn seed_steps() -> Vec<(&'static str, String)> {
    let mut steps: Vec<(&'static str, String)> = Vec::new();
    for line in SEED_SQL.lines() {
        if let Some(name) = line.strip_prefix("-- step: ") {
            steps.push((name.trim(), String::new()));
        } else if let Some((_, sql)) = steps.last_mut() {
            sql.push_str(line);
            sql.push('\n');
        }
    }
    steps
}

async fn seed_database(conn: &mut PgConnection, size: &Size) -> Result<()> {
    println!(
        "seeding {} installations, {} projects, {} analyses, {} findings",
        INSTALLATIONS.len(),
        size.projects,
        size.analyses,
        size.findings
    );
    let now = flext_quality::store::now_ms();
    let started = Instant::now();
    for (step, sql) in seed_steps() {
        let t = Instant::now();
        if step == "findings" {
            let mut from = 1;
            while from <= size.analyses {
                let to = from + FINDINGS_CHUNK - 1;
                sqlx::raw_sql(&size.fill(&sql, now, (from, to)))
                    .execute(&mut *conn)
                    .await
                    .with_context(|| format!("seeding: {step} {from}..{to}"))?;
                from = to + 1;
            }
        } else {
            sqlx::raw_sql(&size.fill(&sql, now, (0, 0)))
                .execute(&mut *conn)
                .await
                .with_context(|| format!("seeding: {step}"))?;
        }
        println!("  {step:<32} {:>7.1} s", t.elapsed().as_secs_f64());
    }
    let seeded = started.elapsed();
    let t = Instant::now();
    sqlx::raw_sql("VACUUM ANALYZE")
        .execute(&mut *conn)
        .await
        .context("VACUUM ANALYZE")?;
    println!(
        "  {:<32} {:>7.1} s",
        "VACUUM ANALYZE",
        t.elapsed().as_secs_f64()
    );
    println!(
        "seeded in {:.1} s ({:.1} s with VACUUM ANALYZE)",
        seeded.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    for table in ["installations", "projects", "analyses", "findings"] {
        let (rows, bytes): (i64, String) = sqlx::query_as(&format!(
            "SELECT (SELECT count(*) FROM {table}),
                    pg_size_pretty(pg_total_relation_size('{table}'))"
        ))
        .fetch_one(&mut *conn)
        .await?;
        println!("  {table:<14} {rows:>10} rows {bytes:>10} with indexes");
    }
    Ok(())
}

/// What the seeded database holds, to pick from.
struct World {
    /// (id, installation, full name, latest analysis), by id.
    projects: Vec<(i64, Option<i64>, String, Option<i64>)>,
    /// Completed analyses (every kind: pushes, pull requests, bases).
    completed: Vec<i64>,
    /// Per project: its analyses' ids, and its pull request numbers.
    analyses: HashMap<i64, Vec<i64>>,
    pulls: HashMap<i64, Vec<i64>>,
    /// Some completed analyses with their findings' first and last ids, for later pages.
    finding_ranges: Vec<(i64, i64, i64)>,
    /// When set, every page looks at this project and analysis (the large analysis).
    focus: Option<Focus>,
}

/// One project and analysis every page looks at.
struct Focus {
    project: i64,
    analysis: i64,
    findings: (i64, i64),
}

impl World {
    async fn load(conn: &mut PgConnection, rng: &mut Rng) -> Result<World> {
        let projects: Vec<(i64, Option<i64>, String, Option<i64>)> = sqlx::query_as(
            "SELECT id, installation_id, full_name, latest_analysis_id FROM projects ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await?;
        let rows: Vec<(i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT id, project_id, pr_number FROM analyses WHERE trigger <> 'base' ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await?;
        let completed: Vec<i64> =
            sqlx::query_as::<_, (i64,)>("SELECT id FROM analyses WHERE status = 'completed'")
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .map(|(id,)| id)
                .collect();
        let mut analyses: HashMap<i64, Vec<i64>> = HashMap::new();
        let mut pulls: HashMap<i64, Vec<i64>> = HashMap::new();
        for (id, project, pr) in rows {
            analyses.entry(project).or_default().push(id);
            if let Some(pr) = pr {
                let prs = pulls.entry(project).or_default();
                if prs.last() != Some(&pr) {
                    prs.push(pr);
                }
            }
        }
        if projects.iter().all(|p| p.3.is_none()) || completed.is_empty() {
            bail!("the seed left no project with a latest analysis");
        }
        let sample: Vec<i64> = (0..2000)
            .map(|_| completed[rng.below(completed.len())])
            .collect();
        let finding_ranges: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT analysis_id, min(id), max(id) FROM findings WHERE analysis_id = ANY($1)
             GROUP BY analysis_id",
        )
        .bind(&sample)
        .fetch_all(&mut *conn)
        .await?;
        Ok(World {
            projects,
            completed,
            analyses,
            pulls,
            finding_ranges,
            focus: None,
        })
    }

    /// A project with a latest analysis.
    fn project(&self, rng: &mut Rng) -> (i64, i64) {
        if let Some(f) = &self.focus {
            return (f.project, f.analysis);
        }
        loop {
            let p = &self.projects[rng.below(self.projects.len())];
            if let Some(latest) = p.3 {
                return (p.0, latest);
            }
        }
    }

    fn analysis(&self, rng: &mut Rng) -> i64 {
        match &self.focus {
            Some(f) => f.analysis,
            None => self.completed[rng.below(self.completed.len())],
        }
    }

    /// An analysis and a finding id within it to continue its findings after.
    fn finding_cursor(&self, rng: &mut Rng) -> (i64, i64) {
        let (analysis, first, last) = match &self.focus {
            Some(f) => (f.analysis, f.findings.0, f.findings.1),
            None => self.finding_ranges[rng.below(self.finding_ranges.len())],
        };
        (
            analysis,
            first + rng.below((last - first + 1) as usize) as i64,
        )
    }

    /// A word of a project name (`payments`, `worker`), as people search.
    fn name_fragment(&self, rng: &mut Rng) -> String {
        let name = &self.projects[rng.below(self.projects.len())].2;
        let repo = name.rsplit('/').next().unwrap_or(name);
        let words: Vec<&str> = repo.split('-').collect();
        words[rng.below(words.len().min(2))].to_owned()
    }

    /// A viewer's installations: one or two of the four.
    fn viewer(&self, rng: &mut Rng) -> Vec<i64> {
        let first = rng.below(INSTALLATIONS.len());
        let mut ids = vec![INSTALLATIONS[first]];
        if rng.below(2) == 1 {
            ids.push(INSTALLATIONS[(first + 1 + rng.below(3)) % INSTALLATIONS.len()]);
        }
        ids
    }

    /// A project id to continue the list after, with at least a page left behind it.
    fn project_cursor(&self, rng: &mut Rng) -> i64 {
        let n = self.projects.len();
        self.projects[rng.below(n.saturating_sub(50).max(1))].0
    }

    /// An analysis of the project to continue its list after (a later page).
    fn analysis_cursor(&self, project: i64, rng: &mut Rng) -> Option<i64> {
        let ids = self.analyses.get(&project)?;
        Some(ids[rng.below(ids.len())])
    }

    fn pull(&self, project: i64, rng: &mut Rng) -> Option<i64> {
        let prs = self.pulls.get(&project)?;
        (!prs.is_empty()).then(|| prs[rng.below(prs.len())])
    }
}

/// splitmix64: reproducible picks without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const BACKENDS: [&str; 4] = ["ruff", "mypy", "bandit", "semgrep"];
const SEVERITIES: [&str; 5] = ["blocker", "critical", "major", "minor", "info"];
const RULES: [&str; 6] = ["F401", "E501", "arg-type", "B101", "B602", "union-attr"];
const PATHS: [&str; 5] = [
    "src/app/",
    "src/app/api/",
    "src/core/",
    "tests/",
    "scripts/",
];

/// A page or an API request, and what it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    /// `/`: the first 50 projects.
    Ecosystem,
    /// `/?name=…`: filtered by a word of the name.
    EcosystemByName,
    /// `/` for a viewer who sees one or two installations.
    EcosystemViewer,
    /// `/?cursor=…`: a later page.
    EcosystemLater,
    /// `/projects/{id}`: summary, history, the first analyses, the latest analysis by file.
    Project,
    /// An analysis: its summary, its open, new and fixed findings.
    Analysis,
    /// `/api/v1/projects?limit=200&cursor=…`.
    ApiProjects,
    /// `/api/v1/projects/{id}/analyses?cursor=…`: a later page.
    ApiAnalyses,
    /// `/api/v1/projects/{id}/analyses?pr=…`.
    ApiAnalysesOfPull,
    /// `/api/v1/findings?project=…`: the latest analysis's open findings.
    ApiFindingsOfProject,
    ApiFindingsByBackend,
    ApiFindingsBySeverity,
    ApiFindingsByRule,
    ApiFindingsByPath,
    ApiFindingsNew,
    /// Backend, severity and path at once, limit 200.
    ApiFindingsCombined,
    /// `/api/v1/findings?analysis=…&cursor=…`: a later page.
    ApiFindingsLater,
}

impl Page {
    fn all() -> Vec<Page> {
        use Page::*;
        vec![
            Ecosystem,
            EcosystemByName,
            EcosystemViewer,
            EcosystemLater,
            Project,
            Analysis,
            ApiProjects,
            ApiAnalyses,
            ApiAnalysesOfPull,
            ApiFindingsOfProject,
            ApiFindingsByBackend,
            ApiFindingsBySeverity,
            ApiFindingsByRule,
            ApiFindingsByPath,
            ApiFindingsNew,
            ApiFindingsCombined,
            ApiFindingsLater,
        ]
    }

    /// Whether the page reads one analysis (so the large-analysis section measures it).
    fn reads_an_analysis(self) -> bool {
        !matches!(
            self,
            Page::Ecosystem
                | Page::EcosystemByName
                | Page::EcosystemViewer
                | Page::EcosystemLater
                | Page::ApiProjects
                | Page::ApiAnalyses
                | Page::ApiAnalysesOfPull
        )
    }

    fn label(self) -> &'static str {
        match self {
            Page::Ecosystem => "ecosystem /",
            Page::EcosystemByName => "ecosystem /?name=",
            Page::EcosystemViewer => "ecosystem / (viewer of 1-2 installations)",
            Page::EcosystemLater => "ecosystem /?cursor=",
            Page::Project => "project /projects/{id}",
            Page::Analysis => "analysis page",
            Page::ApiProjects => "GET /api/v1/projects?limit=200&cursor=",
            Page::ApiAnalyses => "GET /api/v1/projects/{id}/analyses?cursor=",
            Page::ApiAnalysesOfPull => "GET /api/v1/projects/{id}/analyses?pr=",
            Page::ApiFindingsOfProject => "GET /api/v1/findings?project=",
            Page::ApiFindingsByBackend => "GET /api/v1/findings?analysis=&backend=",
            Page::ApiFindingsBySeverity => "GET /api/v1/findings?analysis=&severity=",
            Page::ApiFindingsByRule => "GET /api/v1/findings?analysis=&rule=",
            Page::ApiFindingsByPath => "GET /api/v1/findings?analysis=&path=",
            Page::ApiFindingsNew => "GET /api/v1/findings?analysis=&state=new",
            Page::ApiFindingsCombined => "GET /api/v1/findings?analysis=&backend=&severity=&path=",
            Page::ApiFindingsLater => "GET /api/v1/findings?analysis=&cursor=",
        }
    }

    /// One visit with fresh random picks: each store call the page makes, timed.
    async fn visit(self, store: &Store, w: &World, rng: &mut Rng, t: &mut Steps) -> Result<()> {
        match self {
            Page::Ecosystem => {
                t.time("list_projects(all, first 50)", async {
                    store
                        .list_projects(&Visible::All, None, None, Some(50))
                        .await
                })
                .await?;
            }
            Page::EcosystemByName => {
                let name = w.name_fragment(rng);
                t.time("list_projects(all, name, 50)", async {
                    store
                        .list_projects(&Visible::All, Some(&name), None, Some(50))
                        .await
                })
                .await?;
            }
            Page::EcosystemViewer => {
                let visible = Visible::Installations(w.viewer(rng));
                t.time("list_projects(installations, 50)", async {
                    store.list_projects(&visible, None, None, Some(50)).await
                })
                .await?;
            }
            Page::EcosystemLater => {
                let cursor = w.project_cursor(rng);
                t.time("list_projects(all, cursor, 50)", async {
                    store
                        .list_projects(&Visible::All, None, Some(cursor), Some(50))
                        .await
                })
                .await?;
            }
            Page::Project => {
                let (project, _) = w.project(rng);
                let summary = t
                    .time("project_summary", async {
                        store.project_summary(project).await
                    })
                    .await?
                    .context("the project vanished")?;
                t.time("project_history(200)", async {
                    store.project_history(project, 200).await
                })
                .await?;
                t.time("project_analyses(first 20)", async {
                    store
                        .project_analyses(project, None, None, None, Some(20))
                        .await
                })
                .await?;
                let latest = summary.latest_analysis_id.context("no latest analysis")?;
                t.time("findings_by_file(latest, 50)", async {
                    store.findings_by_file(latest, 50).await
                })
                .await?;
            }
            Page::Analysis => {
                let analysis = w.analysis(rng);
                t.time("analysis_summary", async {
                    store.analysis_summary(analysis).await
                })
                .await?;
                for (step, state) in [
                    ("query_findings(open, 100)", None),
                    ("query_findings(new, 100)", Some("new")),
                    ("query_findings(fixed, 100)", Some("fixed")),
                ] {
                    let q = FindingQuery {
                        state: state.map(str::to_owned),
                        ..Default::default()
                    };
                    t.time(step, async { store.query_findings(analysis, &q).await })
                        .await?;
                }
            }
            Page::ApiProjects => {
                let cursor = w.project_cursor(rng);
                t.time("list_projects(all, cursor, 200)", async {
                    store
                        .list_projects(&Visible::All, None, Some(cursor), Some(200))
                        .await
                })
                .await?;
            }
            Page::ApiAnalyses => {
                let (project, _) = w.project(rng);
                let cursor = w.analysis_cursor(project, rng);
                t.time("project_analyses(cursor, 50)", async {
                    store
                        .project_analyses(project, None, None, cursor, Some(50))
                        .await
                })
                .await?;
            }
            Page::ApiAnalysesOfPull => {
                let (project, _) = w.project(rng);
                let pr = w.pull(project, rng);
                t.time("project_analyses(pr, 50)", async {
                    store
                        .project_analyses(project, pr, None, None, Some(50))
                        .await
                })
                .await?;
            }
            Page::ApiFindingsOfProject => {
                // The analysis is the project's latest: the handler reads the pointer first.
                let (project, _) = w.project(rng);
                let summary = t
                    .time("project_summary", async {
                        store.project_summary(project).await
                    })
                    .await?
                    .context("the project vanished")?;
                let latest = summary.latest_analysis_id.context("no latest analysis")?;
                let q = FindingQuery {
                    project: Some(project),
                    ..Default::default()
                };
                t.time("query_findings(open, 100)", async {
                    store.query_findings(latest, &q).await
                })
                .await?;
            }
            Page::ApiFindingsByBackend
            | Page::ApiFindingsBySeverity
            | Page::ApiFindingsByRule
            | Page::ApiFindingsByPath
            | Page::ApiFindingsNew
            | Page::ApiFindingsCombined
            | Page::ApiFindingsLater => {
                let (analysis, q) = self.finding_query(w, rng);
                t.time("query_findings(filters)", async {
                    store.query_findings(analysis, &q).await
                })
                .await?;
            }
        }
        Ok(())
    }

    /// The analysis and the query of an `/api/v1/findings` request.
    fn finding_query(self, w: &World, rng: &mut Rng) -> (i64, FindingQuery) {
        let (analysis, cursor) = match self {
            Page::ApiFindingsLater => {
                let (analysis, cursor) = w.finding_cursor(rng);
                (analysis, Some(cursor))
            }
            _ => (w.analysis(rng), None),
        };
        let mut q = FindingQuery {
            analysis: Some(analysis),
            cursor,
            ..Default::default()
        };
        match self {
            Page::ApiFindingsByBackend => q.backend = Some(rng.pick(&BACKENDS).into()),
            Page::ApiFindingsBySeverity => q.severity = Some(rng.pick(&SEVERITIES).into()),
            Page::ApiFindingsByRule => q.rule = Some(rng.pick(&RULES).into()),
            Page::ApiFindingsByPath => q.path = Some(rng.pick(&PATHS).into()),
            Page::ApiFindingsNew => q.state = Some("new".into()),
            Page::ApiFindingsCombined => {
                q.backend = Some(rng.pick(&BACKENDS).into());
                q.severity = Some(rng.pick(&SEVERITIES).into());
                q.path = Some(rng.pick(&PATHS).into());
                q.limit = Some(200);
            }
            _ => {}
        }
        (analysis, q)
    }

    /// The HTTP GET that shows this page, with fresh random picks; `None` for the viewer,
    /// whose installations come from a session.
    fn http_path(self, w: &World, rng: &mut Rng) -> Option<String> {
        let query = |q: &FindingQuery| {
            let mut s = String::new();
            for (k, v) in [
                ("analysis", q.analysis.map(|a| a.to_string())),
                ("project", q.project.map(|a| a.to_string())),
                ("backend", q.backend.clone()),
                ("rule", q.rule.clone()),
                ("severity", q.severity.clone()),
                ("path", q.path.clone()),
                ("state", q.state.clone()),
                ("cursor", q.cursor.map(|c| c.to_string())),
                ("limit", q.limit.map(|l| l.to_string())),
            ] {
                if let Some(v) = v {
                    s.push(if s.is_empty() { '?' } else { '&' });
                    s.push_str(&format!("{k}={}", v.replace('/', "%2F")));
                }
            }
            s
        };
        Some(match self {
            Page::Ecosystem => "/".into(),
            Page::EcosystemByName => format!("/?name={}", w.name_fragment(rng)),
            // A viewer's installations come from a session, which an API key does not give.
            Page::EcosystemViewer => return None,
            Page::Analysis => format!("/analyses/{}", w.analysis(rng)),
            Page::EcosystemLater => format!("/?cursor={}", w.project_cursor(rng)),
            Page::Project => format!("/projects/{}", w.project(rng).0),
            Page::ApiProjects => {
                format!(
                    "/api/v1/projects?limit=200&cursor={}",
                    w.project_cursor(rng)
                )
            }
            Page::ApiAnalyses => {
                let (project, _) = w.project(rng);
                let cursor = w.analysis_cursor(project, rng).unwrap_or(i64::MAX);
                format!("/api/v1/projects/{project}/analyses?cursor={cursor}&limit=50")
            }
            Page::ApiAnalysesOfPull => {
                let (project, _) = w.project(rng);
                let pr = w.pull(project, rng).unwrap_or(1);
                format!("/api/v1/projects/{project}/analyses?pr={pr}&limit=50")
            }
            Page::ApiFindingsOfProject => {
                format!("/api/v1/findings?project={}", w.project(rng).0)
            }
            _ => format!("/api/v1/findings{}", query(&self.finding_query(w, rng).1)),
        })
    }
}

/// The timed calls of one visit.
#[derive(Default)]
struct Steps(Vec<(&'static str, Duration)>);

impl Steps {
    async fn time<T>(
        &mut self,
        name: &'static str,
        call: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let started = Instant::now();
        let out = call.await.with_context(|| format!("{name} failed"))?;
        self.0.push((name, started.elapsed()));
        Ok(out)
    }
}

/// A page's figures: the whole visit, and each call.
struct Measured {
    label: String,
    total: Vec<Duration>,
    steps: Vec<(&'static str, Vec<Duration>)>,
}

async fn measure_store(
    store: &Store,
    w: &World,
    page: &Page,
    warmups: usize,
    rng: &mut Rng,
) -> Result<Measured> {
    let mut m = Measured {
        label: page.label().to_owned(),
        total: Vec::with_capacity(ITERATIONS),
        steps: Vec::new(),
    };
    let budget = Instant::now();
    for i in 0..warmups + ITERATIONS {
        let mut steps = Steps::default();
        let started = Instant::now();
        page.visit(store, w, rng, &mut steps).await?;
        let elapsed = started.elapsed();
        if i < warmups {
            continue;
        }
        m.total.push(elapsed);
        for (j, (name, d)) in steps.0.into_iter().enumerate() {
            match m.steps.get_mut(j) {
                Some((_, v)) => v.push(d),
                None => m.steps.push((name, vec![d])),
            }
        }
        if budget.elapsed() > PAGE_BUDGET && m.total.len() < ITERATIONS {
            m.label = format!("{} [cut short: {} visits]", m.label, m.total.len());
            break;
        }
    }
    Ok(m)
}

/// (p50, p95, max), nearest rank.
fn percentiles(samples: &[Duration]) -> (Duration, Duration, Duration) {
    let mut v = samples.to_vec();
    v.sort();
    let at = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    (at(0.50), at(0.95), *v.last().unwrap_or(&Duration::ZERO))
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn print_table(results: &[Measured]) {
    println!(
        "\n{:<58} {:>8} {:>8} {:>8}  p95 ≤ {} ms",
        "page / store call",
        "p50 ms",
        "p95 ms",
        "max ms",
        TARGET_P95.as_millis()
    );
    let mut failed = Vec::new();
    for m in results {
        let (p50, p95, max) = percentiles(&m.total);
        let pass = p95 <= TARGET_P95;
        if !pass {
            failed.push(m.label.as_str());
        }
        println!(
            "{:<58} {:>8} {:>8} {:>8}  {}",
            m.label,
            ms(p50),
            ms(p95),
            ms(max),
            if pass { "PASS" } else { "FAIL" }
        );
        if m.steps.len() > 1 {
            for (name, samples) in &m.steps {
                let (p50, p95, max) = percentiles(samples);
                println!(
                    "    {name:<54} {:>8} {:>8} {:>8}",
                    ms(p50),
                    ms(p95),
                    ms(max)
                );
            }
        } else if let Some((name, _)) = m.steps.first() {
            println!("    {name}");
        }
    }
    if failed.is_empty() {
        println!(
            "PASS: every page and request answers within {} ms at p95",
            TARGET_P95.as_millis()
        );
    } else {
        println!(
            "FAIL: {} over {} ms at p95: {}",
            failed.len(),
            TARGET_P95.as_millis(),
            failed.join("; ")
        );
    }
}

/// What the router's fallback answers (src/web/mod.rs) for a path it has no route for.
const NO_SUCH_ROUTE: &str = "no such route\n";

/// The same pages as HTTP GETs against the real router on a local port, with an admin API key
/// (`Authorization: Bearer …`). Routes the router does not serve yet (its fallback's 404) are
/// listed and skipped, so the section measures each page as soon as its route lands.
async fn http_section(store: &Store, w: &World, pages: &[Page], rng: &mut Rng) -> Result<()> {
    use flext_quality::domain::status::Role;
    let settings = flext_quality::config::Settings::from_env()?;
    let state = flext_quality::server::app_state(
        &settings,
        store.clone(),
        Arc::new(tokio::sync::Notify::new()),
    );
    let app = flext_quality::web::router(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let (_, key) = store
        .create_api_key("bench", "dashboard benchmark", Role::Admin)
        .await?;
    let client = reqwest::Client::new();
    // (status, whether the router has no such route, time to the whole body)
    let get = |path: String| {
        let request = client.get(format!("http://{addr}{path}")).bearer_auth(&key);
        async move {
            let started = Instant::now();
            let response = request.send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            let unrouted = status == reqwest::StatusCode::NOT_FOUND
                && body.as_ref() == NO_SUCH_ROUTE.as_bytes();
            anyhow::Ok((status, unrouted, started.elapsed()))
        }
    };
    // The router itself, on a route that reads the database once.
    let mut results = Vec::new();
    let mut readyz = Vec::new();
    for i in 0..WARMUPS + ITERATIONS {
        let (status, _, d) = get("/readyz".into()).await?;
        if !status.is_success() {
            bail!("GET /readyz answered {status}");
        }
        if i >= WARMUPS {
            readyz.push(d);
        }
    }
    results.push(Measured {
        label: "GET /readyz (the router and one query)".into(),
        total: readyz,
        steps: Vec::new(),
    });
    for page in pages {
        let Some(first) = page.http_path(w, rng) else {
            continue;
        };
        let (status, unrouted, _) = get(first.clone()).await?;
        if unrouted {
            bail!("GET {first}: the router has no such route");
        }
        if !status.is_success() {
            bail!("GET {first} answered {status}");
        }
        let mut total = Vec::with_capacity(ITERATIONS);
        for i in 0..WARMUPS + ITERATIONS {
            let path = page.http_path(w, rng).unwrap_or_else(|| first.clone());
            let (status, _, d) = get(path.clone()).await?;
            if !status.is_success() {
                bail!("GET {path} answered {status}");
            }
            if i >= WARMUPS {
                total.push(d);
            }
        }
        results.push(Measured {
            label: format!("HTTP {}", page.label()),
            total,
            steps: Vec::new(),
        });
    }
    server.abort();
    println!("\nHTTP GETs against flext_quality::web::router on {addr}: {ITERATIONS} each");
    print_table(&results);
    Ok(())
}

/// One analysis at the findings cap of one backend, as a large repository produces: the newest
/// default-branch analysis of a project, its findings the newest ids. `{{project}}`, `{{now}}`
/// and `{{count}}` are replaced.
const LARGE_ANALYSIS_SQL: &str = "
INSERT INTO analyses (project_id, sha, config_key, trigger, head_ref, base_sha, compared_sha,
    installation_id, status, check_run_id, tool_versions, ncloc, score, grade, deduction_security,
    deduction_reliability, deduction_maintainability, verdict, gate, queued_at, started_at,
    completed_at, timings, details, requested_by)
SELECT p.id, md5('large') || substr(md5('large2'), 1, 8), 'large', 'push',
       'refs/heads/' || p.default_branch, l.sha, l.sha, p.installation_id, 'completed', 7999999999,
       l.tool_versions, 1200000, 41.5, 'F', 20.5, 8, 30, 'failure', l.gate, {{now}} - 600000,
       {{now}} - 590000, {{now}} - 60000, l.timings, l.details, 'dev-1'
FROM projects p JOIN analyses l ON l.id = p.latest_analysis_id WHERE p.id = {{project}};

INSERT INTO findings (analysis_id, fingerprint, backend, rule, category, severity, path,
    start_line, end_line, start_column, end_column, message, help_url, effort_minutes, is_new,
    is_fixed, annotate, line_key, in_tests)
SELECT a, md5('large-fp' || g), backend, rule,
       CASE WHEN backend IN ('bandit', 'semgrep') THEN 'security' WHEN backend = 'mypy'
            THEN 'reliability' ELSE 'maintainability' END,
       (ARRAY['blocker', 'critical', 'major', 'minor', 'info'])[
           CASE WHEN backend IN ('bandit', 'semgrep') THEN 1 + g % 3 ELSE 3 + g % 3 END],
       CASE WHEN g % 10 = 0 THEN 'tests/' ELSE 'services/svc' || (g / 10) % 40 || '/' END
           || 'mod_' || g % 50 || '.py',
       1 + g % 700, 1 + g % 700, 1, 80, rule || ': generated finding ' || g || ' of a large repository',
       CASE WHEN backend = 'ruff' THEN 'https://docs.astral.sh/ruff/rules/' || lower(rule) END,
       5, (g % 20 = 0)::int, (g % 100 = 0)::int, (g % 20 = 0)::int,
       substr(md5('large-lk' || g), 1, 24), (g % 10 = 0)::int
FROM (
    SELECT (SELECT max(id) FROM analyses) AS a, g,
           CASE WHEN g % 20 < 14 THEN 'ruff' WHEN g % 20 < 18 THEN 'mypy' WHEN g % 20 < 19
                THEN 'bandit' ELSE 'semgrep' END AS backend,
           (ARRAY['E501', 'F401', 'arg-type', 'B101', 'C901'])[1 + g % 5] AS rule
    FROM generate_series(1, {{count}}) g
) x
ORDER BY g;

UPDATE analyses a SET
    severity_counts = '[' || c.blocker || ',' || c.critical || ',' || c.major || ',' || c.minor
                      || ',' || c.info || ']',
    new_count = c.new, fixed_count = c.fixed
FROM (
    SELECT analysis_id,
           count(*) FILTER (WHERE is_fixed = 0 AND severity = 'blocker') AS blocker,
           count(*) FILTER (WHERE is_fixed = 0 AND severity = 'critical') AS critical,
           count(*) FILTER (WHERE is_fixed = 0 AND severity = 'major') AS major,
           count(*) FILTER (WHERE is_fixed = 0 AND severity = 'minor') AS minor,
           count(*) FILTER (WHERE is_fixed = 0 AND severity = 'info') AS info,
           count(*) FILTER (WHERE is_new = 1) AS new,
           count(*) FILTER (WHERE is_fixed = 1) AS fixed
    FROM findings WHERE analysis_id = (SELECT max(id) FROM analyses) GROUP BY analysis_id
) c
WHERE a.id = c.analysis_id;

UPDATE projects p SET latest_analysis_id = h.latest, score_history = h.history
FROM (
    SELECT max(id) AS latest, json_agg(json_build_array(id, score) ORDER BY id)::text AS history
    FROM (
        SELECT id, score FROM analyses
        WHERE project_id = {{project}} AND status = 'completed' AND pr_number IS NULL
          AND trigger <> 'base'
        ORDER BY id DESC LIMIT 30
    ) l
) h
WHERE p.id = {{project}};

ANALYZE analyses;
ANALYZE findings;
";

/// Findings in the large analysis: one backend at its cap.
const LARGE_ANALYSIS_FINDINGS: usize = flext_quality::analysis::engine::DEFAULT_MAX_FINDINGS;

/// The pages that read one analysis, on a large one: findings are 25 per analysis in the seed,
/// but a large repository's analysis holds thousands, and they are the newest.
async fn large_analysis_section(
    url: &str,
    conn: &mut PgConnection,
    world: &mut World,
    pages: &[Page],
    rng: &mut Rng,
) -> Result<()> {
    let (project, _) = world.project(rng);
    let sql = LARGE_ANALYSIS_SQL
        .replace("{{project}}", &project.to_string())
        .replace("{{now}}", &flext_quality::store::now_ms().to_string())
        .replace("{{count}}", &LARGE_ANALYSIS_FINDINGS.to_string());
    let started = Instant::now();
    sqlx::raw_sql(&sql)
        .execute(&mut *conn)
        .await
        .context("seeding the large analysis")?;
    let (analysis, first, last): (i64, i64, i64) = sqlx::query_as(
        "SELECT analysis_id, min(id), max(id) FROM findings
         WHERE analysis_id = (SELECT max(id) FROM analyses) GROUP BY analysis_id",
    )
    .fetch_one(&mut *conn)
    .await?;
    println!(
        "\nlarge analysis: {LARGE_ANALYSIS_FINDINGS} findings (one backend at its cap) added as \
         the newest analysis {analysis} of project {project} in {:.1} s; the pages that read \
         one analysis, on it, each on a fresh connection pool and without warm-ups (PostgreSQL \
         plans a connection's first runs of a statement for their values: max shows them)",
        started.elapsed().as_secs_f64()
    );
    world.focus = Some(Focus {
        project,
        analysis,
        findings: (first, last),
    });
    let mut results = Vec::new();
    for page in pages.iter().filter(|p| p.reads_an_analysis()) {
        let fresh = Store::connect(url).await?;
        results.push(measure_store(&fresh, world, page, 0, rng).await?);
        fresh.close().await;
    }
    world.focus = None;
    print_table(&results);
    Ok(())
}
