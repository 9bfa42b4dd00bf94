//! A real binary's first pull request: a fake GitHub with one installed repository and a
//! pull request whose head adds code Ruff objects to, and what the check run must then say.

use super::dsl::{fixture, APP_ID, INSTALLATION, SECRET};
use super::server::Server;
use crate::support::{shared_app_key, FakeGitHub};
use std::time::{Duration, Instant};

/// A fake GitHub with one installed repository and a pull request (base `a.py`, head adding a
/// `b.py` Ruff objects to), and GitHub's own example payload pointed at it.
pub struct PullRequest {
    pub github: FakeGitHub,
    pub private_pem: String,
    pub head: String,
    pub payload: Vec<u8>,
}

pub async fn pull_request() -> PullRequest {
    let (private_pem, public_pem) = shared_app_key();
    let github = FakeGitHub::start(APP_ID, public_pem).await;
    github.add_installation(INSTALLATION, &[("acme", "first", 5005)]);
    github.create_repo("acme", "first");
    let base = github.commit("acme", "first", "main", &[("a.py", "X = 1\n")], "base");
    let bare = github.repo_path("acme", "first");
    crate::support::git_server::git(&bare, &["update-ref", "refs/heads/feature", &base]);
    let head = github.commit(
        "acme",
        "first",
        "feature",
        &[("b.py", "import os\nprint(undefined_name)\n")],
        "feature",
    );
    crate::support::git_server::git(&bare, &["update-ref", "refs/pull/1/head", &head]);
    let mut p = fixture("pull_request", "opened.payload.json");
    p["repository"]["id"] = 5005.into();
    p["repository"]["full_name"] = "acme/first".into();
    p["repository"]["clone_url"] = github.clone_url("acme", "first").into();
    p["repository"]["default_branch"] = "main".into();
    p["installation"] = serde_json::json!({ "id": INSTALLATION, "node_id": "MDIz" });
    p["number"] = 1.into();
    p["pull_request"]["head"]["sha"] = head.clone().into();
    p["pull_request"]["base"]["sha"] = base.clone().into();
    p["pull_request"]["base"]["ref"] = "main".into();
    PullRequest {
        github,
        private_pem: private_pem.to_string(),
        head,
        payload: serde_json::to_vec(&p).unwrap(),
    }
}

impl PullRequest {
    pub fn app_settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GITHUB_APP_ID", APP_ID.to_string()),
            ("GITHUB_PRIVATE_KEY", self.private_pem.clone()),
            ("GITHUB_WEBHOOK_SECRET", SECRET.to_owned()),
            ("GITHUB_API_URL", self.github.url()),
        ]
    }

    /// The completed check run on the head, consumed, with the real Ruff findings asserted.
    pub async fn expect_ruff_findings(&self, server: &Server) {
        let started = Instant::now();
        let run = loop {
            if let Some(r) = self
                .github
                .check_runs_for(&self.head)
                .into_iter()
                .find(|r| r.status == "completed")
            {
                break r;
            }
            assert!(
                started.elapsed() < Duration::from_secs(180),
                "no completed check run after 180 s:\n{}",
                server.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // Let the publish job finish before looking.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let run = self.github.consume_check_run(run.id).unwrap();
        assert_eq!(
            run.conclusion.as_deref(),
            Some("failure"),
            "{:?}",
            run.summary
        );
        let messages: Vec<&str> = run.annotations.iter().map(|a| a.message.as_str()).collect();
        assert!(
            messages.contains(&"Undefined name `undefined_name`")
                && messages.contains(&"`os` imported but unused"),
            "the real Ruff findings: {messages:?}\n{:?}\n{}",
            run.summary,
            server.logs()
        );
        // And the pull request's one comment, once its publish job ran.
        let started = Instant::now();
        let comment = loop {
            if let Some(c) = self
                .github
                .issue_comments("acme", "first", 1)
                .into_iter()
                .next()
            {
                break c;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no pull request comment:\n{}",
                server.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let comment = self.github.consume_comment(comment.id).unwrap();
        assert!(comment.body.contains("Undefined name"), "{}", comment.body);
    }
}

/// The settings a real binary needs to act as the fake's App, plus `extra`.
pub fn app_env(
    github: &FakeGitHub,
    private_pem: &str,
    extra: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("GITHUB_APP_ID", APP_ID.to_string()),
        ("GITHUB_PRIVATE_KEY", private_pem.to_owned()),
        ("GITHUB_WEBHOOK_SECRET", SECRET.to_owned()),
        ("GITHUB_API_URL", github.url()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    env
}

/// A `push` of `sha` as the first commit of `owner/name`'s `main`, from GitHub's own example
/// payload, pointed at the fake.
pub fn first_push(
    github: &FakeGitHub,
    owner: &str,
    name: &str,
    repo_id: u64,
    sha: &str,
) -> Vec<u8> {
    let mut p = fixture("push", "with-new-branch.payload.json");
    p["ref"] = "refs/heads/main".into();
    p["before"] = "0".repeat(40).into();
    p["after"] = sha.into();
    p["deleted"] = false.into();
    p["repository"]["id"] = repo_id.into();
    p["repository"]["full_name"] = format!("{owner}/{name}").into();
    p["repository"]["clone_url"] = github.clone_url(owner, name).into();
    p["repository"]["default_branch"] = "main".into();
    p["installation"] = serde_json::json!({ "id": INSTALLATION, "node_id": "MDIz" });
    serde_json::to_vec(&p).unwrap()
}

/// A fake GitHub with `acme/<name>` installed, its `main` one commit: a crate whose build
/// script is `build_rs` (Clippy runs it). The fake, the App's private key, and the commit.
pub async fn crate_repo(name: &str, repo_id: u64, build_rs: &str) -> (FakeGitHub, String, String) {
    let (private_pem, public_pem) = shared_app_key();
    let github = FakeGitHub::start(APP_ID, public_pem).await;
    github.add_installation(INSTALLATION, &[("acme", name, repo_id)]);
    github.create_repo("acme", name);
    let manifest =
        format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    let sha = github.commit(
        "acme",
        name,
        "main",
        &[
            ("Cargo.toml", manifest.as_str()),
            ("build.rs", build_rs),
            ("src/lib.rs", "pub fn f() {}\n"),
        ],
        "a crate with a build script",
    );
    (github, private_pem.to_string(), sha)
}

/// Waits (up to 60 s) until the commit's check run is in progress.
pub async fn wait_in_progress(github: &FakeGitHub, sha: &str, server: &Server) {
    let started = Instant::now();
    while !github
        .check_runs_for(sha)
        .iter()
        .any(|r| r.status == "in_progress")
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
