//! What a webhook delivery writes: the delivery record, installation and project bookkeeping,
//! and the analysis job — all in one transaction, so an accepted delivery is never lost and a
//! redelivery never analyses twice. Whether to create, reuse or queue again an analysis is
//! decided by [`crate::domain::enqueue::decide`]; this module only carries it out.

use super::{jobs::insert_job, lifecycle, now_ms, projects, Store};
use crate::domain::enqueue::{self, Decision};
use crate::domain::events::{AnalysisRequest, Command, Event, Project};
use crate::domain::status::{AnalysisStatus, DeliveryOutcome, JobKind};
use anyhow::{Context, Result};
use sqlx::AnyConnection;
use std::collections::{HashMap, HashSet};
use tracing::Instrument;

/// What accepting a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// The delivery id was seen before: nothing was done.
    Duplicate,
    /// A new analysis job was enqueued.
    Enqueued { job_id: i64, analysis_id: i64 },
    /// The commit already has (or is getting) an analysis; it is reused.
    Reused { analysis_id: i64 },
    /// Recorded (and bookkeeping applied) but no analysis needed.
    Recorded,
    /// A command job was queued (it checks who asked before doing anything).
    Command { job_id: i64 },
}

impl Accepted {
    /// What the delivery led to, as recorded (and counted in `/metrics`).
    pub fn outcome(self) -> DeliveryOutcome {
        match self {
            Accepted::Duplicate => DeliveryOutcome::Duplicate,
            Accepted::Enqueued { .. } => DeliveryOutcome::Enqueued,
            Accepted::Reused { .. } => DeliveryOutcome::Reused,
            Accepted::Recorded => DeliveryOutcome::Recorded,
            Accepted::Command { .. } => DeliveryOutcome::Enqueued,
        }
    }
}

/// How analysis jobs are queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobLimits {
    pub max_attempts: i64,
    /// How long after it is queued a job may run at most, in milliseconds.
    pub deadline_ms: i64,
}

/// A verified delivery on its way into the database, with what the job it may enqueue carries
/// along (the webhook's trace and log span).
#[derive(Debug, Clone)]
pub struct IncomingDelivery {
    pub delivery_id: String,
    pub event_name: String,
    pub action: Option<String>,
    pub event: Event,
    pub limits: JobLimits,
    /// The trace a job it enqueues continues.
    pub traceparent: Option<String>,
}

/// Rows one statement writes at most: 5 parameters a row stays far below either engine's
/// limit on parameters (SQLite's 32,766, PostgreSQL's 65,535).
pub(super) const MAX_BATCH: usize = 256;

impl Store {
    /// Records a delivery and applies what it asks for, durably before it returns. Deliveries
    /// that arrive together are written in one transaction (the store's group commit).
    pub async fn accept_delivery(
        &self,
        delivery_id: &str,
        event_name: &str,
        action: Option<&str>,
        event: &Event,
        limits: JobLimits,
    ) -> Result<Accepted> {
        self.ingress
            .accept(
                self,
                IncomingDelivery {
                    delivery_id: delivery_id.to_owned(),
                    event_name: event_name.to_owned(),
                    action: action.map(str::to_owned),
                    event: event.clone(),
                    limits,
                    traceparent: crate::telemetry::current_traceparent(),
                },
            )
            .await
    }

    /// Records `batch` in one transaction, in order, as if each had been accepted alone one
    /// after another: a delivery id seen before, or earlier in the batch, is a duplicate and does
    /// nothing. All or nothing: on an error nothing of the batch is written.
    pub async fn accept_deliveries(&self, batch: &[IncomingDelivery]) -> Result<Vec<Accepted>> {
        self.accept_batch(batch, &[]).await
    }

