//! The fake GitHub's conversation endpoints and the state they keep: issue comments (who wrote
//! them, each edit counted so an assertion can consume a comment as it is now) and repository
//! permissions.
//!
//! GitHub's rules kept here: a body over 65,536 characters is refused (422); an App may edit
//! or delete only its own comments (403 otherwise); a user who is not a collaborator has
//! permission `none`.

use super::app_key::unix_now;
use super::checks::paginate;
use super::fake_github::{gh_error, json_response, State};
use super::openapi::format_rfc3339;
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The login of the app's bot account, which writes every comment the app posts.
pub const BOT: &str = "flext-quality[bot]";
/// GitHub's limit on a comment body, in characters.
pub const MAX_COMMENT_CHARS: usize = 65_536;

/// A comment on an issue or pull request.
#[derive(Debug, Clone)]
pub struct IssueComment {
    pub id: u64,
    pub owner: String,
    pub repo: String,
    pub issue_number: u64,
    pub user: String,
    pub body: String,
    pub created_at: String,
    pub updated_at: String,
    /// 1 when posted, one more for every edit.
    pub revision: u64,
}

impl IssueComment {
    pub(crate) fn is_on(&self, owner: &str, repo: &str, issue: u64) -> bool {
        self.owner.eq_ignore_ascii_case(owner)
            && self.repo.eq_ignore_ascii_case(repo)
            && self.issue_number == issue
    }

    pub fn by_bot(&self) -> bool {
        self.user == BOT
    }
}

/// What the conversation endpoints keep.
#[derive(Default)]
pub(crate) struct Conversation {
    pub(crate) comments: std::collections::BTreeMap<u64, IssueComment>,
    pub(crate) next_comment_id: u64,
    /// Comment id → the revision an assertion consumed.
    pub(crate) consumed: HashMap<u64, u64>,
    /// (lower-case `owner/repo`, lower-case login) → permission.
    pub(crate) permissions: HashMap<(String, String), String>,
    /// (lower-case `owner/repo`, number) → the pull request's head and base.
    pub(crate) pulls: HashMap<(String, u64), Pull>,
}

/// A pull request as the fake knows it.
#[derive(Debug, Clone)]
pub struct Pull {
    pub head: String,
    pub base_ref: String,
    pub base: String,
}

impl Conversation {
    pub(crate) fn insert(
        &mut self,
        owner: &str,
        repo: &str,
        issue: u64,
        user: &str,
        body: &str,
    ) -> u64 {
        self.next_comment_id = self.next_comment_id.max(9_000_000_001);
        let id = self.next_comment_id;
        self.next_comment_id += 1;
        let now = format_rfc3339(unix_now());
        self.comments.insert(
            id,
            IssueComment {
                id,
                owner: owner.to_string(),
                repo: repo.to_string(),
                issue_number: issue,
                user: user.to_string(),
                body: body.to_string(),
                created_at: now.clone(),
                updated_at: now,
                revision: 1,
            },
        );
        id
    }

    /// The bot's comments no assertion consumed as they are now, one line each.
    pub(crate) fn unconsumed(&self) -> Vec<String> {
        self.comments
            .values()
            .filter(|c| c.by_bot() && self.consumed.get(&c.id) != Some(&c.revision))
            .map(|c| {
                format!(
                    "comment #{} on {}/{}#{} (revision {}): {:?}",
                    c.id,
                    c.owner,
                    c.repo,
                    c.issue_number,
                    c.revision,
                    c.body.chars().take(120).collect::<String>()
                )
            })
            .collect()
    }
}

fn comment_json(c: &IssueComment, base: &str) -> Value {
    let repo_api = format!("{base}/repos/{}/{}", c.owner, c.repo);
    let bot = c.by_bot();
    json!({
        "id": c.id,
        "node_id": format!("IC_{}", c.id),
        "url": format!("{repo_api}/issues/comments/{}", c.id),
        "html_url": format!("{base}/{}/{}/pull/{}#issuecomment-{}", c.owner, c.repo, c.issue_number, c.id),
        "issue_url": format!("{repo_api}/issues/{}", c.issue_number),
        "body": c.body,
        "user": {"login": c.user, "id": if bot { 1 } else { 2 }, "type": if bot { "Bot" } else { "User" }},
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "author_association": if bot { "NONE" } else { "MEMBER" },
    })
}

