//! A worker: claims a job, keeps its lease alive while the job runs, and records the outcome —
//! done, retried with back-off, or given up (an analysis's check run then says why).

use super::{analyse, backoff, command, publish, JobContext, Permanent, WaitAndRetry};
use crate::domain::status::{JobKind, JobState};
use crate::store::ClaimedJob;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

pub struct WorkerConfig {
    pub name: String,
    pub lease: Duration,
    /// How long to sleep when the queue is empty (a notification wakes the worker sooner).
    pub idle_poll: Duration,
    /// Turns true when a shutdown's grace period is over: the job in hand is dropped (its
    /// tools killed) and handed back to the queue at once, its attempt not counted.
    pub abandon: Option<tokio::sync::watch::Receiver<bool>>,
}

/// Resolves when `abandon` turns true (never, without one).
async fn abandoned(abandon: Option<tokio::sync::watch::Receiver<bool>>) {
    match abandon {
        Some(mut rx) => {
            while !*rx.borrow_and_update() {
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// Stops the lease's heartbeat however the attempt ends, even when its future is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs jobs until `shutdown` fires.
pub async fn run_worker(
    cx: Arc<JobContext>,
    config: WorkerConfig,
    notify: Arc<tokio::sync::Notify>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let lease_ms = config.lease.as_millis() as i64;
    // Once at start (a restart after a crash finds what the dead workers left), then now and
    // then while running.
    let mut next_sweep = tokio::time::Instant::now();
    let mut next_reconcile = tokio::time::Instant::now();
    loop {
        if *shutdown.borrow() {
            return;
        }
        if !cx.reconcile_every.is_zero() && tokio::time::Instant::now() >= next_reconcile {
            next_reconcile = tokio::time::Instant::now() + cx.reconcile_every;
            // One instance a period: the lease lasts until the next one is due.
            let lease = cx.reconcile_every.as_millis() as i64;
            match cx.store.take_reconcile_lease(lease).await {
                Ok(true) => match super::reconcile::reconcile(&cx).await {
                    Ok(r) if r.redelivered > 0 => {
                        tracing::warn!(
                            looked_at = r.looked_at,
                            redelivered = r.redelivered,
                            "missed webhooks redelivered"
                        )
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), "reconciling webhook deliveries failed")
                    }
                },
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "cannot take the reconcile lease")
                }
            }
        }
        if tokio::time::Instant::now() >= next_sweep {
            next_sweep = tokio::time::Instant::now() + super::sweep::SWEEP_EVERY;
            match super::sweep::sweep(&cx).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::warn!(worker = %config.name, swept = n, "stuck analyses given up")
                }
                Err(e) => {
                    tracing::error!(worker = %config.name, error = %format!("{e:#}"), "sweep failed")
                }
            }
        }
        let claimed = match cx.store.claim_job(&config.name, lease_ms).await {
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
        // The job continues the trace of what queued it (a webhook, an earlier job).
        let (trace_id, parent) = job
            .traceparent
            .as_deref()
            .and_then(crate::telemetry::parse_traceparent)
            .map_or(
                (crate::telemetry::new_trace_id(), String::new()),
                |(t, p)| (t, p),
            );
        let span_id = crate::telemetry::new_span_id();
        let span = tracing::info_span!("job", trace_id = %trace_id, parent_span_id = %parent,
            span_id = %span_id, job = job.id, kind = job.kind.as_str(),
            analysis = job.analysis_id, task = job.publish_task_id, attempt = job.attempts,
            worker = %config.name, repo = tracing::field::Empty, sha = tracing::field::Empty,
            sink = tracing::field::Empty);
        let traceparent = crate::telemetry::traceparent(&trace_id, &span_id);
        crate::telemetry::with_traceparent(
            traceparent,
            process(&cx, &config, job).instrument(span),
        )
        .await;
    }
}

/// How long a service asked us to wait, if the error says so: a [`WaitAndRetry`], or a GitHub
/// rate limit longer than a job waits in place.
fn asked_to_wait(e: &anyhow::Error) -> Option<Duration> {
    e.chain().find_map(|c| {
        c.downcast_ref::<WaitAndRetry>()
            .map(|w| w.wait)
            .or_else(
                || match c.downcast_ref::<crate::github::http::GitHubError>() {
                    Some(crate::github::http::GitHubError::RateLimited { wait, .. }) => Some(*wait),
                    _ => None,
                },
            )
    })
}

/// What became of one attempt.
enum Attempt {
    Done,
    Failed(anyhow::Error),
    PastDeadline(Duration),
    LeaseLost,
    /// The server is stopping and its grace period ran out.
    Abandoned,
}

