//! A fault: PostgreSQL restarted in the middle of a burst of webhooks, under the real `serve`
//! (with its in-process workers) and a separate real `worker` process, on a private cluster of
//! this test's own (the shared server other tests use is never touched).
//!
//! What must hold: a delivery that arrives while the database is down is answered 503 (never
//! 202 and then lost); once the database is back, the same processes reconnect by themselves
//! (none is restarted); every delivery that got 202 is analysed exactly once and its one check
//! run completes; deliveries that got 503 and are sent again are accepted.

mod harness;
mod support;

use flext_quality::domain::events::{AnalysisRequest, Event, Project};
use flext_quality::domain::status::{AnalysisStatus, Trigger};
use flext_quality::store::{Accepted, JobLimits, Start, Store};

use harness::burst::{self, Process, Repo};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::FakeGitHub;

/// Commits sent before the outage, during it, and after it.
const BEFORE: usize = 10;
const DURING: usize = 8;
const AFTER: usize = 8;
/// How long PostgreSQL stays down.
const OUTAGE: Duration = Duration::from_secs(35);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarted_mid_burst_loses_nothing() {
    let pg = PrivatePostgres::start();
    let (private_pem, public_pem) = support::shared_app_key();
    let github = FakeGitHub::start(burst::APP_ID, public_pem).await;
    github.add_installation(burst::INSTALLATION, &[("acme", "steady", 8080)]);
    let (root, shas) = burst::linear_history(&github, "acme", "steady", BEFORE + DURING + AFTER);
    let repo = Repo {
        owner: "acme".into(),
        name: "steady".into(),
        id: 8080,
        clone_url: github.clone_url("acme", "steady"),
    };
    let push = |i: usize| {
        let before = if i == 0 { &root } else { &shas[i - 1] };
        let body = serde_json::to_vec(&burst::push(&repo, before, &shas[i])).unwrap();
        (format!("push-{i}"), body)
    };

    let dir = tempfile::tempdir().unwrap();
    // A second per analysis: several are in flight when the database goes away.
    let tools = burst::fast_sarif_tool(dir.path(), 1000);
    let tools_dir = harness::tools::tools_dir().display().to_string();
    let env = |port: u16, data: &str| -> Vec<(&'static str, String)> {
        vec![
            ("DATABASE_URL", pg.url()),
            ("GITHUB_APP_ID", burst::APP_ID.to_string()),
            ("GITHUB_PRIVATE_KEY", private_pem.to_owned()),
            ("GITHUB_WEBHOOK_SECRET", burst::SECRET.to_owned()),
            ("GITHUB_API_URL", github.url()),
            ("PORT", port.to_string()),
            (
                "FLEXT_QUALITY_DATA_DIR",
                dir.path().join(data).display().to_string(),
            ),
            ("FLEXT_QUALITY_TOOLS_DIR", tools_dir.clone()),
            ("FLEXT_QUALITY_SARIF_TOOLS", tools.clone()),
            ("FLEXT_QUALITY_RECONCILE_SECS", "0".into()),
            ("RUST_LOG", "info".into()),
        ]
    };
    let serve_port = burst::free_port();
    let url = format!("http://127.0.0.1:{serve_port}");
    let mut serve = Process::start(
        "serve",
        dir.path(),
        &["serve", "--workers", "2"],
        &env(serve_port, "serve-data"),
    );
    burst::wait_for(&url, "/readyz", Duration::from_secs(180), &mut serve).await;
    let worker_port = burst::free_port();
    let mut worker = Process::start(
        "worker",
        dir.path(),
        &["worker", "--workers", "2"],
        &env(worker_port, "worker-data"),
    );
    let worker_url = format!("http://127.0.0.1:{worker_port}");
    burst::wait_for(
        &worker_url,
        "/readyz",
        Duration::from_secs(180),
        &mut worker,
    )
    .await;
    let pids = (serve.pid(), worker.pid());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let logs = |serve: &Process, worker: &Process| {
        format!(
            "--- serve\n{}\n--- worker\n{}\n--- postgres\n{}",
            serve.log_tail(60),
            worker.log_tail(60),
            pg.log_tail(20)
        )
    };

    // Before: accepted, and the workers start on them.
    let mut accepted = Vec::new();
    for i in 0..BEFORE {
        let (id, body) = push(i);
        let answer = burst::deliver(&http, &url, "push", &id, &body).await;
        assert_eq!(
            answer.as_ref().map(|a| a.0),
            Some(202),
            "{id} before the outage: {answer:?}\n{}",
            logs(&serve, &worker)
        );
        accepted.push(i);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }

    // The outage, with jobs in flight: every delivery is refused with 503, in good time.
    pg.stop();
    let mut refused = Vec::new();
    let outage = Instant::now();
    let mut sends = tokio::task::JoinSet::new();
    for i in BEFORE..BEFORE + DURING {
        let (id, body) = push(i);
        let (http, url) = (http.clone(), url.clone());
        sends.spawn(async move {
            let sent = Instant::now();
            let answer = burst::deliver(&http, &url, "push", &id, &body).await;
            (i, id, answer, sent.elapsed())
        });
    }
    while let Some(sent) = sends.join_next().await {
        let (i, id, answer, took) = sent.unwrap();
        assert_eq!(
            answer.as_ref().map(|a| a.0),
            Some(503),
            "{id} while PostgreSQL is down must be refused with 503, never accepted: {answer:?}\n{}",
            logs(&serve, &worker)
        );
        // GitHub gives up on a delivery after 10 s and records a timeout instead.
        assert!(
            took < Duration::from_secs(10),
            "{id} took {took:?} to be refused"
        );
        refused.push(i);
    }
    let asked = Instant::now();
    let readiness = http.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(
        readiness.status().as_u16(),
        503,
        "/readyz during the outage"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "/readyz took {:?} to say the database is down",
        asked.elapsed()
    );
    // Longer than the pool waits for a connection (30 s): the analyses in flight cannot just
    // wait it out, their attempts fail on the database.
    tokio::time::sleep(OUTAGE.saturating_sub(outage.elapsed())).await;
    pg.start_again();

    // The same processes reconnect by themselves.
    burst::wait_for(&url, "/readyz", Duration::from_secs(60), &mut serve).await;
    burst::wait_for(&worker_url, "/readyz", Duration::from_secs(60), &mut worker).await;
    refused.sort();
    for &i in &refused {
        let (id, body) = push(i);
        let answer = burst::deliver(&http, &url, "push", &id, &body).await;
        assert_eq!(
            answer.as_ref().map(|a| a.0),
            Some(202),
            "{id} sent again after the outage: {answer:?}\n{}",
            logs(&serve, &worker)
        );
        accepted.push(i);
    }
    for i in BEFORE + DURING..BEFORE + DURING + AFTER {
        let (id, body) = push(i);
        let answer = burst::deliver(&http, &url, "push", &id, &body).await;
        assert_eq!(
            answer.as_ref().map(|a| a.0),
            Some(202),
            "{id} after the outage: {answer:?}\n{}",
            logs(&serve, &worker)
        );
        accepted.push(i);
    }

    // Every accepted delivery analysed once: one check run per commit, completed once.
    let started = Instant::now();
    let store = flext_quality::store::Store::connect(&pg.url())
        .await
        .unwrap();
    loop {
        let open = accepted
            .iter()
            .filter(|&&i| {
                let runs = github.check_runs_for(&shas[i]);
                runs.is_empty() || runs.iter().any(|r| r.status != "completed")
            })
            .count();
        let live = store
            .count_jobs(flext_quality::domain::status::JobState::Queued)
            .await
            .unwrap()
            + store
                .count_jobs(flext_quality::domain::status::JobState::Running)
                .await
                .unwrap();
        if open == 0 && live == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "{open} commits without a completed check run, {live} jobs live after 180 s\n{}",
            logs(&serve, &worker)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for &i in &accepted {
        let runs = github.check_runs_for(&shas[i]);
        assert_eq!(
            runs.len(),
            1,
            "commit {i}: one check run, not {runs:#?}\n{}",
            logs(&serve, &worker)
        );
        let run = github.consume_check_run(runs[0].id).unwrap();
        assert_eq!(
            run.conclusion.as_deref(),
            Some("success"),
            "commit {i}: {:?}\n{}",
            run.summary,
            logs(&serve, &worker)
        );
        let completions = run
            .history
            .iter()
            .filter(|h| h.status == "completed")
            .count();
        assert_eq!(
            completions, 1,
            "commit {i} completed once: {:?}",
            run.history
        );
        assert!(
            run.annotations.is_empty()
                || run
                    .annotations
                    .iter()
                    .all(|a| a.message == "the README could say more"),
            "{:?}",
            run.annotations
        );
    }
    assert_eq!(
        github.check_runs().len(),
        accepted.len(),
        "no check run for anything else"
    );
    let analyses = store.list_analyses(8080).await.unwrap();
    for &i in &accepted {
        let of_commit: Vec<_> = analyses.iter().filter(|a| a.sha == shas[i]).collect();
        assert_eq!(
            of_commit.len(),
            1,
            "commit {i}: one analysis: {of_commit:#?}"
        );
        let jobs = store.jobs_of_analysis(of_commit[0].id).await.unwrap();
        let analyse_jobs: Vec<_> = jobs
            .iter()
            .filter(|j| j.kind == flext_quality::domain::status::JobKind::Analyse)
            .collect();
        assert_eq!(
            analyse_jobs.len(),
            1,
            "commit {i}: one analyse job: {analyse_jobs:#?}"
        );
        assert_eq!(
            analyse_jobs[0].state,
            flext_quality::domain::status::JobState::Done,
            "commit {i}: {analyse_jobs:#?}"
        );
    }
    store.close().await;
    // Each analysis ran to its end once: an attempt that met the outage was tried again, but
    // none was redone after it had ended.
    let logs_now = format!("{}{}", serve.logs(), worker.logs());
    for &i in &accepted {
        let sha = format!("sha=\"{}\"", shas[i]);
        let ends = logs_now
            .lines()
            .filter(|l| l.contains("analysis complete") && l.contains(&sha))
            .count();
        assert_eq!(
            ends,
            1,
            "commit {i} analysed to its end {ends} times\n{}",
            logs(&serve, &worker)
        );
    }

    // The outage did meet analyses in flight (else this test proved less than it says).
    let met = logs_now
        .lines()
        .filter(|l| l.contains("the database is unavailable"))
        .count();
    assert!(met > 0, "no job met the outage\n{}", logs(&serve, &worker));

    // Nobody was restarted.
    assert!(
        serve.alive() && worker.alive(),
        "serve and worker still running\n{}",
        logs(&serve, &worker)
    );
    assert_eq!((serve.pid(), worker.pid()), pids);
    github.assert_no_violations();
    drop(worker);
    drop(serve);
}

/// The attempt that takes over a job whose earlier attempt ended its analysis but could not
/// record the job as done (the database went away in between) does not start it again.
async fn an_ended_analysis_is_not_started_again(store: Store) {
    let request = AnalysisRequest {
        project: Project {
            id: 8181,
            installation_id: Some(burst::INSTALLATION as i64),
            full_name: "acme/ended".into(),
            default_branch: "main".into(),
            clone_url: "https://github.com/acme/ended.git".into(),
        },
        sha: "a".repeat(40),
        trigger: Trigger::Push,
        head_ref: Some("refs/heads/main".into()),
        base_ref: None,
        base_sha: None,
        pr_number: None,
        force: false,
        requested_by: None,
    };
    let limits = JobLimits {
        max_attempts: 3,
        deadline_ms: 60_000,
    };
    let accepted = store
        .accept_delivery("ended-1", "push", None, &Event::Analyse(request), limits)
        .await
        .unwrap();
    let Accepted::Enqueued { analysis_id, .. } = accepted else {
        panic!("{accepted:?}")
    };
    assert_eq!(
        store.mark_analysis_running(analysis_id).await.unwrap(),
        Start::Started
    );
    // A retry of an attempt that failed before saving starts again.
    assert_eq!(
        store.mark_analysis_running(analysis_id).await.unwrap(),
        Start::Started
    );
    for (status, expected) in [
        ("completed", Start::Ended(AnalysisStatus::Completed)),
        ("failed", Start::Ended(AnalysisStatus::Failed)),
        ("cancelled", Start::Cancelled),
    ] {
        store
            .execute_admin(&format!(
                "UPDATE analyses SET status = '{status}' WHERE id = {analysis_id}"
            ))
            .await
            .unwrap();
        assert_eq!(
            store.mark_analysis_running(analysis_id).await.unwrap(),
            expected,
            "{status}"
        );
    }
}

on_both_engines!(an_ended_analysis_is_not_started_again);

/// A PostgreSQL cluster of the test's own in a temporary directory, on a free port. PostgreSQL
/// refuses to run as root: as root, it runs as the `postgres` user (or `nobody`), which owns the
/// directory.
struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    user: Option<String>,
}

