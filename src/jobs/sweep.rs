//! The sweep that leaves no check run stuck: any analysis of ours still queued or running past
//! its job's deadline, with no worker holding a live lease on it (every worker that touched it
//! died, or its job ended without ending the analysis), is given up as `timed_out` with the
//! reason — its check run is then completed through the outbox like any other.
//!
//! Every worker sweeps when it starts and then every [`SWEEP_EVERY`] while it runs, so a server
//! killed mid-analysis and restarted ends with every check run completed.

use super::JobContext;
use anyhow::Result;
use std::time::Duration;

/// How often a worker sweeps.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Gives up every stuck analysis; how many.
pub async fn sweep(cx: &JobContext) -> Result<usize> {
    let stuck = cx.store.stuck_analyses(crate::store::now_ms()).await?;
    for s in &stuck {
        let reason = format!(
            "the analysis did not finish within its deadline of {} s and no worker is running it any more (FLEXT_QUALITY_JOB_DEADLINE_SECS)",
            cx.job_deadline.as_secs()
        );
        tracing::warn!(analysis = s.analysis_id, job = ?s.job_id, %reason, "sweeping a stuck analysis");
        if let Some(job) = s.job_id {
            cx.store.end_stuck_job(job, &reason).await?;
        }
        super::analyse::give_up(cx, s.analysis_id, "timed_out", &reason).await?;
    }
    Ok(stuck.len())
}
