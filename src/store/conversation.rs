//! The pull request conversation's bookkeeping: the one comment per pull request (its id, the
//! newest analysis it shows, and a short lock so two publishers never post two comments), and
//! the state-change notifications sent at most once per (project, transition, commit).

use super::{now_ms, Store};
use crate::domain::gate::Verdict;
use crate::domain::notify::{BranchState, Transition};
use crate::domain::score::Grade;
use anyhow::{Context, Result};
use sqlx::AnyConnection;

/// Records that `transition` is to be told for the analysed commit, in the caller's
/// transaction; false when it was already (a re-run of the same commit tells nothing new).
pub(super) async fn record_notification(
    conn: &mut AnyConnection,
    analysis_id: i64,
    transition: Transition,
) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO notifications (project_id, sha, transition, analysis_id, state, created_at)
         SELECT project_id, sha, $2, id, 'pending', $3 FROM analyses WHERE id = $1
         ON CONFLICT (project_id, transition, sha) DO NOTHING",
    )
    .bind(analysis_id)
    .bind(transition.as_str())
    .bind(now_ms())
    .execute(&mut *conn)
    .await
    .context("recording a notification")?
    .rows_affected();
    Ok(inserted == 1)
}

/// A state change to tell, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: i64,
    pub transition: Transition,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    pub detail: Option<String>,
}

/// The comment of one pull request, held by the caller until it calls
/// [`Store::release_pr_comment`].
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PrComment {
    pub project_id: i64,
    pub pr_number: i64,
    pub comment_id: Option<i64>,
    /// The newest analysis the comment shows.
    pub analysis_id: Option<i64>,
}

impl Store {
    /// Takes the pull request's comment for `lock_ms`; `None` while another publisher holds it.
    pub async fn lock_pr_comment(
        &self,
        project_id: i64,
        pr_number: i64,
        lock_ms: i64,
    ) -> Result<Option<PrComment>> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO pr_comments (project_id, pr_number, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (project_id, pr_number) DO NOTHING",
        )
        .bind(project_id)
        .bind(pr_number)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("recording a pull request comment")?;
        // One UPDATE decides who holds it, on both engines.
        let taken = sqlx::query(
            "UPDATE pr_comments SET locked_until = $3, updated_at = $4
             WHERE project_id = $1 AND pr_number = $2
               AND (locked_until IS NULL OR locked_until < $4)",
        )
        .bind(project_id)
        .bind(pr_number)
        .bind(now + lock_ms)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        if !taken {
            return Ok(None);
        }
        Ok(Some(
            sqlx::query_as(
                "SELECT project_id, pr_number, comment_id, analysis_id FROM pr_comments
                 WHERE project_id = $1 AND pr_number = $2",
            )
            .bind(project_id)
            .bind(pr_number)
            .fetch_one(&self.pool)
            .await?,
        ))
    }

    /// Records, before the first post, that a comment may exist from now on: should the post
    /// succeed unrecorded, the next publisher looks for it instead of posting a second.
    pub async fn note_pr_comment_attempt(
        &self,
        project_id: i64,
        pr_number: i64,
        analysis_id: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE pr_comments SET analysis_id = $3, updated_at = $4
             WHERE project_id = $1 AND pr_number = $2 AND analysis_id IS NULL",
        )
        .bind(project_id)
        .bind(pr_number)
        .bind(analysis_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .context("recording a comment attempt")?;
        Ok(())
    }

    /// Records what the comment now shows (or forgets a comment that is gone, with `None`) and
    /// lets the next publisher take it.
    pub async fn release_pr_comment(
        &self,
        project_id: i64,
        pr_number: i64,
        comment_id: Option<i64>,
        analysis_id: Option<i64>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE pr_comments SET comment_id = $3, analysis_id = $4, locked_until = NULL,
               updated_at = $5
             WHERE project_id = $1 AND pr_number = $2",
        )
        .bind(project_id)
        .bind(pr_number)
        .bind(comment_id)
        .bind(analysis_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .context("recording the pull request comment")?;
        Ok(())
    }

    /// The branch's state as last published for `sha` (not a base analysed only to compare
    /// with): what a push is compared with to tell a change of state.
    pub async fn branch_state(&self, project_id: i64, sha: &str) -> Result<Option<BranchState>> {
        let row: Option<(Option<String>, Option<String>, Option<f64>)> = sqlx::query_as(
            "SELECT verdict, grade, score FROM analyses
             WHERE project_id = $1 AND sha = $2 AND status = 'completed' AND trigger <> 'base'
               AND pr_number IS NULL
             ORDER BY completed_at DESC, id DESC LIMIT 1",
        )
        .bind(project_id)
        .bind(sha)
        .fetch_optional(&self.pool)
        .await
        .context("reading a branch state")?;
        let Some((Some(verdict), grade, score)) = row else {
            return Ok(None);
        };
        let verdict = match verdict.as_str() {
            "success" => Verdict::Success,
            "failure" => Verdict::Failure,
            _ => Verdict::Neutral,
        };
        Ok(Some(BranchState {
            verdict,
            grade: grade.and_then(|g| g.parse::<Grade>().ok()),
            score,
        }))
    }

    /// The state change an analysis is to tell, if any.
    pub async fn notification_of(&self, analysis_id: i64) -> Result<Option<Notification>> {
        let row: Option<(i64, String, String, Option<String>)> = sqlx::query_as(
            "SELECT id, transition, state, detail FROM notifications WHERE analysis_id = $1
             ORDER BY id DESC LIMIT 1",
        )
        .bind(analysis_id)
        .fetch_optional(&self.pool)
        .await
        .context("reading a notification")?;
        Ok(row.and_then(|(id, t, state, detail)| {
            Some(Notification {
                id,
                transition: Transition::parse(&t)?,
                state,
                detail,
            })
        }))
    }

    /// Records how telling ended: `sent`, or `failed` with Slack's reason.
    pub async fn finish_notification(
        &self,
        id: i64,
        sent: bool,
        detail: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE notifications SET state = $2, detail = $3, sent_at = $4 WHERE id = $1")
            .bind(id)
            .bind(if sent { "sent" } else { "failed" })
            .bind(detail)
            .bind(sent.then(now_ms))
            .execute(&self.pool)
            .await
            .context("recording a notification")?;
        Ok(())
    }
}
