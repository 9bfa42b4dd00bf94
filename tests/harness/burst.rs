//! What a burst of webhooks needs, shared by the queue benchmark (`benches/queue.rs`) and the
//! PostgreSQL fault test: repositories with a long linear history on the fake GitHub, a fast
//! stand-in for the analysis tools (a SARIF tool configured through
//! `FLEXT_QUALITY_SARIF_TOOLS`, still run in the real jail), GitHub's own example payloads
//! pointed at those commits, and a signed POST that reports only the status.
//!
//! It depends on nothing of the harness but the fake (`crate::support`), so the benchmark can
//! include this one file.

use crate::support::FakeGitHub;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The App id, installation and webhook secret the deliveries are made for.
pub const APP_ID: u64 = 4242;
pub const INSTALLATION: u64 = 77;
pub const SECRET: &str = "test-webhook-secret";

/// The name the stand-in tool's findings carry.
pub const FAST_TOOL: &str = "fastcheck";

/// Writes a shell script into `dir` that waits `delay_ms` (to keep jobs in flight a while),
/// then prints a small SARIF document (one finding on `README.md`, which every commit of
/// [`linear_history`] has), and returns the value of `FLEXT_QUALITY_SARIF_TOOLS` that runs it.
/// The commits hold no Python or Rust, so the built-in backends do not apply and this is the
/// only tool that runs.
pub fn fast_sarif_tool(dir: &Path, delay_ms: u64) -> String {
    let script = dir.join("fastcheck.sh");
    let sarif = serde_json::json!({
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": FAST_TOOL, "rules": [{"id": "FC001"}]}},
            "results": [{
                "ruleId": "FC001",
                "level": "note",
                "message": {"text": "the README could say more"},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": "README.md"},
                    "region": {"startLine": 1}
                }}]
            }]
        }]
    });
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n{}cat <<'SARIF'\n{sarif}\nSARIF\n",
            if delay_ms > 0 {
                format!("sleep {}.{:03}\n", delay_ms / 1000, delay_ms % 1000)
            } else {
                String::new()
            }
        ),
    )
    .expect("writing the stand-in tool");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .expect("making the stand-in tool executable");
    serde_json::json!([{"name": FAST_TOOL, "command": [script.to_str().expect("UTF-8 path")]}])
        .to_string()
}

/// A hosted repository whose `main` is a root commit (a README) followed by `commits` commits,
/// each adding one file; `refs/pull/<i>/head` points at the i-th of them (pull request `i`
/// has it as its head). Written by one `git fast-import`, so thousands of commits take a
/// moment. Returns the root's SHA and the commits' SHAs, oldest first.
pub fn linear_history(
    github: &FakeGitHub,
    owner: &str,
    name: &str,
    commits: usize,
) -> (String, Vec<String>) {
    let bare = github.create_repo(owner, name);
    let mut stream = Vec::new();
    let mut commit = |n: usize, path: &str, content: &str| {
        let message = format!("commit {n}\n");
        // Distinct times keep the SHAs distinct across repositories with the same content.
        write!(
            stream,
            "commit refs/heads/main\ncommitter Bench <bench@example.com> {} +0000\ndata {}\n{}M 100644 inline {path}\ndata {}\n{content}\n",
            1_700_000_000 + n,
            message.len(),
            message,
            content.len()
        )
        .unwrap();
    };
    commit(0, "README.md", &format!("# {owner}/{name}\n"));
    for i in 1..=commits {
        commit(
            i,
            &format!("notes/n{i}.txt"),
            &format!("note {i} of {name}\n"),
        );
    }
    run_git(&bare, &["fast-import", "--quiet"], Some(&stream));
    let listed = run_git(&bare, &["rev-list", "--reverse", "refs/heads/main"], None);
    let mut shas: Vec<String> = listed.lines().map(str::to_owned).collect();
    assert_eq!(shas.len(), commits + 1, "fast-import wrote every commit");
    let root = shas.remove(0);
    let refs: String = shas
        .iter()
        .enumerate()
        .map(|(i, sha)| format!("update refs/pull/{}/head {sha}\n", i + 1))
        .collect();
    run_git(&bare, &["update-ref", "--stdin"], Some(refs.as_bytes()));
    (root, shas)
}

