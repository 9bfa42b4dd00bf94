//! Analyses of commits, their findings (open, new and fixed), and saving an analysis together
//! with its publish tasks — the outbox — in one transaction.

use super::{flag, now_ms, publish::create_publish_tasks, Store};
use crate::analysis::engine::BackendReport;
use crate::domain::finding::{Finding, RawFinding};
use crate::domain::gate::{GateResult, Verdict};
use crate::domain::score::{Grade, Score};
use crate::domain::status::{AnalysisStatus, Sink, Trigger};
use crate::domain::suppression::Suppression;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An analysis as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisRow {
    pub id: i64,
    pub project_id: i64,
    pub sha: String,
    /// Hash of the configuration and tool pins the results were produced under.
    pub config_key: String,
    pub trigger: Trigger,
    pub head_ref: Option<String>,
    pub base_ref: Option<String>,
    pub base_sha: Option<String>,
    pub compared_sha: Option<String>,
    pub pr_number: Option<i64>,
    pub installation_id: Option<i64>,
    pub status: AnalysisStatus,
    pub check_run_id: Option<i64>,
    pub ncloc: Option<i64>,
    pub score: Option<f64>,
    pub grade: Option<Grade>,
    pub verdict: Option<Verdict>,
    pub new_count: Option<i64>,
    pub fixed_count: Option<i64>,
    pub error: Option<String>,
    pub queued_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    /// Who pushed or asked (a GitHub login).
    pub requested_by: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(super) struct Record {
    id: i64,
    project_id: i64,
    sha: String,
    config_key: String,
    trigger: String,
    head_ref: Option<String>,
    base_ref: Option<String>,
    base_sha: Option<String>,
    compared_sha: Option<String>,
    pr_number: Option<i64>,
    installation_id: Option<i64>,
    status: String,
    check_run_id: Option<i64>,
    ncloc: Option<i64>,
    score: Option<f64>,
    grade: Option<String>,
    verdict: Option<String>,
    new_count: Option<i64>,
    fixed_count: Option<i64>,
    error: Option<String>,
    queued_at: i64,
    started_at: Option<i64>,
    completed_at: Option<i64>,
    requested_by: Option<String>,
}

impl TryFrom<Record> for AnalysisRow {
    type Error = anyhow::Error;
    fn try_from(r: Record) -> Result<AnalysisRow> {
        let parse = |what: &str, s: &str| -> Result<Verdict> {
            match s {
                "success" => Ok(Verdict::Success),
                "failure" => Ok(Verdict::Failure),
                "neutral" => Ok(Verdict::Neutral),
                other => anyhow::bail!("unknown {what} `{other}`"),
            }
        };
        Ok(AnalysisRow {
            id: r.id,
            project_id: r.project_id,
            sha: r.sha,
            config_key: r.config_key,
            trigger: r.trigger.parse().map_err(anyhow::Error::msg)?,
            head_ref: r.head_ref,
            base_ref: r.base_ref,
            base_sha: r.base_sha,
            compared_sha: r.compared_sha,
            pr_number: r.pr_number,
            installation_id: r.installation_id,
            status: r.status.parse().map_err(anyhow::Error::msg)?,
            check_run_id: r.check_run_id,
            ncloc: r.ncloc,
            score: r.score,
            grade: r
                .grade
                .map(|g| g.parse::<Grade>().map_err(anyhow::Error::msg))
                .transpose()?,
            verdict: r.verdict.map(|v| parse("verdict", &v)).transpose()?,
            new_count: r.new_count,
            fixed_count: r.fixed_count,
            error: r.error,
            queued_at: r.queued_at,
            started_at: r.started_at,
            completed_at: r.completed_at,
            requested_by: r.requested_by,
        })
    }
}

pub(super) const ANALYSIS_COLUMNS: &str =
    "id, project_id, sha, config_key, trigger, head_ref, base_ref, base_sha, compared_sha,
    pr_number, installation_id, status, check_run_id, ncloc, score, grade, verdict, new_count, fixed_count,
    error, queued_at, started_at, completed_at, requested_by";

/// Whether an analysis's job may start its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Started,
    /// Superseded: nothing is to be done.
    Cancelled,
    /// An earlier attempt ended it (completed or failed), and its outcome stands.
    Ended(AnalysisStatus),
}

/// The analysis was cancelled (superseded) while it ran: nothing of it is kept.
#[derive(Debug, thiserror::Error)]
#[error("the analysis was cancelled: a newer head superseded it")]
pub struct Cancelled;

/// How an analysis ended without a result, for the check run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// `failure`, `timed_out` or `cancelled`.
    pub conclusion: String,
    pub title: String,
    /// Markdown, already escaped where it quotes anything from outside.
    pub summary: String,
}

