//! Issue comments (a pull request's conversation) and who may ask for what: the calls behind
//! the one flext-quality comment per pull request and the `/flext-quality rerun` command.

use super::client::InstallationClient;
use super::http::{GitHubError, Replay};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

/// GitHub refuses comment bodies longer than this, in characters.
pub const MAX_COMMENT_CHARS: usize = 65_536;
/// Pages of comments read when looking for ours (100 a page).
const MAX_PAGES: u32 = 30;

#[derive(Debug, Clone, Deserialize)]
pub struct Comment {
    pub id: i64,
    #[serde(default)]
    pub body: Option<String>,
    pub user: Option<Author>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Author {
    pub login: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl Comment {
    /// Written by an App (a bot account) and carrying `marker`: a person cannot make us adopt
    /// their comment by pasting the marker into it.
    pub fn is_ours(&self, marker: &str) -> bool {
        self.user.as_ref().is_some_and(|u| u.kind == "Bot")
            && self.body.as_deref().is_some_and(|b| b.contains(marker))
    }
}

#[derive(Deserialize)]
struct Permission {
    permission: String,
}

/// A pull request's head and base, as GitHub has them now.
#[derive(Debug, Clone, Deserialize)]
pub struct PullRequest {
    pub number: i64,
    pub state: String,
    pub head: Tip,
    pub base: Tip,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tip {
    pub sha: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
}

/// A repository permission that may ask flext-quality to act (write and above).
pub fn can_write(permission: &str) -> bool {
    matches!(permission, "admin" | "maintain" | "write")
}

impl InstallationClient {
    /// The first comment on issue or pull request `number` that [`Comment::is_ours`].
    pub async fn find_comment(
        &self,
        full_name: &str,
        number: i64,
        marker: &str,
    ) -> Result<Option<Comment>, GitHubError> {
        for page in 1..=MAX_PAGES {
            let comments: Vec<Comment> = self
                .request(
                    Method::GET,
                    &format!(
                        "/repos/{full_name}/issues/{number}/comments?per_page=100&page={page}"
                    ),
                    None,
                )
                .await?;
            if let Some(c) = comments.iter().find(|c| c.is_ours(marker)) {
                return Ok(Some(c.clone()));
            }
            if comments.len() < 100 {
                break;
            }
        }
        Ok(None)
    }

    /// Posts a comment. Not sent twice: after a failure that leaves open whether GitHub posted
    /// it ([`GitHubError::may_have_applied`]), the caller looks for it first.
    pub async fn create_comment(
        &self,
        full_name: &str,
        number: i64,
        body: &str,
    ) -> Result<i64, GitHubError> {
        let c: Comment = self
            .request_with(
                Method::POST,
                &format!("/repos/{full_name}/issues/{number}/comments"),
                Some(&json!({ "body": body })),
                Replay::Never,
            )
            .await?;
        Ok(c.id)
    }

    pub async fn update_comment(
        &self,
        full_name: &str,
        comment_id: i64,
        body: &str,
    ) -> Result<(), GitHubError> {
        let _: Comment = self
            .request(
                Method::PATCH,
                &format!("/repos/{full_name}/issues/comments/{comment_id}"),
                Some(&json!({ "body": body })),
            )
            .await?;
        Ok(())
    }

    pub async fn pull_request(
        &self,
        full_name: &str,
        number: i64,
    ) -> Result<PullRequest, GitHubError> {
        self.request(
            Method::GET,
            &format!("/repos/{full_name}/pulls/{number}"),
            None,
        )
        .await
    }

    /// `admin`, `maintain`, `write`, `triage`, `read` or `none`.
    pub async fn permission_of(&self, full_name: &str, login: &str) -> Result<String, GitHubError> {
        let p: Permission = self
            .request(
                Method::GET,
                &format!("/repos/{full_name}/collaborators/{login}/permission"),
                None,
            )
            .await?;
        Ok(p.permission)
    }
}
