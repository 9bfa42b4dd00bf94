//! The pull request conversation in the test DSL: the app's one comment on a pull request,
//! consumed by the assertion that reads it (as it is at that moment: a later edit must be read
//! again), and comments people write to it.

use super::dsl::{Pr, Tester};
use crate::support::IssueComment;
use std::time::{Duration, Instant};

impl Tester {
    /// The app's comments on a pull request, oldest first (listing consumes nothing).
    pub fn bot_comments(&self, pr: &Pr) -> Vec<IssueComment> {
        let repo = pr.repo();
        self.github()
            .issue_comments(&repo.owner, &repo.name, pr.number)
            .into_iter()
            .filter(IssueComment::by_bot)
            .collect()
    }

    /// Waits until the app's comment on `pr` shows the pull request's head, checks there is
    /// exactly one, and consumes it as it is now.
    pub async fn expect_pr_comment(&self, pr: &Pr) -> IssueComment {
        let started = Instant::now();
        let head = &pr.head[..12];
        loop {
            let comments = self.bot_comments(pr);
            if comments.iter().any(|c| c.body.contains(head)) {
                self.wait_idle().await;
                let comments = self.bot_comments(pr);
                assert_eq!(
                    comments.len(),
                    1,
                    "one comment per pull request: {comments:#?}"
                );
                return self
                    .github()
                    .consume_comment(comments[0].id)
                    .expect("it exists");
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no comment showing {head} on pull request #{} after 120 s: {comments:#?}",
                pr.number
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `user` writes `body` on the pull request: the comment is added to the fake GitHub and
    /// the `issue_comment` webhook sent. Returns the webhook's answer.
    pub async fn comment_on(&self, pr: &Pr, user: &str, body: &str) -> (u16, String) {
        let repo = pr.repo();
        let id = self
            .github()
            .add_issue_comment(&repo.owner, &repo.name, pr.number, user, body);
        let mut p = repo.payload("issue_comment", "created.payload.json");
        p["issue"]["number"] = pr.number.into();
        p["issue"]["pull_request"] = serde_json::json!({
            "url": format!("https://api.github.com/repos/{}/{}/pulls/{}", repo.owner, repo.name, pr.number)
        });
        p["comment"]["id"] = id.into();
        p["comment"]["body"] = body.into();
        p["comment"]["user"]["login"] = user.into();
        p["comment"]["user"]["type"] = "User".into();
        p["sender"]["login"] = user.into();
        self.webhook("issue_comment", &p).await
    }
}
