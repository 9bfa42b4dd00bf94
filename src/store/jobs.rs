//! The durable job queue: jobs are claimed with a lease (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL), the lease is renewed while a worker works, a job whose lease expired (its
//! worker died) is claimed again by another worker, and attempts are counted.

use super::{now_ms, Dialect, Store};
use crate::domain::status::{JobKind, JobState};
use anyhow::{Context, Result};
use sqlx::AnyConnection;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClaimedJob {
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub kind: JobKind,
    pub analysis_id: Option<i64>,
    pub publish_task_id: Option<i64>,
    /// Attempts including this one.
    pub attempts: i64,
    pub max_attempts: i64,
    /// The error of the previous attempt, if any (for example an expired lease).
    pub last_error: Option<String>,
    /// When the job must be finished (Unix ms); past it, it is given up.
    pub deadline_at: Option<i64>,
    /// What a command job is for (JSON of [`crate::domain::events::Command`]).
    pub payload: Option<String>,
    /// The trace this job continues (`00-<trace id>-<parent span id>-01`).
    pub traceparent: Option<String>,
    /// True when this claim took over a job whose previous worker stopped renewing its lease.
    #[sqlx(skip)]
    pub lease_was_expired: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobRow {
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub kind: JobKind,
    #[sqlx(try_from = "String")]
    pub state: JobState,
    pub analysis_id: Option<i64>,
    pub publish_task_id: Option<i64>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub run_after: i64,
    pub deadline_at: Option<i64>,
}

#[cfg_attr(not(feature = "test-support"), allow(dead_code))]
pub(super) const JOB_COLUMNS: &str =
    "id, kind, state, analysis_id, publish_task_id, attempts, last_error, run_after, deadline_at";

/// Takes the next runnable job: queued and due, or running under an expired lease (its worker
/// died). PostgreSQL skips rows other claimers hold; SQLite has a single writer, so the
/// sub-select and the update cannot interleave with another claim there.
fn claim_sql(dialect: Dialect) -> String {
    let lock = match dialect {
        Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    format!(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1,
                lease_expires_at = $2, updated_at = $3
         WHERE id = (
             SELECT id FROM jobs
             WHERE (state = 'queued' AND run_after <= $3) OR (state = 'running' AND lease_expires_at < $3)
             ORDER BY run_after, id
             LIMIT 1
             {lock})
         RETURNING id, kind, analysis_id, publish_task_id, attempts, max_attempts, last_error, deadline_at,
           payload, traceparent"
    )
}

impl super::Store {
    /// Queues a command job on its own; its id.
    pub async fn enqueue_command(
        &self,
        command: &crate::domain::events::Command,
        limits: super::JobLimits,
    ) -> Result<i64> {
        let mut conn = self.pool.acquire().await?;
        insert_command_job(&mut conn, command, limits, super::now_ms()).await
    }
}

/// Queues a command job (inside the caller's transaction).
pub(super) async fn insert_command_job(
    conn: &mut AnyConnection,
    command: &crate::domain::events::Command,
    limits: super::JobLimits,
    now: i64,
) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO jobs (kind, state, attempts, max_attempts, run_after, deadline_at, payload,
           traceparent, created_at, updated_at)
         VALUES ($1, 'queued', 0, $2, $3, $4, $5, $6, $3, $3) RETURNING id",
    )
    .bind(JobKind::Command.as_str())
    .bind(limits.max_attempts)
    .bind(now)
    .bind(now + limits.deadline_ms)
    .bind(serde_json::to_string(command)?)
    .bind(crate::telemetry::current_traceparent())
    .fetch_one(conn)
    .await
    .context("enqueueing a command")?;
    Ok(id)
}

/// Queues a job (inside the caller's transaction).
pub(super) async fn insert_job(
    conn: &mut AnyConnection,
    kind: JobKind,
    analysis_id: Option<i64>,
    publish_task_id: Option<i64>,
    max_attempts: i64,
    now: i64,
    deadline_at: Option<i64>,
) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO jobs (kind, analysis_id, publish_task_id, state, attempts, max_attempts, run_after,
           deadline_at, traceparent, created_at, updated_at)
         VALUES ($1, $2, $3, 'queued', 0, $4, $5, $6, $7, $5, $5) RETURNING id",
    )
    .bind(kind.as_str())
    .bind(analysis_id)
    .bind(publish_task_id)
    .bind(max_attempts)
    .bind(now)
    .bind(deadline_at)
    .bind(crate::telemetry::current_traceparent())
    .fetch_one(conn)
    .await
    .context("enqueueing job")?;
    Ok(id)
}

