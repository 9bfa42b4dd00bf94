//! Workers take jobs from the database queue: an analysis job runs the pipeline's stages
//! (`analyse.rs`), a publish job runs one outbox task (`publish.rs`).

pub mod analyse;
pub mod command;
pub mod publish;
pub mod reconcile;
pub mod sweep;
pub mod worker;

use crate::analysis::engine::Engine;
use crate::config::Policy;
use crate::git::checkout::{Mirrors, TreeLimits};
use crate::github::app::GitHubApp;
use crate::publish::PublishContext;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// What every job needs, shared by the workers of one process.
pub struct JobContext {
    pub store: Store,
    pub github: Option<Arc<GitHubApp>>,
    pub mirrors: Arc<Mirrors>,
    pub engine: Engine,
    /// The server policy from `FLEXT_QUALITY_POLICY_FILE`; one set through the API or the
    /// dashboard (kept in the database) takes its place.
    pub policy: Policy,
    pub max_annotations: usize,
    /// Largest tree (bytes, entries) a commit may have to be analysed.
    pub tree_limits: TreeLimits,
    /// Attempts a publish task gets.
    pub max_attempts: i64,
    /// An analysis job's whole allowance, for what the check run says when it is exceeded.
    pub job_deadline: Duration,
    pub publish: PublishContext,
    /// How often missed webhook deliveries are looked for (zero: never).
    pub reconcile_every: Duration,
    /// One fetch at a time per mirror within this process.
    pub mirror_locks: tokio::sync::Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl JobContext {
    /// The server policy in force now: the one set through the app, else the file's.
    pub async fn policy(&self) -> anyhow::Result<Policy> {
        Ok(crate::config::policy_in_force(&self.store, &self.policy)
            .await?
            .0)
    }

    pub async fn mirror_lock(&self, repo_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        self.mirror_locks
            .lock()
            .await
            .entry(repo_id)
            .or_default()
            .clone()
    }
}

/// An error no retry can fix — a setting that is missing, a clone URL we will not send a token
/// to, a tree over the size limit: the job gives up at once and the check run says why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Permanent(pub String);

/// A service asked us to wait this long before trying again (Slack's `Retry-After`, a
/// GitHub rate limit longer than a request may wait): the job is put back without counting
/// the attempt.
#[derive(Debug, thiserror::Error)]
#[error("asked to wait {} s: {reason}", .wait.as_secs())]
pub struct WaitAndRetry {
    pub wait: Duration,
    pub reason: String,
}

/// Back-off before attempt `attempts + 1`: 10 s, 40 s, 160 s … capped at 15 minutes.
pub fn backoff(attempts: i64) -> Duration {
    let secs =
        10u64.saturating_mul(4u64.saturating_pow(attempts.saturating_sub(1).clamp(0, 10) as u32));
    Duration::from_secs(secs.min(900))
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(2), Duration::from_secs(40));
        assert_eq!(backoff(3), Duration::from_secs(160));
        assert_eq!(backoff(50), Duration::from_secs(900));
    }
}