async fn process(cx: &JobContext, config: &WorkerConfig, job: ClaimedJob) {
    let owner = config.name.as_str();
    if job.attempts > job.max_attempts {
        // The previous attempt's worker died (its lease expired) and it was the last one.
        let reason = format!(
            "the job did not finish within {} attempts (the last worker stopped responding)",
            job.max_attempts
        );
        tracing::warn!(%reason, "giving up");
        give_up(cx, &job, "timed_out", &reason).await;
        record("failed", &config.abandon, || {
            cx.store.fail_job(job.id, owner, &reason)
        })
        .await;
        return;
    }
    if job.lease_was_expired {
        tracing::warn!("taking over a job whose worker stopped renewing its lease");
    }
    // Nothing is asked of GitHub for an installation that is suspended or gone.
    if let Ok(Some(installation)) = cx.store.job_installation(&job).await {
        match cx.store.installation_state(installation).await {
            Ok(state) => {
                if let Some(reason) = state.halted() {
                    tracing::warn!(installation, %reason, "job stopped: its installation may not be acted for");
                    if let Err(e) = cx.store.halt_job(job.id, job.analysis_id, reason).await {
                        tracing::error!(error = %format!("{e:#}"), "could not stop the job");
                    }
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "cannot read the installation's state")
            }
        }
    }
    let attempt_started = std::time::Instant::now();
    let result = attempt(cx, config, &job).await;
    let seconds = attempt_started.elapsed().as_secs_f64();
    let counted = |outcome: &str| crate::metrics::job(job.kind.as_str(), outcome, seconds);
    match result {
        Attempt::Done => {
            counted("done");
            record("done", &config.abandon, || {
                cx.store.complete_job(job.id, owner)
            })
            .await;
        }
        Attempt::PastDeadline(deadline) => {
            counted("timed_out");
            let reason = format!(
                "the analysis did not finish within its deadline of {} s (FLEXT_QUALITY_JOB_DEADLINE_SECS)",
                deadline.as_secs()
            );
            tracing::error!(%reason, "job deadline passed");
            give_up(cx, &job, "timed_out", &reason).await;
            record("failed", &config.abandon, || {
                cx.store.fail_job(job.id, owner, &reason)
            })
            .await;
        }
        Attempt::Failed(e) if e.chain().any(|c| c.is::<crate::store::Cancelled>()) => {
            counted("cancelled");
            tracing::info!("the analysis was superseded; its work is dropped");
            record("cancelled", &config.abandon, || {
                cx.store.fail_job(job.id, owner, "cancelled")
            })
            .await;
        }
        Attempt::Failed(e) if crate::store::unavailable(&e) => {
            // The database went away under the attempt: nothing is wrong with the job, so the
            // attempt is not counted (an outage must not use up its attempts and fail it).
            counted("postponed");
            let reason = format!("{e:#}");
            tracing::warn!(%reason, "the database is unavailable; the job runs again once it is back");
            let run_after = crate::store::now_ms() + DATABASE_RETRY.as_millis() as i64;
            record("postponed", &config.abandon, || {
                cx.store.postpone_job(job.id, owner, &reason, run_after)
            })
            .await;
        }
        Attempt::Abandoned => {
            counted("handed_back");
            tracing::warn!("shutting down: the job goes back to the queue for another worker");
            let reason = "the worker shut down before finishing; another worker takes it over";
            if let Err(e) = cx
                .store
                .postpone_job(job.id, owner, reason, crate::store::now_ms())
                .await
            {
                tracing::error!(error = %format!("{e:#}"), "could not hand the job back");
            }
        }
        Attempt::LeaseLost => {
            counted("lease_lost");
            // A cancelled job loses its lease at the next renewal: say which it was.
            match cx.store.get_job_state(job.id).await {
                Ok(Some(JobState::Cancelled)) => {
                    tracing::info!("cancelled (superseded); its tools were stopped")
                }
                _ => tracing::warn!("lease lost to another worker; abandoning this attempt"),
            }
        }
        Attempt::Failed(e) if asked_to_wait(&e).is_some() => {
            counted("postponed");
            let wait = asked_to_wait(&e).unwrap_or(Duration::from_secs(60));
            let reason = format!("{e:#}");
            tracing::warn!(%reason, wait_s = wait.as_secs(), "asked to wait; trying again then");
            let run_after = crate::store::now_ms() + wait.as_millis() as i64;
            record("postponed", &config.abandon, || {
                cx.store.postpone_job(job.id, owner, &reason, run_after)
            })
            .await;
        }
        Attempt::Failed(e) => {
            let reason = format!("{e:#}");
            let permanent = e.chain().any(|c| {
                c.is::<Permanent>()
                    || c.downcast_ref::<crate::github::http::GitHubError>()
                        .is_some_and(|g| g.cannot_heal())
            });
            if permanent || job.attempts >= job.max_attempts {
                counted("failed");
                if permanent {
                    tracing::error!(%reason, "job failed; retrying cannot help");
                } else {
                    tracing::error!(%reason, "job failed on its last attempt");
                }
                give_up(cx, &job, "failure", &reason).await;
                record("failed", &config.abandon, || {
                    cx.store.fail_job(job.id, owner, &reason)
                })
                .await;
            } else {
                counted("retried");
                let wait = backoff(job.attempts);
                tracing::warn!(%reason, retry_in_s = wait.as_secs(), "job failed; will retry");
                let run_after = crate::store::now_ms() + wait.as_millis() as i64;
                record("retried", &config.abandon, || {
                    cx.store.retry_job(job.id, owner, &reason, run_after)
                })
                .await;
            }
        }
    }
}