/// What an analysis knows besides its columns, kept as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalysisDetails {
    /// Each backend's version, status, time and notes.
    #[serde(default)]
    pub backends: Vec<BackendReport>,
    /// The score's three deductions and the capped grade, as computed.
    pub score: Option<Score>,
    pub gate: Option<GateResult>,
    pub base_score: Option<f64>,
    /// Suppressions the change added; `None` when there was no change to look at.
    pub suppressions: Option<Vec<Suppression>>,
    /// How the tools ran, when not in the jail.
    pub jail: Option<String>,
    /// What the test-code policy did (findings not reported, severities capped).
    #[serde(default)]
    pub test_code: Option<crate::domain::test_code::TestCodeCount>,
    /// Annotations the check run may carry.
    #[serde(default)]
    pub max_annotations: usize,
    /// Set when the analysis ended without a result.
    pub failure: Option<Failure>,
    #[serde(default)]
    pub timings: BTreeMap<String, u64>,
    /// The configuration the analysis ran under (the repository's, with the gate the server
    /// policy leaves in force), for the dashboard; absent on analyses saved before it was kept.
    #[serde(default)]
    pub config: Option<serde_json::Value>,
}

/// A finding of the analysed commit, as saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedFinding {
    pub finding: Finding,
    /// New against the compared commit.
    pub is_new: bool,
    /// Gets an annotation on the check run (the repository's `report.annotate`).
    pub annotate: bool,
}

/// Everything an analysis produced, saved at once with one publish task per sink.
#[derive(Debug, Clone)]
pub struct AnalysisResult {
    pub compared_sha: Option<String>,
    pub config_key: String,
    pub tool_versions: BTreeMap<String, String>,
    pub ncloc: i64,
    /// `None` when no backend produced a result.
    pub score: Option<Score>,
    pub verdict: Verdict,
    pub new_count: i64,
    pub details: AnalysisDetails,
    pub findings: Vec<SavedFinding>,
    /// Findings of the compared commit that this one no longer has.
    pub fixed: Vec<Finding>,
    /// A change of state to tell (Slack), once per (project, transition, commit).
    pub notify: Option<crate::domain::notify::Transition>,
    /// What to tell the event hooks (`analysis.completed`, `gate.changed`); nothing when empty.
    pub events: crate::domain::outgoing::Announcement,
}

#[derive(sqlx::FromRow)]
struct FindingRecord {
    fingerprint: String,
    backend: String,
    rule: String,
    category: String,
    severity: String,
    path: String,
    start_line: i64,
    end_line: i64,
    start_column: Option<i64>,
    end_column: Option<i64>,
    message: String,
    help_url: Option<String>,
    effort_minutes: i64,
    is_new: i64,
    annotate: i64,
    line_key: String,
    in_tests: i64,
}

impl FindingRecord {
    fn into_saved(self) -> Result<SavedFinding> {
        let raw = RawFinding {
            backend: self.backend,
            rule: self.rule,
            category: self.category.parse().map_err(anyhow::Error::msg)?,
            severity: self.severity.parse().map_err(anyhow::Error::msg)?,
            message: self.message,
            path: self.path,
            start_line: self.start_line as u32,
            end_line: self.end_line as u32,
            start_column: self.start_column.map(|c| c as u32),
            end_column: self.end_column.map(|c| c as u32),
            help_url: self.help_url,
            effort_minutes: self.effort_minutes as u32,
        };
        Ok(SavedFinding {
            finding: Finding {
                raw,
                fingerprint: self.fingerprint,
                line_key: self.line_key,
                in_tests: flag(self.in_tests),
            },
            is_new: flag(self.is_new),
            annotate: flag(self.annotate),
        })
    }
}

const FINDING_COLUMNS: &str = "fingerprint, backend, rule, category, severity, path, start_line,
    end_line, start_column, end_column, message, help_url, effort_minutes, is_new, annotate,
    line_key, in_tests";

impl Store {
    async fn one_analysis(
        &self,
        sql: &str,
        binds: (i64, Option<&str>),
    ) -> Result<Option<AnalysisRow>> {
        let mut q = sqlx::query_as::<_, Record>(sql).bind(binds.0);
        if let Some(s) = binds.1 {
            q = q.bind(s);
        }
        q.fetch_optional(&self.pool)
            .await
            .context("loading analysis")?
            .map(AnalysisRow::try_from)
            .transpose()
    }

    pub async fn get_analysis(&self, id: i64) -> Result<Option<AnalysisRow>> {
        let sql = format!("SELECT {ANALYSIS_COLUMNS} FROM analyses WHERE id = $1");
        self.one_analysis(&sql, (id, None)).await
    }

