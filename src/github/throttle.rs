//! GitHub's limits, per installation: when any request of an installation meets a rate limit,
//! every request of that installation waits until the limit resets (not one request at a
//! time, which would keep hitting it), and at most one content-creating request (POST, PATCH,
//! PUT, DELETE) of an installation is in flight at once, as GitHub asks of integrations to stay
//! under its secondary limits.

use super::http::{GitHubError, MAX_RATE_LIMIT_WAIT};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

#[derive(Default)]
pub struct Throttle {
    paused_until: Mutex<HashMap<i64, (Instant, String)>>,
    writers: Mutex<HashMap<i64, Arc<Semaphore>>>,
}

impl Throttle {
    /// Waits while the installation is paused; a pause longer than a job may wait is returned
    /// as [`GitHubError::RateLimited`] (the job is then put back until the reset).
    pub async fn wait(&self, installation: i64) -> Result<(), GitHubError> {
        // Looked at again after each sleep: another request may have met a longer limit while
        // this one slept, and waking at the old time would send into the new one.
        loop {
            let until = self
                .paused_until
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&installation)
                .cloned();
            let Some((until, message)) = until else {
                return Ok(());
            };
            let wait = until.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                return Ok(());
            }
            if wait > MAX_RATE_LIMIT_WAIT {
                return Err(GitHubError::RateLimited { wait, message });
            }
            tracing::info!(
                installation,
                wait_ms = wait.as_millis() as u64,
                "installation paused by a GitHub rate limit"
            );
            tokio::time::sleep_until(until).await;
        }
    }

    /// Pauses every request of the installation for `wait`.
    pub fn pause(&self, installation: i64, wait: Duration, message: &str) {
        crate::metrics::METRICS.github_rate_limit_pauses.inc();
        let until = Instant::now() + wait;
        let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        let entry = paused
            .entry(installation)
            .or_insert_with(|| (until, message.to_owned()));
        if entry.0 < until {
            *entry = (until, message.to_owned());
        }
    }

    /// The installation's one slot for a content-creating request.
    pub async fn writer(&self, installation: i64) -> OwnedSemaphorePermit {
        let semaphore = self
            .writers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(installation)
            .or_insert_with(|| Arc::new(Semaphore::new(1)))
            .clone();
        semaphore
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pause_holds_every_request_of_that_installation_only() {
        let t = Throttle::default();
        t.pause(1, Duration::from_millis(300), "limit");
        let started = Instant::now();
        t.wait(2).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "other installations go on"
        );
        t.wait(1).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300));
        t.pause(1, Duration::from_secs(3600), "long");
        assert!(matches!(
            t.wait(1).await,
            Err(GitHubError::RateLimited { .. })
        ));
    }

    #[tokio::test]
    async fn a_pause_made_longer_while_waiting_is_waited_out_in_full() {
        let t = Arc::new(Throttle::default());
        t.pause(1, Duration::from_millis(100), "short");
        let started = Instant::now();
        let waiter = {
            let t = t.clone();
            tokio::spawn(async move { t.wait(1).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        t.pause(1, Duration::from_millis(300), "longer");
        waiter.await.unwrap().unwrap();
        assert!(started.elapsed() >= Duration::from_millis(350));
    }

    #[tokio::test]
    async fn one_writer_per_installation() {
        let t = Throttle::default();
        let first = t.writer(1).await;
        let other = t.writer(2).await;
        let second = tokio::time::timeout(Duration::from_millis(50), t.writer(1)).await;
        assert!(second.is_err(), "a second writer of installation 1 waits");
        drop(first);
        let _second = t.writer(1).await;
        drop(other);
    }
}
