//! The Checks API: typed request bodies for creating and updating a check run, and the calls.

use super::client::InstallationClient;
use super::http::GitHubError;
use reqwest::Method;
use serde::{Deserialize, Serialize};

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

impl InstallationClient {
    pub async fn create_check_run(
        &self,
        full_name: &str,
        body: &CreateCheckRun,
    ) -> Result<i64, GitHubError> {
        let created: CheckRunCreated = self
            .request(
                Method::POST,
                &format!("/repos/{full_name}/check-runs"),
                Some(&serde_json::to_value(body).map_err(|e| GitHubError::Local(e.to_string()))?),
            )
            .await?;
        Ok(created.id)
    }

    /// Our check run on `sha` for `external_id` (an analysis id) that is not completed yet: one a
    /// worker created and died before recording.
    pub async fn find_open_check_run(
        &self,
        full_name: &str,
        sha: &str,
        external_id: &str,
    ) -> Result<Option<i64>, GitHubError> {
        #[derive(Deserialize)]
        struct Listed {
            id: i64,
            status: String,
            external_id: Option<String>,
        }
        #[derive(Deserialize)]
        struct List {
            check_runs: Vec<Listed>,
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
            .find(|r| r.status != "completed" && r.external_id.as_deref() == Some(external_id))
            .map(|r| r.id))
    }

    pub async fn update_check_run(
        &self,
        full_name: &str,
        check_run_id: i64,
        body: &UpdateCheckRun,
    ) -> Result<(), GitHubError> {
        let _: serde_json::Value = self
            .request(
                Method::PATCH,
                &format!("/repos/{full_name}/check-runs/{check_run_id}"),
                Some(&serde_json::to_value(body).map_err(|e| GitHubError::Local(e.to_string()))?),
            )
            .await?;
        Ok(())
    }
}