    /// The analysis of a commit (the latest, should there be several).
    pub async fn find_analysis(&self, project_id: i64, sha: &str) -> Result<Option<AnalysisRow>> {
        let sql = format!(
            "SELECT {ANALYSIS_COLUMNS} FROM analyses WHERE project_id = $1 AND sha = $2 ORDER BY id DESC LIMIT 1"
        );
        self.one_analysis(&sql, (project_id, Some(sha))).await
    }

    /// What an analysis knows besides its columns.
    pub async fn analysis_details(&self, id: i64) -> Result<AnalysisDetails> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT details FROM analyses WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        match row.and_then(|(d,)| d) {
            Some(text) => serde_json::from_str(&text).context("reading analysis details"),
            None => Ok(AnalysisDetails::default()),
        }
    }

    /// Creates (or returns) the analysis row of a commit analysed only as a comparison base.
    pub async fn ensure_base_analysis(&self, project_id: i64, sha: &str) -> Result<AnalysisRow> {
        if let Some(row) = self.find_analysis(project_id, sha).await? {
            return Ok(row);
        }
        sqlx::query(
            "INSERT INTO analyses (project_id, sha, config_key, trigger, status, queued_at)
             VALUES ($1, $2, '', $3, $4, $5)
             ON CONFLICT (project_id, sha, config_key) DO NOTHING",
        )
        .bind(project_id)
        .bind(sha)
        .bind(Trigger::Base.as_str())
        .bind(AnalysisStatus::Running.as_str())
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .context("creating base analysis")?;
        self.find_analysis(project_id, sha)
            .await?
            .context("base analysis vanished")
    }

    /// Marks the analysis running, unless it was cancelled (superseded) or has already ended:
    /// an attempt that saved its analysis but could not record its job as done (the database
    /// went away in between) must not be repeated by the attempt that takes the job over.
    pub async fn mark_analysis_running(&self, id: i64) -> Result<Start> {
        let n = sqlx::query(
            "UPDATE analyses SET status = $3, started_at = $2
             WHERE id = $1 AND status IN ('queued', 'running')",
        )
        .bind(id)
        .bind(now_ms())
        .bind(AnalysisStatus::Running.as_str())
        .execute(&self.pool)
        .await
        .context("marking analysis running")?
        .rows_affected();
        if n == 1 {
            return Ok(Start::Started);
        }
        let status: Option<(String,)> = sqlx::query_as("SELECT status FROM analyses WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading why an analysis did not start")?;
        match status.map(|(s,)| s.parse::<AnalysisStatus>()) {
            Some(Ok(AnalysisStatus::Cancelled)) => Ok(Start::Cancelled),
            Some(Ok(ended)) => Ok(Start::Ended(ended)),
            Some(Err(e)) => Err(anyhow::Error::msg(e)),
            None => anyhow::bail!("analysis {id} does not exist"),
        }
    }

    /// Records the analysis's check run; false when the analysis was cancelled meanwhile.
    pub async fn set_check_run(&self, analysis_id: i64, check_run_id: i64) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE analyses SET check_run_id = $2 WHERE id = $1 AND status <> 'cancelled'",
        )
        .bind(analysis_id)
        .bind(check_run_id)
        .execute(&self.pool)
        .await
        .context("saving check run id")?
        .rows_affected();
        Ok(n == 1)
    }

    /// Ends an analysis without a result and queues its publishing (the check run then says
    /// why), in one transaction.
    pub async fn fail_analysis(
        &self,
        id: i64,
        failure: &Failure,
        sinks: &[Sink],
        max_attempts: i64,
    ) -> Result<()> {
        let mut details = self.analysis_details(id).await?;
        details.failure = Some(failure.clone());
        let mut tx = self.pool.begin().await?;
        let marked = sqlx::query(
            "UPDATE analyses SET status = $2, error = $3, details = $4, completed_at = $5
             WHERE id = $1 AND status <> 'cancelled'",
        )
        .bind(id)
        .bind(AnalysisStatus::Failed.as_str())
        .bind(&failure.title)
        .bind(serde_json::to_string(&details)?)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .context("marking analysis failed")?
        .rows_affected();
        if marked == 0 {
            // Cancelled (superseded) meanwhile: that ending stands.
            return Ok(());
        }
        create_publish_tasks(&mut tx, id, sinks, max_attempts).await?;
        tx.commit()
            .await
            .context("committing the failed analysis")?;
        Ok(())
    }

    /// Saves the result and its findings, replacing earlier ones, and queues one publish task
    /// per sink — all in one transaction, so a saved analysis is always published and a
    /// publishing failure never re-runs the analysis.
    pub async fn save_analysis(
        &self,
        id: i64,
        result: &AnalysisResult,
        sinks: &[Sink],
        max_attempts: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM findings WHERE analysis_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let rows = result
            .findings
            .iter()
            .map(|f| (&f.finding, f.is_new, f.annotate, false))
            .chain(result.fixed.iter().map(|f| (f, false, false, true)));
        for (f, is_new, annotate, is_fixed) in rows {
            sqlx::query(
                "INSERT INTO findings (analysis_id, fingerprint, backend, rule, category, severity, path,
                   start_line, end_line, start_column, end_column, message, help_url, effort_minutes,
                   is_new, annotate, is_fixed, line_key, in_tests)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                   $18, $19)",
            )
            .bind(id)
            .bind(&f.fingerprint)
            .bind(&f.backend)
            .bind(&f.rule)
            .bind(f.category.as_str())
            .bind(f.severity.as_str())
            .bind(&f.path)
            .bind(i64::from(f.start_line))
            .bind(i64::from(f.end_line))
            .bind(f.start_column.map(i64::from))
            .bind(f.end_column.map(i64::from))
            .bind(&f.message)
            .bind(&f.help_url)
            .bind(i64::from(f.effort_minutes))
            .bind(i64::from(is_new))
            .bind(i64::from(annotate))
            .bind(i64::from(is_fixed))
            .bind(&f.line_key)
            .bind(i64::from(f.in_tests))
            .execute(&mut *tx)
            .await
            .context("saving a finding")?;
        }
        let s = &result.score;
        let saved = sqlx::query(
            "UPDATE analyses SET status = $2, compared_sha = $3, tool_versions = $4, config_key = $5,
               ncloc = $6, score = $7, grade = $8, deduction_security = $9,
               deduction_reliability = $10, deduction_maintainability = $11, verdict = $12,
               new_count = $13, fixed_count = $14, details = $15, error = NULL, completed_at = $16,
               severity_counts = $17
             WHERE id = $1 AND status <> 'cancelled'",
        )
        .bind(id)
        .bind(AnalysisStatus::Completed.as_str())
        .bind(&result.compared_sha)
        .bind(serde_json::to_string(&result.tool_versions)?)
        .bind(&result.config_key)
        .bind(result.ncloc)
        .bind(s.map(|s| s.score))
        .bind(s.map(|s| s.grade.as_str()))
        .bind(s.map(|s| s.security))
        .bind(s.map(|s| s.reliability))
        .bind(s.map(|s| s.maintainability))
        .bind(result.verdict.as_str())
        .bind(result.new_count)
        .bind(result.fixed.len() as i64)
        .bind(serde_json::to_string(&result.details)?)
        .bind(now_ms())
        .bind(serde_json::to_string(&crate::domain::finding::Severity::counts(
            result.findings.iter().map(|f| f.finding.severity),
        ))?)
        .execute(&mut *tx)
        .await
        .context("saving analysis result")?
        .rows_affected();
        if saved == 0 {
            // Cancelled (superseded) while it ran: the rollback keeps its findings out too.
            return Err(anyhow::Error::new(Cancelled));
        }
        super::read::record_for_dashboard(&mut tx, id, result.score.map(|s| s.score)).await?;
        let mut sinks = sinks.to_vec();
        if let Some(t) = result.notify {
            if super::conversation::record_notification(&mut tx, id, t).await? {
                sinks.push(Sink::Slack);
            }
        }
        // One task sends every delivery of the analysis, and only when there is one to send.
        if super::events::record_deliveries(&mut tx, id, &result.events).await? > 0 {
            sinks.push(Sink::Events);
        }
        create_publish_tasks(&mut tx, id, &sinks, max_attempts).await?;
        tx.commit().await.context("committing analysis result")?;
        Ok(())
    }

    /// The open findings of an analysis (new or not), in a stable order.
    pub async fn load_findings(&self, analysis_id: i64) -> Result<Vec<SavedFinding>> {
        let sql = format!(
            "SELECT {FINDING_COLUMNS} FROM findings WHERE analysis_id = $1 AND is_fixed = 0
             ORDER BY path, start_line, id"
        );
        let rows: Vec<FindingRecord> = sqlx::query_as(&sql)
            .bind(analysis_id)
            .fetch_all(&self.pool)
            .await
            .context("loading findings")?;
        rows.into_iter().map(FindingRecord::into_saved).collect()
    }

    /// The findings of the compared commit that an analysis no longer has.
    pub async fn load_fixed(&self, analysis_id: i64) -> Result<Vec<Finding>> {
        let sql = format!(
            "SELECT {FINDING_COLUMNS} FROM findings WHERE analysis_id = $1 AND is_fixed = 1
             ORDER BY path, start_line, id"
        );
        let rows: Vec<FindingRecord> = sqlx::query_as(&sql)
            .bind(analysis_id)
            .fetch_all(&self.pool)
            .await
            .context("loading fixed findings")?;
        rows.into_iter()
            .map(|r| r.into_saved().map(|s| s.finding))
            .collect()
    }
}
