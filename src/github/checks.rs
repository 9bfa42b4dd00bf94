//! The Checks API calls: create a check run, update it (appending annotations).

use super::client::{GitHubError, InstallationClient};
use reqwest::Method;
use serde::Deserialize;

/// GitHub accepts at most this many annotations in one request.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;
/// GitHub's limit on a check run's summary and text, in characters.
pub const MAX_SUMMARY_CHARS: usize = 65_535;

#[derive(Debug, Deserialize)]
pub struct CheckRunCreated {
    pub id: i64,
}

impl InstallationClient {
    pub async fn create_check_run(
        &self,
        full_name: &str,
        body: &serde_json::Value,
    ) -> Result<i64, GitHubError> {
        let created: CheckRunCreated = self
            .request(
                Method::POST,
                &format!("/repos/{full_name}/check-runs"),
                Some(body),
            )
            .await?;
        Ok(created.id)
    }

    pub async fn update_check_run(
        &self,
        full_name: &str,
        check_run_id: i64,
        body: &serde_json::Value,
    ) -> Result<(), GitHubError> {
        let _: serde_json::Value = self
            .request(
                Method::PATCH,
                &format!("/repos/{full_name}/check-runs/{check_run_id}"),
                Some(body),
            )
            .await?;
        Ok(())
    }
}
