//! The pull request conversation's bookkeeping: the one comment per pull request (its id, the
//! newest analysis it shows, and a short lock so two publishers never post two comments), and
//! the state-change notifications sent at most once per (project, transition, commit).

use super::{now_ms, Store};
use anyhow::{Context, Result};

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
}