/// The conversation routes; `None` for any other route.
pub(crate) fn route(
    st: &mut State,
    method: &str,
    segs: &[&str],
    q: &HashMap<String, String>,
    body: &Value,
    doc: &str,
) -> Option<Response> {
    let path = format!("/{}", segs.join("/"));
    let base = st.base_url.clone();
    let too_long = |text: &str| text.chars().count() > MAX_COMMENT_CHARS;
    let resp = match (method, segs) {
        ("POST" | "GET", ["repos", owner, repo, "issues", number, "comments"]) => {
            let Ok(number) = number.parse::<u64>() else {
                return Some(gh_error(404, "Not Found", doc));
            };
            if method == "POST" {
                let text = body["body"].as_str().unwrap_or_default();
                if too_long(text) {
                    st.violation(method, &path, "comment body over 65536 characters");
                    return Some(gh_error(
                        422,
                        "Validation Failed: body is too long (maximum is 65536 characters)",
                        doc,
                    ));
                }
                let id = st.talk.insert(owner, repo, number, BOT, text);
                return Some(json_response(
                    201,
                    &comment_json(&st.talk.comments[&id], &base),
                ));
            }
            let items = st
                .talk
                .comments
                .values()
                .filter(|c| c.is_on(owner, repo, number))
                .map(|c| comment_json(c, &base))
                .collect();
            paginate(st, &path, q, items, None)
        }
        ("GET" | "PATCH" | "DELETE", ["repos", owner, repo, "issues", "comments", id]) => {
            let id = id.parse().unwrap_or(0);
            let Some(c) = st.talk.comments.get(&id).filter(|c| {
                c.owner.eq_ignore_ascii_case(owner) && c.repo.eq_ignore_ascii_case(repo)
            }) else {
                return Some(gh_error(404, "Not Found", doc));
            };
            if method != "GET" && !c.by_bot() {
                st.violation(method, &path, "an App may change only its own comments");
                return Some(gh_error(403, "Resource not accessible by integration", doc));
            }
            match method {
                "GET" => json_response(200, &comment_json(c, &base)),
                "PATCH" => {
                    let text = body["body"].as_str().unwrap_or_default().to_string();
                    if too_long(&text) {
                        st.violation(method, &path, "comment body over 65536 characters");
                        return Some(gh_error(
                            422,
                            "Validation Failed: body is too long (maximum is 65536 characters)",
                            doc,
                        ));
                    }
                    let c = st.talk.comments.get_mut(&id).expect("found above");
                    c.body = text;
                    c.revision += 1;
                    c.updated_at = format_rfc3339(unix_now());
                    json_response(200, &comment_json(c, &base))
                }
                _ => {
                    st.talk.comments.remove(&id);
                    axum::response::IntoResponse::into_response(axum::http::StatusCode::NO_CONTENT)
                }
            }
        }
        ("GET", ["repos", owner, repo, "pulls", number]) => {
            let key = (
                format!("{owner}/{repo}").to_lowercase(),
                number.parse().unwrap_or(0),
            );
            let Some(p) = st.talk.pulls.get(&key) else {
                return Some(gh_error(404, "Not Found", doc));
            };
            json_response(
                200,
                &json!({
                    "number": key.1,
                    "state": "open",
                    "head": {"sha": p.head, "ref": "feature"},
                    "base": {"sha": p.base, "ref": p.base_ref},
                }),
            )
        }
        ("GET", ["repos", owner, repo, "collaborators", user, "permission"]) => {
            let key = (
                format!("{owner}/{repo}").to_lowercase(),
                user.to_lowercase(),
            );
            let permission = st
                .talk
                .permissions
                .get(&key)
                .cloned()
                .unwrap_or_else(|| "none".into());
            let role = match permission.as_str() {
                "admin" => "admin",
                "maintain" => "maintain",
                "write" => "write",
                "triage" => "triage",
                "read" => "read",
                _ => "none",
            };
            json_response(
                200,
                &json!({
                    "permission": permission,
                    "role_name": role,
                    "user": {"login": user, "id": 2, "type": "User"},
                }),
            )
        }
        _ => return None,
    };
    Some(resp)
}