/// How long after the database went away under an attempt the job is tried again.
const DATABASE_RETRY: Duration = Duration::from_secs(5);

/// How long a worker keeps trying to record a job's outcome while the database is unavailable.
const RECORD_PATIENCE: Duration = Duration::from_secs(300);

/// Records a job's outcome (`write`), trying again while the database is unavailable: an
/// outcome left unrecorded keeps the job `running` until its lease expires, and the worker that
/// takes it over then does the work again. Gives up when the server's grace period ends.
async fn record<F, Fut>(
    outcome: &str,
    abandon: &Option<tokio::sync::watch::Receiver<bool>>,
    mut write: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let started = std::time::Instant::now();
    let mut wait = Duration::from_millis(200);
    loop {
        let e = match write().await {
            Ok(_) => return,
            Err(e) => e,
        };
        if !crate::store::unavailable(&e) || started.elapsed() > RECORD_PATIENCE {
            tracing::error!(error = %format!("{e:#}"), outcome, "could not record the job's outcome");
            return;
        }
        tracing::warn!(error = %format!("{e:#}"), outcome, retry_in_ms = wait.as_millis() as u64,
            "the database is unavailable; recording the job's outcome again");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = abandoned(abandon.clone()) => {
                tracing::error!(outcome, "shutting down with the job's outcome unrecorded; its lease runs out and another worker takes it over");
                return;
            }
        }
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

/// Runs one attempt with its lease renewed at a third of its length, stopping when the lease
/// is lost or the job's deadline passes (dropping the work kills its tools' jails).
async fn attempt(cx: &JobContext, config: &WorkerConfig, job: &ClaimedJob) -> Attempt {
    let owner = config.name.clone();
    let lease_ms = config.lease.as_millis() as i64;
    let (lost_tx, mut lost_rx) = tokio::sync::oneshot::channel::<()>();
    let _heartbeat = {
        let store = cx.store.clone();
        let job_id = job.id;
        AbortOnDrop(tokio::spawn(async move {
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
        }))
    };
    let work = async {
        match (job.kind, job.analysis_id, job.publish_task_id) {
            (JobKind::Analyse, Some(id), _) => analyse::run(cx, id).await,
            (JobKind::Publish, _, Some(task)) => {
                publish::run(cx, task, job.attempts >= job.max_attempts).await
            }
            (JobKind::Command, _, _) => command::run(cx, job.payload.as_deref()).await,
            _ => Err(Permanent(format!("job {} names nothing to do", job.id)).into()),
        }
    };
    let remaining = job
        .deadline_at
        .map(|d| Duration::from_millis((d - crate::store::now_ms()).max(0) as u64));
    let deadline = remaining.unwrap_or(Duration::MAX);
    let result = tokio::select! {
        r = tokio::time::timeout(deadline, work) => match r {
            Ok(Ok(())) => Attempt::Done,
            Ok(Err(e)) => Attempt::Failed(e),
            Err(_) => Attempt::PastDeadline(cx.job_deadline),
        },
        _ = &mut lost_rx => Attempt::LeaseLost,
        _ = abandoned(config.abandon.clone()) => Attempt::Abandoned,
    };
    result
}

/// Ends what a failed job was for: an analysis's check run says why; a publish task has
/// already recorded its failure.
async fn give_up(cx: &JobContext, job: &ClaimedJob, conclusion: &str, reason: &str) {
    if let (JobKind::Analyse, Some(id)) = (job.kind, job.analysis_id) {
        if let Err(e) = analyse::give_up(cx, id, conclusion, reason).await {
            tracing::error!(error = %format!("{e:#}"), "could not record the failed analysis");
        }
    } else {
        tracing::error!(%reason, kind = job.kind.as_str(), "job failed for good");
    }
}