    /// [`Store::accept_deliveries`]; what is logged while applying `batch[i]` goes to
    /// `spans[i]` (the webhook's), when given.
    pub(super) async fn accept_batch(
        &self,
        batch: &[IncomingDelivery],
        spans: &[tracing::Span],
    ) -> Result<Vec<Accepted>> {
        let mut results = vec![Accepted::Duplicate; batch.len()];
        if batch.is_empty() {
            return Ok(results);
        }
        anyhow::ensure!(
            batch.len() <= MAX_BATCH,
            "at most {MAX_BATCH} deliveries are recorded at once"
        );
        let now = now_ms();
        let mut seen = HashSet::new();
        let firsts: Vec<&IncomingDelivery> = batch
            .iter()
            .filter(|d| seen.insert(d.delivery_id.as_str()))
            .collect();
        let mut tx = self.pool.begin().await.context("starting transaction")?;
        let new = record_pending(&mut tx, &firsts, now).await?;
        let mut memo = BatchMemo::default();
        let mut outcomes = Vec::with_capacity(new.len());
        let mut done = HashSet::new();
        for (i, d) in batch.iter().enumerate() {
            if !new.contains(d.delivery_id.as_str()) || !done.insert(d.delivery_id.as_str()) {
                continue;
            }
            let span = spans.get(i).cloned().unwrap_or_else(tracing::Span::current);
            let work = apply(&mut tx, &d.event, now, d.limits, &mut memo).instrument(span);
            let accepted = match &d.traceparent {
                Some(tp) => crate::telemetry::with_traceparent(tp.clone(), work).await,
                None => work.await,
            }
            .with_context(|| format!("applying delivery {}", d.delivery_id))?;
            results[i] = accepted;
            outcomes.push((d.delivery_id.as_str(), accepted));
        }
        record_outcomes(&mut tx, &outcomes).await?;
        tx.commit().await.context("committing deliveries")?;
        Ok(results)
    }
}

