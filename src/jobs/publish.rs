//! A publish job: runs one outbox task — one saved analysis to one sink — and records the
//! attempt on the task. A failure here retries only the publishing, never the analysis.

use super::{JobContext, Permanent, WaitAndRetry};
use crate::domain::status::PublishState;
use crate::publish::{publisher, Outcome, PublishError};
use anyhow::{anyhow, Result};

/// Publishes task `task_id`; `last_attempt` says whether a failure is final.
pub async fn run(cx: &JobContext, task_id: i64, last_attempt: bool) -> Result<()> {
    let task = cx
        .store
        .get_publish_task(task_id)
        .await?
        .ok_or_else(|| anyhow!("publish task {task_id} does not exist"))?;
    let outcome = Outcome::load(&cx.store, task.analysis_id).await?;
    let span = tracing::Span::current();
    span.record("repo", outcome.project.full_name.as_str());
    span.record("sha", outcome.analysis.sha.as_str());
    span.record("sink", task.sink.as_str());
    match publisher(task.sink)
        .publish(&cx.publish, &task, &outcome)
        .await
    {
        Ok(()) => {
            cx.store
                .finish_publish_attempt(task.id, PublishState::Done, None)
                .await?;
            tracing::info!(sink = task.sink.as_str(), "published");
            Ok(())
        }
        Err(PublishError::Permanent(why)) => {
            cx.store
                .finish_publish_attempt(task.id, PublishState::Failed, Some(&why))
                .await?;
            Err(Permanent(why).into())
        }
        Err(PublishError::WaitAndRetry(wait, reason)) => {
            cx.store
                .finish_publish_attempt(task.id, PublishState::Pending, Some(&reason))
                .await?;
            Err(WaitAndRetry { wait, reason }.into())
        }
        Err(PublishError::Retry(e)) => {
            let state = if last_attempt {
                PublishState::Failed
            } else {
                PublishState::Pending
            };
            cx.store
                .finish_publish_attempt(task.id, state, Some(&format!("{e:#}")))
                .await?;
            Err(e)
        }
    }
}
