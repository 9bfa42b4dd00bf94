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

impl Tester {
    /// GitHub's `check_run` webhook for our latest check run on the pull request's head, with
    /// `action` (`rerequested`, or `requested_action` pressing button `identifier`).
    pub async fn check_run_event(
        &self,
        pr: &Pr,
        action: &str,
        identifier: Option<&str>,
    ) -> (u16, String) {
        let repo = pr.repo();
        let mut p = repo.payload("check_run", "rerequested.payload.json");
        p["action"] = action.into();
        let run = self
            .github()
            .check_runs_for(&pr.head)
            .into_iter()
            .last()
            .expect("a check run to act on");
        p["check_run"]["id"] = run.id.into();
        p["check_run"]["head_sha"] = pr.head.clone().into();
        p["check_run"]["app"]["id"] = super::dsl::APP_ID.into();
        p["check_run"]["check_suite"]["head_sha"] = pr.head.clone().into();
        p["check_run"]["check_suite"]["head_branch"] = "feature".into();
        p["check_run"]["check_suite"]["pull_requests"] = serde_json::json!([{
            "number": pr.number,
            "base": {"ref": "main", "sha": pr.base},
            "head": {"ref": "feature", "sha": pr.head},
        }]);
        if let Some(id) = identifier {
            p["requested_action"] = serde_json::json!({ "identifier": id });
        }
        self.webhook("check_run", &p).await
    }

    /// GitHub's `check_suite` `rerequested` webhook for the pull request's head ("Re-run all").
    pub async fn rerequest_suite(&self, pr: &Pr) -> (u16, String) {
        let repo = pr.repo();
        let mut p = repo.payload("check_suite", "rerequested.payload.json");
        p["check_suite"]["head_sha"] = pr.head.clone().into();
        p["check_suite"]["head_branch"] = "feature".into();
        p["check_suite"]["app"]["id"] = super::dsl::APP_ID.into();
        p["check_suite"]["pull_requests"] = serde_json::json!([{
            "number": pr.number,
            "base": {"ref": "main", "sha": pr.base},
            "head": {"ref": "feature", "sha": pr.head},
        }]);
        self.webhook("check_suite", &p).await
    }
}