/// Inserts the deliveries as pending, in one statement; the ids that were new (the others
/// were recorded before, maybe by another instance that is recording them now: this waits for
/// its commit).
async fn record_pending(
    conn: &mut AnyConnection,
    deliveries: &[&IncomingDelivery],
    now: i64,
) -> Result<HashSet<String>> {
    let rows: Vec<String> = (0..deliveries.len())
        .map(|i| {
            let p = i * 5;
            format!(
                "(${}, ${}, ${}, ${}, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO deliveries (delivery_id, event, action, outcome, received_at)
         VALUES {} ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id",
        rows.join(", ")
    );
    let mut query = sqlx::query_as::<_, (String,)>(&sql);
    for d in deliveries {
        query = query
            .bind(&d.delivery_id)
            .bind(&d.event_name)
            .bind(&d.action)
            .bind(DeliveryOutcome::Pending.as_str())
            .bind(now);
    }
    let inserted = query
        .fetch_all(conn)
        .await
        .context("recording deliveries")?;
    Ok(inserted.into_iter().map(|(id,)| id).collect())
}

/// Sets what each new delivery led to, in one statement.
async fn record_outcomes(conn: &mut AnyConnection, outcomes: &[(&str, Accepted)]) -> Result<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..outcomes.len())
        .map(|i| {
            let p = i * 3;
            format!(
                "(CAST(${} AS TEXT), CAST(${} AS TEXT), CAST(${} AS BIGINT))",
                p + 1,
                p + 2,
                p + 3
            )
        })
        .collect();
    // VALUES names its columns column1, column2, … on both engines.
    let sql = format!(
        "UPDATE deliveries SET outcome = v.column2, job_id = v.column3
         FROM (VALUES {}) AS v WHERE deliveries.delivery_id = v.column1",
        rows.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for (id, accepted) in outcomes {
        let job_id = match accepted {
            Accepted::Enqueued { job_id, .. } => Some(*job_id),
            _ => None,
        };
        query = query
            .bind(*id)
            .bind(accepted.outcome().as_str())
            .bind(job_id);
    }
    query
        .execute(conn)
        .await
        .context("updating delivery outcomes")?;
    Ok(())
}

impl Store {
    /// Queues an analysis asked for by something other than a delivery (a command).
    pub async fn enqueue_analysis(
        &self,
        request: &AnalysisRequest,
        limits: JobLimits,
    ) -> Result<Accepted> {
        let mut tx = self.pool.begin().await?;
        let accepted = enqueue_analysis(
            &mut tx,
            request,
            now_ms(),
            limits,
            &mut BatchMemo::default(),
        )
        .await?;
        tx.commit()
            .await
            .context("committing the queued analysis")?;
        Ok(accepted)
    }
}

/// What the current transaction has already written, so that deliveries later in the same
/// batch skip statements whose answer it knows: the same project saved again unchanged, the
/// same commit asked for again. Only the events that change nothing else it remembers keep it.
#[derive(Default)]
pub(super) struct BatchMemo {
    /// Projects as this transaction saved them.
    projects: HashMap<i64, Project>,
    /// Per project, the commit this transaction last handled and its analysis as it left it.
    analyses: HashMap<i64, KnownAnalysis>,
}

struct KnownAnalysis {
    sha: String,
    id: i64,
    state: enqueue::Existing,
    /// Pull requests whose older heads this transaction cancelled for this commit.
    superseded: Vec<i64>,
}

impl BatchMemo {
    async fn save_project(&mut self, conn: &mut AnyConnection, p: &Project) -> Result<()> {
        if self.projects.get(&p.id) == Some(p) {
            return Ok(());
        }
        projects::upsert_project(conn, p).await?;
        self.projects.insert(p.id, p.clone());
        Ok(())
    }

    /// Forgets everything: for events that change projects or analyses other than by saving a
    /// project or queueing an analysis.
    fn forget(&mut self) {
        self.projects.clear();
        self.analyses.clear();
    }
}

async fn apply(
    conn: &mut AnyConnection,
    event: &Event,
    now: i64,
    limits: JobLimits,
    memo: &mut BatchMemo,
) -> Result<Accepted> {
    match event {
        Event::Ignored(_) => {}
        Event::InstallationCreated {
            id,
            account_login,
            repositories,
        } => {
            projects::upsert_installation(conn, *id, account_login, now).await?;
            for p in repositories {
                memo.save_project(conn, p).await?;
            }
        }
        Event::InstallationDeleted { id } => {
            memo.forget();
            lifecycle::halt_installation(conn, *id, lifecycle::UNINSTALLED).await?;
            projects::delete_installation(conn, *id, now).await?
        }
        Event::InstallationSuspended { id, suspended } => {
            memo.forget();
            projects::suspend_installation(conn, *id, *suspended, now).await?;
            if *suspended {
                lifecycle::halt_installation(conn, *id, lifecycle::SUSPENDED).await?;
            } else {
                lifecycle::resume_installation(conn, *id, limits).await?;
            }
        }
        Event::RepositoriesAdded { repositories, .. } => {
            for p in repositories {
                memo.save_project(conn, p).await?;
            }
        }
        Event::RepositoriesRemoved {
            installation_id,
            repository_ids,
        } => {
            memo.forget();
            for repo_id in repository_ids {
                projects::detach_project(conn, *installation_id, *repo_id, now).await?;
            }
        }
        Event::ProjectRenamed(p) => memo.save_project(conn, p).await?,
        Event::Analyse(request) => return enqueue_analysis(conn, request, now, limits, memo).await,
        Event::RerunRequested {
            project,
            pr_number,
            user,
        } => {
            memo.save_project(conn, project).await?;
            let command = Command::Rerun {
                project_id: project.id,
                pr_number: *pr_number,
                user: user.clone(),
            };
            let job_id = super::jobs::insert_command_job(conn, &command, limits, now).await?;
            return Ok(Accepted::Command { job_id });
        }
    }
    Ok(Accepted::Recorded)
}

#[derive(sqlx::FromRow)]
struct ExistingRow {
    id: i64,
    #[sqlx(try_from = "String")]
    status: AnalysisStatus,
    check_run_id: Option<i64>,
    pr_number: Option<i64>,
    live_job: i64,
}

/// The commit's newest analysis and whether a job is queued or running for it.
async fn existing_analysis(
    conn: &mut AnyConnection,
    project_id: i64,
    sha: &str,
) -> Result<Option<(i64, enqueue::Existing)>> {
    let row: Option<ExistingRow> = sqlx::query_as(
        "SELECT a.id, a.status, a.check_run_id, a.pr_number,
           CAST(CASE WHEN EXISTS (SELECT 1 FROM jobs j WHERE j.analysis_id = a.id
                                  AND j.state IN ('queued', 'running'))
                THEN 1 ELSE 0 END AS BIGINT) AS live_job
         FROM analyses a WHERE a.project_id = $1 AND a.sha = $2 ORDER BY a.id DESC LIMIT 1",
    )
    .bind(project_id)
    .bind(sha)
    .fetch_optional(conn)
    .await
    .context("looking up analysis")?;
    Ok(row.map(|e| {
        (
            e.id,
            enqueue::Existing {
                status: e.status,
                live_job: e.live_job != 0,
                has_check_run: e.check_run_id.is_some(),
                has_pull_request: e.pr_number.is_some(),
            },
        )
    }))
}

async fn enqueue_analysis(
    conn: &mut AnyConnection,
    r: &AnalysisRequest,
    now: i64,
    limits: JobLimits,
    memo: &mut BatchMemo,
) -> Result<Accepted> {
    memo.save_project(&mut *conn, &r.project).await?;
    // What this transaction knows of the commit holds only while every analysis request of the
    // project since was for the same commit.
    let mut known = memo
        .analyses
        .remove(&r.project.id)
        .filter(|k| k.sha == r.sha);
    let mut superseded = known
        .as_ref()
        .map(|k| k.superseded.clone())
        .unwrap_or_default();
    if let Some(pr) = r.pr_number {
        // Cancelling the older heads once per commit is enough: nothing since has queued
        // another commit of the project.
        if !superseded.contains(&pr) {
            let cancelled =
                super::cancel::supersede(&mut *conn, r.project.id, pr, &r.sha, limits.max_attempts)
                    .await?;
            if !cancelled.is_empty() {
                tracing::info!(
                    ?cancelled,
                    pr,
                    "superseded analyses of the old head cancelled"
                );
            }
            superseded.push(pr);
        }
    }
    let existing = match known.take() {
        Some(k) => Some((k.id, k.state)),
        None => existing_analysis(&mut *conn, r.project.id, &r.sha).await?,
    };
    let decision = enqueue::decide(
        existing.as_ref().map(|(_, e)| e),
        &enqueue::Request {
            force: r.force,
            has_pull_request: r.pr_number.is_some(),
        },
    );
    let (accepted, analysis_id, state) = match (decision, existing) {
        (Decision::Create, _) | (_, None) => {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO analyses (project_id, sha, config_key, trigger, head_ref, base_ref, base_sha,
                   pr_number, installation_id, status, queued_at, requested_by)
                 VALUES ($1, $2, '', $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            )
            .bind(r.project.id)
            .bind(&r.sha)
            .bind(r.trigger.as_str())
            .bind(&r.head_ref)
            .bind(&r.base_ref)
            .bind(&r.base_sha)
            .bind(r.pr_number)
            .bind(r.project.installation_id)
            .bind(AnalysisStatus::Queued.as_str())
            .bind(now)
            .bind(&r.requested_by)
            .fetch_one(&mut *conn)
            .await
            .context("creating analysis")?;
            let job_id = queue_job(conn, id, now, limits).await?;
            let state = enqueue::Existing {
                status: AnalysisStatus::Queued,
                live_job: true,
                has_check_run: false,
                has_pull_request: r.pr_number.is_some(),
            };
            (
                Accepted::Enqueued {
                    job_id,
                    analysis_id: id,
                },
                id,
                state,
            )
        }
        (Decision::Reuse { adopt_pull_request }, Some((id, mut state))) => {
            if adopt_pull_request {
                sqlx::query(
                    "UPDATE analyses SET trigger = $2, head_ref = $3, base_ref = $4, base_sha = $5,
                       pr_number = $6 WHERE id = $1",
                )
                .bind(id)
                .bind(r.trigger.as_str())
                .bind(&r.head_ref)
                .bind(&r.base_ref)
                .bind(&r.base_sha)
                .bind(r.pr_number)
                .execute(&mut *conn)
                .await?;
                state.has_pull_request = true;
            }
            (Accepted::Reused { analysis_id: id }, id, state)
        }
        (Decision::Requeue, Some((id, state))) => {
            sqlx::query(
                "UPDATE analyses SET status = $9, check_run_id = NULL, error = NULL, trigger = $2,
                   head_ref = COALESCE($3, head_ref), base_ref = COALESCE($4, base_ref),
                   base_sha = COALESCE($5, base_sha), pr_number = COALESCE($6, pr_number),
                   installation_id = COALESCE($7, installation_id), queued_at = $8,
                   requested_by = COALESCE($10, requested_by)
                 WHERE id = $1",
            )
            .bind(id)
            .bind(r.trigger.as_str())
            .bind(&r.head_ref)
            .bind(&r.base_ref)
            .bind(&r.base_sha)
            .bind(r.pr_number)
            .bind(r.project.installation_id)
            .bind(now)
            .bind(AnalysisStatus::Queued.as_str())
            .bind(&r.requested_by)
            .execute(&mut *conn)
            .await
            .context("re-queueing analysis")?;
            let job_id = queue_job(conn, id, now, limits).await?;
            let state = enqueue::Existing {
                status: AnalysisStatus::Queued,
                live_job: true,
                has_check_run: false,
                has_pull_request: state.has_pull_request || r.pr_number.is_some(),
            };
            (
                Accepted::Enqueued {
                    job_id,
                    analysis_id: id,
                },
                id,
                state,
            )
        }
    };
    memo.analyses.insert(
        r.project.id,
        KnownAnalysis {
            sha: r.sha.clone(),
            id: analysis_id,
            state,
            superseded,
        },
    );
    Ok(accepted)
}

async fn queue_job(
    conn: &mut AnyConnection,
    analysis_id: i64,
    now: i64,
    limits: JobLimits,
) -> Result<i64> {
    insert_job(
        conn,
        JobKind::Analyse,
        Some(analysis_id),
        None,
        limits.max_attempts,
        now,
        Some(now + limits.deadline_ms),
    )
    .await
}
