//! A worker: claims a job, keeps its lease alive while the pipeline runs, and records the
//! outcome — done, retried with back-off, or given up with the check run completed.

use super::pipeline::PipelineContext;
use crate::store::ClaimedJob;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

pub struct WorkerConfig {
    pub name: String,
    pub lease: Duration,
    /// How long to sleep when the queue is empty (a notification wakes the worker sooner).
    pub idle_poll: Duration,
}

/// Back-off before attempt `attempts + 1`: 10 s, 40 s, 160 s … capped at 15 minutes.
pub fn backoff(attempts: i64) -> Duration {
    let secs =
        10u64.saturating_mul(4u64.saturating_pow(attempts.saturating_sub(1).clamp(0, 10) as u32));
    Duration::from_secs(secs.min(900))
}

/// Runs jobs until `shutdown` fires.
pub async fn run_worker(
    ctx: Arc<PipelineContext>,
    config: WorkerConfig,
    notify: Arc<tokio::sync::Notify>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let lease_ms = config.lease.as_millis() as i64;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let claimed = match ctx.store.claim_job(&config.name, lease_ms).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(worker = %config.name, error = %format!("{e:#}"), "cannot claim a job");
                None
            }
        };
        let Some(job) = claimed else {
            tokio::select! {
                _ = notify.notified() => {}
                _ = tokio::time::sleep(config.idle_poll) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        };
        let span = tracing::info_span!("job", job = job.id, analysis = job.analysis_id, attempt = job.attempts,
            worker = %config.name, repo = tracing::field::Empty, sha = tracing::field::Empty);
        process(&ctx, &config, job).instrument(span).await;
    }
}

async fn process(ctx: &PipelineContext, config: &WorkerConfig, job: ClaimedJob) {
    let owner = config.name.as_str();
    let lease_ms = config.lease.as_millis() as i64;
    let Some(analysis_id) = job.analysis_id else {
        let _ = ctx
            .store
            .fail_job(job.id, owner, "job has no analysis")
            .await;
        return;
    };
    if job.attempts > job.max_attempts {
        // The previous attempt's worker died (its lease expired) and it was the last one.
        let reason = format!(
            "the analysis did not finish within {} attempts (the last worker stopped responding)",
            job.max_attempts
        );
        tracing::warn!(%reason, "giving up");
        if let Err(e) = ctx.give_up(analysis_id, "timed_out", &reason).await {
            tracing::error!(error = %format!("{e:#}"), "could not complete the check run");
        }
        let _ = ctx.store.fail_job(job.id, owner, &reason).await;
        return;
    }
    if job.lease_was_expired {
        tracing::warn!("taking over a job whose worker stopped renewing its lease");
    }

    // Renew the lease at a third of its length; stop the work if the lease is lost.
    let (lost_tx, mut lost_rx) = tokio::sync::oneshot::channel::<()>();
    let heartbeat = {
        let store = ctx.store.clone();
        let owner = owner.to_owned();
        let job_id = job.id;
        tokio::spawn(async move {
            let mut lost_tx = Some(lost_tx);
            loop {
                tokio::time::sleep(Duration::from_millis((lease_ms / 3).max(100) as u64)).await;
                match store.renew_lease(job_id, &owner, lease_ms).await {
                    Ok(true) => {}
                    Ok(false) => {
                        if let Some(tx) = lost_tx.take() {
                            let _ = tx.send(());
                        }
                        return;
                    }
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "lease renewal failed"),
                }
            }
        })
    };
    let work = async {
        ctx.start_check_run(analysis_id).await?;
        ctx.run(analysis_id).await
    };
    // Past its deadline a job stops: its tools are killed (dropping the work kills their
    // jails), the lease is no longer renewed, and the check run says so.
    let deadline = ctx.job_deadline;
    let result = tokio::select! {
        r = tokio::time::timeout(deadline, work) => Some(r),
        _ = &mut lost_rx => None,
    };
    heartbeat.abort();
    match result {
        None => tracing::warn!("lease lost to another worker; abandoning this attempt"),
        Some(Err(_)) => {
            let reason = format!(
                "the analysis did not finish within its deadline of {} s (FLEXT_QUALITY_JOB_DEADLINE_SECS)",
                deadline.as_secs()
            );
            tracing::error!(%reason, "job deadline passed");
            if let Err(e) = ctx.give_up(analysis_id, "timed_out", &reason).await {
                tracing::error!(error = %format!("{e:#}"), "could not complete the check run");
            }
            let _ = ctx.store.fail_job(job.id, owner, &reason).await;
        }
        Some(Ok(Ok(()))) => {
            if let Err(e) = ctx.store.complete_job(job.id, owner).await {
                tracing::error!(error = %format!("{e:#}"), "could not mark job done");
            }
        }
        Some(Ok(Err(e))) => {
            let reason = format!("{e:#}");
            let permanent = e.chain().any(|c| c.is::<super::Permanent>());
            if permanent || job.attempts >= job.max_attempts {
                if permanent {
                    tracing::error!(%reason, "analysis failed; retrying cannot help");
                } else {
                    tracing::error!(%reason, "analysis failed on its last attempt");
                }
                if let Err(e) = ctx.give_up(analysis_id, "failure", &reason).await {
                    tracing::error!(error = %format!("{e:#}"), "could not complete the check run");
                }
                let _ = ctx.store.fail_job(job.id, owner, &reason).await;
            } else {
                let wait = backoff(job.attempts);
                tracing::warn!(%reason, retry_in_s = wait.as_secs(), "analysis failed; will retry");
                let run_after = crate::store::now_ms() + wait.as_millis() as i64;
                let _ = ctx.store.retry_job(job.id, owner, &reason, run_after).await;
            }
        }
    }
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
