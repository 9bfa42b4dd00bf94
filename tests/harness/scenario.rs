//! Building blocks of end-to-end scenarios: webhook payloads for a repository hosted by the
//! fake GitHub, and waiting for the check run GitHub would show.

use super::app::{fixture, retarget, TestApp};
use crate::support::{CheckRun, FakeGitHub};
use serde_json::Value;
use std::time::{Duration, Instant};

/// A push of `after` to the default branch (`main`).
pub fn push_payload(
    github: &FakeGitHub,
    owner: &str,
    repo: &str,
    repo_id: u64,
    before: &str,
    after: &str,
) -> Value {
    let mut p = fixture("push", "with-new-branch.payload.json");
    retarget(&mut p, github, owner, repo, repo_id);
    p["ref"] = "refs/heads/main".into();
    p["before"] = before.into();
    p["after"] = after.into();
    p["created"] = false.into();
    p["deleted"] = false.into();
    p
}

/// A pull request from `feature` (at `head`) into `main` (at `base`).
#[allow(clippy::too_many_arguments)]
pub fn pr_payload(
    github: &FakeGitHub,
    owner: &str,
    repo: &str,
    repo_id: u64,
    action: &str,
    number: u64,
    head: &str,
    base: &str,
) -> Value {
    let mut p = fixture("pull_request", "opened.payload.json");
    retarget(&mut p, github, owner, repo, repo_id);
    p["action"] = action.into();
    p["number"] = number.into();
    let pr = &mut p["pull_request"];
    pr["number"] = number.into();
    pr["head"]["sha"] = head.into();
    pr["head"]["ref"] = "feature".into();
    pr["base"]["sha"] = base.into();
    pr["base"]["ref"] = "main".into();
    p
}

/// The first completed check run on `sha` (marking it seen).
pub async fn wait_for_completed(app: &TestApp, sha: &str, limit: Duration) -> CheckRun {
    let started = Instant::now();
    loop {
        let runs = app.github.check_runs_for(sha);
        if let Some(done) = runs.iter().find(|r| r.status == "completed") {
            return done.clone();
        }
        assert!(
            started.elapsed() < limit,
            "no completed check run on {sha} after {limit:?}: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