fn run_git(dir: &Path, args: &[&str], input: Option<&[u8]>) -> String {
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git is installed");
    let mut stdin = child.stdin.take().expect("piped stdin");
    if let Some(bytes) = input {
        stdin.write_all(bytes).expect("feeding git");
    }
    drop(stdin);
    let out = child.wait_with_output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One of GitHub's own example payloads (`../shared/fixtures/github/webhooks/`).
pub fn fixture(event: &str, file: &str) -> Value {
    let path = format!(
        "{}/../shared/fixtures/github/webhooks/{event}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// A repository as the payloads name it.
#[derive(Debug, Clone)]
pub struct Repo {
    pub owner: String,
    pub name: String,
    pub id: u64,
    pub clone_url: String,
}

impl Repo {
    fn stamp(&self, p: &mut Value) {
        p["repository"]["id"] = self.id.into();
        p["repository"]["name"] = self.name.clone().into();
        p["repository"]["full_name"] = format!("{}/{}", self.owner, self.name).into();
        p["repository"]["clone_url"] = self.clone_url.clone().into();
        p["repository"]["default_branch"] = "main".into();
        p["installation"] = serde_json::json!({ "id": INSTALLATION, "node_id": "MDIz" });
    }
}

/// GitHub's example `push` payload: `main` moved from `before` to `after`.
pub fn push(repo: &Repo, before: &str, after: &str) -> Value {
    let mut p = fixture("push", "with-new-branch.payload.json");
    p["ref"] = "refs/heads/main".into();
    p["before"] = before.into();
    p["after"] = after.into();
    p["created"] = false.into();
    p["deleted"] = false.into();
    repo.stamp(&mut p);
    p
}

/// GitHub's example `pull_request` payload with `action`: pull request `number` of `head`
/// into `main` at `base`.
pub fn pull_request(repo: &Repo, action: &str, number: u64, head: &str, base: &str) -> Value {
    let mut p = fixture("pull_request", "opened.payload.json");
    p["action"] = action.into();
    p["number"] = number.into();
    p["pull_request"]["number"] = number.into();
    p["pull_request"]["head"]["sha"] = head.into();
    p["pull_request"]["head"]["ref"] = format!("change-{number}").into();
    p["pull_request"]["base"]["sha"] = base.into();
    p["pull_request"]["base"]["ref"] = "main".into();
    repo.stamp(&mut p);
    p
}

/// POSTs a delivery signed with [`SECRET`]; the status, or `None` when no answer came (the
/// server is down, the connection was cut).
pub async fn deliver(
    http: &reqwest::Client,
    url: &str,
    event: &str,
    delivery_id: &str,
    body: &[u8],
) -> Option<(u16, String)> {
    let signature = flext_quality::github::signature::sign(
        &secrecy::SecretString::from(SECRET.to_owned()),
        body,
    );
    let r = http
        .post(format!("{url}/webhooks/github"))
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", delivery_id)
        .header("X-Hub-Signature-256", signature)
        .header("Content-Type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    Some((status, r.text().await.unwrap_or_default()))
}

/// A real `flext-quality` process (`serve`, `worker`) started from `dir` with only the
/// environment given (nothing of flext-quality's own from the caller's), its output in
/// `<dir>/<name>.log`; stopped with SIGTERM when dropped (SIGKILL after 20 s).
pub struct Process {
    pub name: String,
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl Process {
    pub fn start(name: &str, dir: &Path, args: &[&str], envs: &[(&str, String)]) -> Process {
        let log = dir.join(format!("{name}.log"));
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::create_dir_all(&tmp).expect("a TMPDIR for the process");
        let mut command = Command::new(env!("CARGO_BIN_EXE_flext-quality"));
        command.args(args).current_dir(dir);
        for (k, _) in std::env::vars() {
            if k.starts_with("FLEXT_QUALITY_")
                || k.starts_with("GITHUB_")
                || k == "DATABASE_URL"
                || k == "PORT"
                || k == "PUBLIC_URL"
                || k == "RUST_LOG"
            {
                command.env_remove(k);
            }
        }
        command
            .env("TMPDIR", &tmp)
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("log file"))
            .stderr(
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&log)
                    .expect("log file"),
            );
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting flext-quality {args:?}: {e}"));
        Process {
            name: name.to_owned(),
            child,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process has not exited.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let all = self.logs();
        let tail: Vec<&str> = all.lines().rev().take(lines).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Resident memory now, in kB (from /proc).
    pub fn rss_kb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// SIGTERM, then up to 20 s to exit before SIGKILL; true when it exited by itself.
    pub fn stop(&mut self) -> bool {
        if !self.alive() {
            return true;
        }
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_secs(20) {
            if !self.alive() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Waits until `GET {url}{path}` answers 200, or panics after `limit` with `what`'s log.
pub async fn wait_for(url: &str, path: &str, limit: std::time::Duration, process: &mut Process) {
    let started = std::time::Instant::now();
    let http = reqwest::Client::new();
    loop {
        if let Ok(r) = http.get(format!("{url}{path}")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(
            process.alive() && started.elapsed() < limit,
            "{} did not answer {path} within {} s:\n{}",
            process.name,
            limit.as_secs(),
            process.log_tail(40)
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