impl Store {
    /// Claims the next runnable job for `owner`, leasing it for `lease_ms`.
    pub async fn claim_job(&self, owner: &str, lease_ms: i64) -> Result<Option<ClaimedJob>> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        // Read which jobs were running under an expired lease: the claim overwrites that.
        let expired_before: Vec<(i64,)> =
            sqlx::query_as("SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at < $1")
                .bind(now)
                .fetch_all(&mut *tx)
                .await?;
        let claimed: Option<ClaimedJob> = sqlx::query_as(&claim_sql(self.dialect))
            .bind(owner)
            .bind(now + lease_ms)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .context("claiming a job")?;
        tx.commit().await?;
        Ok(claimed.map(|mut job| {
            job.lease_was_expired = expired_before.iter().any(|(id,)| *id == job.id);
            job
        }))
    }

    /// Extends the lease; false when the job is no longer ours (another worker took it over).
    pub async fn renew_lease(&self, job_id: i64, owner: &str, lease_ms: i64) -> Result<bool> {
        let now = now_ms();
        let n = sqlx::query(
            "UPDATE jobs SET lease_expires_at = $3, updated_at = $4
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(job_id)
        .bind(owner)
        .bind(now + lease_ms)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("renewing lease")?
        .rows_affected();
        Ok(n == 1)
    }

    pub async fn complete_job(&self, job_id: i64, owner: &str) -> Result<bool> {
        self.finish_job(job_id, owner, JobState::Done, None, None)
            .await
    }

    /// Gives up on a job: no more attempts.
    pub async fn fail_job(&self, job_id: i64, owner: &str, error: &str) -> Result<bool> {
        self.finish_job(job_id, owner, JobState::Failed, Some(error), None)
            .await
    }

    /// Puts a job back in the queue to run again no earlier than `run_after`.
    pub async fn retry_job(
        &self,
        job_id: i64,
        owner: &str,
        error: &str,
        run_after: i64,
    ) -> Result<bool> {
        self.finish_job(
            job_id,
            owner,
            JobState::Queued,
            Some(error),
            Some(run_after),
        )
        .await
    }

    /// A job's state now (a worker that lost its lease asks whether it was cancelled).
    pub async fn get_job_state(&self, job_id: i64) -> Result<Option<JobState>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT state FROM jobs WHERE id = $1")
            .bind(job_id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a job's state")?;
        row.map(|(s,)| s.parse().map_err(anyhow::Error::msg))
            .transpose()
    }

    /// Puts a job back to run after `run_after` without counting this attempt: the service it
    /// talks to asked us to wait (a rate limit), which says nothing about the job.
    pub async fn postpone_job(
        &self,
        job_id: i64,
        owner: &str,
        reason: &str,
        run_after: i64,
    ) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = attempts - 1, last_error = $3,
               run_after = $4, lease_owner = NULL, lease_expires_at = NULL, updated_at = $5
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(job_id)
        .bind(owner)
        .bind(reason)
        .bind(run_after)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .with_context(|| format!("postponing job {job_id}"))?
        .rows_affected();
        Ok(n == 1)
    }

    async fn finish_job(
        &self,
        job_id: i64,
        owner: &str,
        state: JobState,
        error: Option<&str>,
        run_after: Option<i64>,
    ) -> Result<bool> {
        let now = now_ms();
        let n = sqlx::query(
            "UPDATE jobs SET state = $3, last_error = COALESCE($4, last_error),
               run_after = COALESCE($5, run_after), lease_owner = NULL, lease_expires_at = NULL,
               updated_at = $6
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(job_id)
        .bind(owner)
        .bind(state.as_str())
        .bind(error)
        .bind(run_after)
        .bind(now)
        .execute(&self.pool)
        .await
        .with_context(|| format!("marking job {job_id} {state}"))?
        .rows_affected();
        Ok(n == 1)
    }
}

/// The queue as `/metrics` shows it: per kind, how many jobs wait and when the oldest one that
/// may run now was queued (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStat {
    pub kind: String,
    pub queued: i64,
    pub oldest_runnable_at: Option<i64>,
}

impl super::Store {
    pub async fn queue_stats(&self) -> Result<Vec<QueueStat>> {
        let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT kind, COUNT(*), MIN(CASE WHEN run_after <= $1 THEN created_at END)
             FROM jobs WHERE state = 'queued' GROUP BY kind",
        )
        .bind(super::now_ms())
        .fetch_all(&self.pool)
        .await
        .context("reading the queue's size")?;
        Ok(rows
            .into_iter()
            .map(|(kind, queued, oldest_runnable_at)| QueueStat {
                kind,
                queued,
                oldest_runnable_at,
            })
            .collect())
    }
}
