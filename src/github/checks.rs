//! The Checks API: typed request bodies for creating and updating a check run, and the calls.
//!
//! Creating is never blindly repeated: after a failure that leaves open whether GitHub created
//! the check run (a 5xx, a lost connection), it is looked for by its `external_id` before
//! another is created, so a lost answer never makes a second check run.

use super::client::InstallationClient;
use super::http::{GitHubError, Replay};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Tries at creating a check run when GitHub's answers leave open whether it was created.
const CREATE_ATTEMPTS: u32 = 4;

/// GitHub accepts at most this many annotations in one request.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;
/// GitHub's limit on a check run's summary and text, in characters.
pub const MAX_SUMMARY_CHARS: usize = 65_535;

/// The name of the check run flext-quality creates.
pub const CHECK_NAME: &str = "flext-quality";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Queued,
    InProgress,
    Completed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conclusion {
    Success,
    Failure,
    Neutral,
    Cancelled,
    TimedOut,
}

impl Conclusion {
    pub fn as_str(self) -> &'static str {
        match self {
            Conclusion::Success => "success",
            Conclusion::Failure => "failure",
            Conclusion::Neutral => "neutral",
            Conclusion::Cancelled => "cancelled",
            Conclusion::TimedOut => "timed_out",
        }
    }

    pub fn parse(s: &str) -> Option<Conclusion> {
        Some(match s {
            "success" => Conclusion::Success,
            "failure" => Conclusion::Failure,
            "neutral" => Conclusion::Neutral,
            "cancelled" => Conclusion::Cancelled,
            "timed_out" => Conclusion::TimedOut,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnotationLevel {
    Notice,
    Warning,
    Failure,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annotation {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_column: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_column: Option<u32>,
    pub annotation_level: AnnotationLevel,
    pub message: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_details: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Output {
    pub title: String,
    pub summary: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
}

/// A button on a check run; GitHub sends `check_run` `requested_action` with its identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    /// At most 20 characters.
    pub label: String,
    /// At most 40 characters.
    pub description: String,
    /// At most 20 characters.
    pub identifier: String,
}

/// The identifier of our "Re-run" button.
pub const RERUN_ACTION: &str = "rerun";

/// The buttons on a completed flext-quality check run (GitHub allows three).
pub fn actions() -> Vec<Action> {
    vec![Action {
        label: "Re-run".into(),
        description: "Analyse this commit again".into(),
        identifier: RERUN_ACTION.into(),
    }]
}

/// `POST /repos/{owner}/{repo}/check-runs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateCheckRun {
    pub name: String,
    pub head_sha: String,
    pub status: CheckStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<Conclusion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    pub output: Output,
}

/// `PATCH /repos/{owner}/{repo}/check-runs/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpdateCheckRun {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<CheckStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<Conclusion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Output>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
}

#[derive(Debug, Deserialize)]
struct CheckRunCreated {
    id: i64,
}

/// A check run as listed or read back from GitHub.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckRunState {
    pub id: i64,
    pub status: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub output: Option<CheckRunOutputState>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckRunOutputState {
    #[serde(default)]
    pub annotations_count: usize,
}

impl CheckRunState {
    /// How many annotations GitHub holds for the check run.
    pub fn annotations_count(&self) -> usize {
        self.output.as_ref().map_or(0, |o| o.annotations_count)
    }
}

impl InstallationClient {
    /// Creates a check run; `body.external_id` names it, so that after an answer that leaves
    /// open whether GitHub created it, the one GitHub has is found and returned instead of a
    /// second one being made (without an external id such a failure is returned).
    pub async fn create_check_run(
        &self,
        full_name: &str,
        body: &CreateCheckRun,
    ) -> Result<i64, GitHubError> {
        let json = serde_json::to_value(body).map_err(|e| GitHubError::Local(e.to_string()))?;
        let path = format!("/repos/{full_name}/check-runs");
        let mut delay = Duration::from_millis(250);
        let mut attempt = 1;
        loop {
            let sent: Result<CheckRunCreated, GitHubError> = self
                .request_with(Method::POST, &path, Some(&json), Replay::Never)
                .await;
            let error = match sent {
                Ok(created) => return Ok(created.id),
                Err(e) if e.may_have_applied() => e,
                Err(e) => return Err(e),
            };
            let Some(external_id) = &body.external_id else {
                return Err(error);
            };
            tracing::warn!(error = %error, attempt, "creating a check run failed; looking whether GitHub made it");
            // A pause first: what GitHub just wrote may take a moment to be listed.
            tokio::time::sleep(delay).await;
            if let Some(found) = self
                .find_check_run(full_name, &body.head_sha, external_id)
                .await?
            {
                return Ok(found.id);
            }
            if attempt >= CREATE_ATTEMPTS {
                return Err(error);
            }
            attempt += 1;
            delay *= 2;
        }
    }

    /// Our check run on `sha` whose `external_id` is `external_id` (an analysis id), in any
    /// state, newest first.
    pub async fn find_check_run(
        &self,
        full_name: &str,
        sha: &str,
        external_id: &str,
    ) -> Result<Option<CheckRunState>, GitHubError> {
        #[derive(Deserialize)]
        struct List {
            check_runs: Vec<CheckRunState>,
        }
        let list: List = self
            .request(
                Method::GET,
                &format!(
                    "/repos/{full_name}/commits/{sha}/check-runs?check_name={CHECK_NAME}&filter=all&per_page=100"
                ),
                None,
            )
            .await?;
        Ok(list
            .check_runs
            .into_iter()
            .find(|r| r.external_id.as_deref() == Some(external_id)))
    }

    /// Our check run on `sha` for `external_id` (an analysis id) that is not completed yet: one a
    /// worker created and died before recording.
    pub async fn find_open_check_run(
        &self,
        full_name: &str,
        sha: &str,
        external_id: &str,
    ) -> Result<Option<i64>, GitHubError> {
        Ok(self
            .find_check_run(full_name, sha, external_id)
            .await?
            .filter(|r| r.status != "completed")
            .map(|r| r.id))
    }

    /// A check run as GitHub has it now.
    pub async fn get_check_run(
        &self,
        full_name: &str,
        check_run_id: i64,
    ) -> Result<CheckRunState, GitHubError> {
        self.request(
            Method::GET,
            &format!("/repos/{full_name}/check-runs/{check_run_id}"),
            None,
        )
        .await
    }

    /// Updates a check run. A body that carries annotations is not sent twice (GitHub appends
    /// them): after a failure that leaves open whether it went through, the caller finds out
    /// (see [`Self::get_check_run`]).
    pub async fn update_check_run(
        &self,
        full_name: &str,
        check_run_id: i64,
        body: &UpdateCheckRun,
    ) -> Result<(), GitHubError> {
        let appends = body
            .output
            .as_ref()
            .is_some_and(|o| !o.annotations.is_empty());
        let replay = if appends { Replay::Never } else { Replay::Safe };
        let _: serde_json::Value = self
            .request_with(
                Method::PATCH,
                &format!("/repos/{full_name}/check-runs/{check_run_id}"),
                Some(&serde_json::to_value(body).map_err(|e| GitHubError::Local(e.to_string()))?),
                replay,
            )
            .await?;
        Ok(())
    }
}
