//! Benchmark: a pull request on a 2,000-file Python repository, from its signed `pull_request`
//! webhook to its completed check run, against what a CI script would do for the same answer —
//! clone the repository and run the bare tools on the head and on the base — in one run. See
//! benches/README.md.
//!
//! The whole app runs as in the end-to-end tests (`tests/harness`): the real router over HTTP,
//! one real worker, a fresh PostgreSQL database on `TEST_DATABASE_URL` (dropped at the end), the
//! real tools in the real jail, and the strict fake GitHub, which also serves the repository over
//! smart HTTP to both sides. The repository's config enables Ruff and Bandit, as a new user's
//! would. `FQ_BENCH_SMOKE=1` makes the repository small, for a quick check.

#[path = "../tests/harness/mod.rs"]
mod harness;
#[path = "shared/python_repo.rs"]
mod python_repo;
#[path = "../tests/support/mod.rs"]
mod support;

use harness::dsl::{run_test, Options, Repo, Tester, APP_ID, INSTALLATION};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::git_server::git;
use support::{app_jwt, shared_app_key};

/// What the pull request changes: three modules edited (one new finding each) and one added.
fn changes(count: usize) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = [count / 4, count / 2, count * 3 / 4]
        .iter()
        .map(|&i| {
            let text = python_repo::module(i)
                + "\n\ndef changed(value: str) -> object:\n    return eval(value)\n";
            (format!("pkg{}/mod{i}.py", i / 100), text)
        })
        .collect();
    out.push((
        "pkg0/feature.py".into(),
        "\"\"\"A new feature.\"\"\"\n\nimport subprocess\n\n\ndef deploy(target: str) -> int:\n    return subprocess.call(\"deploy \" + target, shell=True)\n".into(),
    ));
    out
}

/// Commits the generated project and its config as `main` of the hosted repository (through a
/// work tree and a push: thousands of files at once); returns the commit.
fn commit_base(repo: &Repo, count: usize) -> String {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    python_repo::write(dir, count);
    std::fs::write(
        dir.join(".flext-quality.toml"),
        python_repo::RUFF_AND_BANDIT,
    )
    .unwrap();
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "the generated project"]);
    let bare = repo.bare.to_str().expect("a UTF-8 path");
    git(dir, &["push", "-q", bare, "HEAD:refs/heads/main"]);
    git(dir, &["rev-parse", "HEAD"])
}

fn tool(name: &str) -> PathBuf {
    harness::tools::tool(name)
}

