//! The durable job queue: jobs are claimed with a lease, the lease is renewed while a worker
//! works, and a job whose lease expired (its worker died) is claimed again by another worker.

use super::{col, now_ms, Engine, Store};
use anyhow::{Context, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: String,
    pub analysis_id: Option<i64>,
    /// Attempts including this one.
    pub attempts: i64,
    pub max_attempts: i64,
    /// The error of the previous attempt, if any (for example an expired lease).
    pub last_error: Option<String>,
    /// True when this claim took over a job whose previous worker stopped renewing its lease.
    pub lease_was_expired: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub id: i64,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub run_after: i64,
}

/// Takes the next runnable job: queued and due, or running under an expired lease (its worker
/// died). PostgreSQL skips rows other claimers hold; SQLite has a single writer, so the
/// sub-select and the update cannot interleave with another claim there.
fn claim_sql(engine: Engine) -> String {
    let lock = match engine {
        Engine::Postgres => "FOR UPDATE SKIP LOCKED",
        Engine::Sqlite => "",
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
         RETURNING id, kind, analysis_id, attempts, max_attempts, last_error, lease_expires_at"
    )
}

impl Store {
    /// Claims the next runnable job for `owner`, leasing it for `lease_ms`.
    pub async fn claim_job(&self, owner: &str, lease_ms: i64) -> Result<Option<ClaimedJob>> {
        let now = now_ms();
        // Read whether the job we are about to take was running under an expired lease; the
        // claim below overwrites that state.
        let sql = claim_sql(self.engine);
        let mut tx = self.pool.begin().await?;
        let expired_before: Vec<i64> =
            sqlx::query("SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at < $1")
                .bind(now)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| col(r, "id"))
                .collect::<Result<_>>()?;
        let row = sqlx::query(&sql)
            .bind(owner)
            .bind(now + lease_ms)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .context("claiming a job")?;
        tx.commit().await?;
        row.map(|r| {
            let id: i64 = col(&r, "id")?;
            Ok(ClaimedJob {
                id,
                kind: col(&r, "kind")?,
                analysis_id: col(&r, "analysis_id")?,
                attempts: col(&r, "attempts")?,
                max_attempts: col(&r, "max_attempts")?,
                last_error: col(&r, "last_error")?,
                lease_was_expired: expired_before.contains(&id),
            })
        })
        .transpose()
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
        self.finish_job(job_id, owner, "done", None, None).await
    }

    /// Gives up on a job: no more attempts.
    pub async fn fail_job(&self, job_id: i64, owner: &str, error: &str) -> Result<bool> {
        self.finish_job(job_id, owner, "failed", Some(error), None)
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
        self.finish_job(job_id, owner, "queued", Some(error), Some(run_after))
            .await
    }

    async fn finish_job(
        &self,
        job_id: i64,
        owner: &str,
        state: &str,
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
        .bind(state)
        .bind(error)
        .bind(run_after)
        .bind(now)
        .execute(&self.pool)
        .await
        .with_context(|| format!("marking job {job_id} {state}"))?
        .rows_affected();
        Ok(n == 1)
    }

    pub async fn get_job(&self, job_id: i64) -> Result<Option<JobRow>> {
        let row = sqlx::query(
            "SELECT id, state, attempts, last_error, run_after FROM jobs WHERE id = $1",
        )
        .bind(job_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(JobRow {
                id: col(&r, "id")?,
                state: col(&r, "state")?,
                attempts: col(&r, "attempts")?,
                last_error: col(&r, "last_error")?,
                run_after: col(&r, "run_after")?,
            })
        })
        .transpose()
    }

    /// Counts jobs by state (for tests, metrics and waiting until the queue drains).
    pub async fn count_jobs(&self, state: &str) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM jobs WHERE state = $1")
            .bind(state)
            .fetch_one(&self.pool)
            .await?;
        col(&row, "n")
    }

    /// Makes a queued job runnable now (tests use it to skip a retry back-off).
    pub async fn make_runnable_now(&self, job_id: i64) -> Result<()> {
        sqlx::query("UPDATE jobs SET run_after = $2 WHERE id = $1 AND state = 'queued'")
            .bind(job_id)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