impl PrivatePostgres {
    fn start() -> PrivatePostgres {
        let bin = postgres_bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("fq-pg-")
            .tempdir()
            .expect("a temporary directory for the cluster");
        // SAFETY: geteuid has no preconditions.
        let user = (unsafe { libc::geteuid() } == 0).then(|| {
            let user = ["postgres", "nobody"]
                .into_iter()
                .find(|u| uid_of(u).is_some())
                .expect("running as root, PostgreSQL needs an unprivileged user: neither `postgres` nor `nobody` exists");
            let (uid, gid) = uid_of(user).unwrap();
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .expect("giving the cluster's directory to its user");
            user.to_owned()
        });
        let pg = PrivatePostgres {
            bin,
            dir,
            port: burst::free_port(),
            user,
        };
        let data = pg.data();
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
            ],
        );
        pg.start_again();
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn log_tail(&self, lines: usize) -> String {
        let all = std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default();
        let tail: Vec<&str> = all.lines().rev().take(lines).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Starts the cluster and waits until it accepts connections.
    fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// Stops it the hard way: no shutdown checkpoint, clients cut off (as a crash would).
    fn stop(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }

    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut command = match &self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&path);
                c
            }
            None => Command::new(&path),
        };
        let out = command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tail(20)
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let path = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = match &self.user {
            Some(user) => Command::new("runuser")
                .args(["-u", user, "--"])
                .arg(&path)
                .args(args)
                .output(),
            None => Command::new(&path).args(args).output(),
        };
    }
}

/// Where `initdb`, `pg_ctl` and `postgres` are: on PATH, or Debian's
/// `/usr/lib/postgresql/<version>/bin` (the newest).
fn postgres_bin_dir() -> PathBuf {
    let wanted = ["initdb", "pg_ctl", "postgres"];
    let has_all = |dir: &Path| wanted.iter().all(|p| dir.join(p).is_file());
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    debian.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    on_path
        .into_iter()
        .chain(debian.into_iter().rev())
        .find(|d| has_all(d))
        .unwrap_or_else(|| {
            panic!(
                "this test starts a PostgreSQL cluster of its own and needs {wanted:?}: none of PATH or /usr/lib/postgresql/*/bin has all three (Debian: apt-get install postgresql; scripts/test.sh does)"
            )
        })
}

/// The uid and gid of a user, from the password database.
fn uid_of(user: &str) -> Option<(u32, u32)> {
    let name = std::ffi::CString::new(user).ok()?;
    // SAFETY: getpwnam returns null or a pointer to a static record, read at once.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        return None;
    }
    // SAFETY: non-null, as checked.
    let entry = unsafe { &*entry };
    Some((entry.pw_uid, entry.pw_gid))
}