fn run(name: &str, cmd: &mut Command) -> Duration {
    let started = Instant::now();
    let out = cmd.output().unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{name} failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

/// Ruff then Bandit, bare, on a checkout, as a CI script runs them.
fn bare_tools(root: &Path) -> Duration {
    run(
        "ruff",
        Command::new(tool("ruff"))
            .args([
                "check",
                "--output-format=json",
                "--exit-zero",
                "--isolated",
                "--no-cache",
                ".",
            ])
            .current_dir(root),
    ) + run(
        "bandit",
        Command::new(tool("bandit"))
            .args(["-f", "json", "-q", "-r", "."])
            .current_dir(root),
    )
}

/// An installation token, minted as the app mints its own, for the peer's clone.
async fn installation_token(t: &Tester) -> String {
    let response = t
        .http()
        .post(format!(
            "{}/app/installations/{INSTALLATION}/access_tokens",
            t.github().url()
        ))
        .bearer_auth(app_jwt(&shared_app_key().0, APP_ID))
        .header("accept", "application/vnd.github+json")
        .header("user-agent", "flext-quality-bench")
        .send()
        .await
        .expect("the fake GitHub answers");
    assert_eq!(response.status().as_u16(), 201, "minting a token");
    let body: serde_json::Value = response.json().await.unwrap();
    body["token"].as_str().expect("a token").to_owned()
}

struct Peer {
    clone: Duration,
    base_tools: Duration,
    checkout: Duration,
    head_tools: Duration,
}

impl Peer {
    fn total(&self) -> Duration {
        self.clone + self.base_tools + self.checkout + self.head_tools
    }
}

/// `git clone` from the fake GitHub (which checks out the base), the bare tools on it, a
/// checkout of the head, the bare tools on it.
fn peer(clone_url: &str, token: &str, head: &str) -> Peer {
    let url = clone_url.replacen("://", &format!("://x-access-token:{token}@"), 1);
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("clone");
    let clone = run(
        "git clone",
        Command::new("git")
            .args(["clone", "-q", &url])
            .arg(&dir)
            .env("GIT_TERMINAL_PROMPT", "0"),
    );
    let base_tools = bare_tools(&dir);
    let checkout = run(
        "git checkout",
        Command::new("git")
            .args(["checkout", "-q", head])
            .current_dir(&dir),
    );
    let head_tools = bare_tools(&dir);
    Peer {
        clone,
        base_tools,
        checkout,
        head_tools,
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

async fn bench(t: Tester, count: usize) {
    let repo = t.repo("bench/widgets");
    let setup = Instant::now();
    let base = commit_base(&repo, count);
    repo.set_ref("refs/heads/feature", &base);
    let changed = changes(count);
    let files: Vec<(&str, &str)> = changed
        .iter()
        .map(|(p, s)| (p.as_str(), s.as_str()))
        .collect();
    let head = repo.commit("feature", &files);
    repo.set_ref("refs/pull/1/head", &head);
    t.github()
        .set_pull(&repo.owner, &repo.name, 1, &head, "main", &base);
    println!(
        "repository: {count} generated modules on main, a pull request changing {} files (set up in {:.1} s)",
        files.len(),
        secs(setup.elapsed())
    );

    // Ours: the signed webhook until the check run on the head is completed.
    let payload = repo.pr_payload("opened", 1, &head, &base);
    let started = Instant::now();
    let (status, body) = t.webhook("pull_request", &payload).await;
    assert_eq!(status, 202, "the webhook is accepted: {body}");
    let accepted = started.elapsed();
    let mut created: Option<Duration> = None;
    let run = loop {
        let runs = t.github().check_runs_for(&head);
        if created.is_none() && !runs.is_empty() {
            created = Some(started.elapsed());
        }
        if let Some(done) = runs.into_iter().find(|r| r.status == "completed") {
            break done;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "no completed check run after 30 minutes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let ours = started.elapsed();
    t.github().consume_check_run(run.id);
    t.wait_idle().await;
    for comment in t.github().issue_comments(&repo.owner, &repo.name, 1) {
        t.github().consume_comment(comment.id);
    }
    println!(
        "check run: {} — {}",
        run.conclusion.as_deref().unwrap_or("no conclusion"),
        run.title.as_deref().unwrap_or("no title")
    );

    // The peer, from the same git server.
    let token = installation_token(&t).await;
    let clone_url = repo.clone_url();
    let head_for_peer = head.clone();
    let peer = tokio::task::spawn_blocking(move || peer(&clone_url, &token, &head_for_peer))
        .await
        .expect("the peer ran");

    println!();
    println!("pull request, webhook to completed check run, seconds");
    println!(
        "  webhook answered (202)                 {:>8.3}",
        secs(accepted)
    );
    if let Some(c) = created {
        println!("  check run created                      {:>8.2}", secs(c));
    }
    println!(
        "  check run completed                    {:>8.2}",
        secs(ours)
    );
    println!("peer: clone + bare Ruff and Bandit on base and head, seconds");
    println!(
        "  git clone (checks out the base)        {:>8.2}",
        secs(peer.clone)
    );
    println!(
        "  ruff + bandit on the base              {:>8.2}",
        secs(peer.base_tools)
    );
    println!(
        "  git checkout of the head               {:>8.2}",
        secs(peer.checkout)
    );
    println!(
        "  ruff + bandit on the head              {:>8.2}",
        secs(peer.head_tools)
    );
    println!(
        "  in all                                 {:>8.2}",
        secs(peer.total())
    );
    let ratio = secs(ours) / secs(peer.total());
    println!(
        "{:<42} {ratio:>6.2}×  (target ≤ 1.15×) {}",
        "webhook to check run / peer",
        if ratio <= 1.15 { "met" } else { "MISSED" }
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let smoke = std::env::var_os("FQ_BENCH_SMOKE").is_some();
    let count = if smoke && std::env::var_os("FQ_BENCH_FILES").is_none() {
        300
    } else {
        python_repo::file_count()
    };
    let options = Options {
        workers: 1,
        timeout: Duration::from_secs(3600),
        ..Options::default()
    };
    run_test(options, move |t| bench(t, count)).await;
}
