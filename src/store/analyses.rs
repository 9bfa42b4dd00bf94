//! Analyses of commits and their findings.

use super::{col, now_ms, Store};
use crate::domain::finding::{Finding, RawFinding};
use anyhow::{Context, Result};
use sqlx::any::AnyRow;

#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisRow {
    pub id: i64,
    pub project_id: i64,
    pub sha: String,
    pub trigger: String,
    pub head_ref: Option<String>,
    pub base_ref: Option<String>,
    pub base_sha: Option<String>,
    pub compared_sha: Option<String>,
    pub pr_number: Option<i64>,
    pub installation_id: Option<i64>,
    pub status: String,
    pub check_run_id: Option<i64>,
    pub score: Option<f64>,
    pub grade: Option<String>,
    pub verdict: Option<String>,
    pub new_count: Option<i64>,
    pub fixed_count: Option<i64>,
    pub tool_versions: Option<String>,
    pub error: Option<String>,
    pub queued_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
}

/// Everything an analysis produced, saved at once.
#[derive(Debug, Clone)]
pub struct AnalysisResult {
    pub compared_sha: Option<String>,
    pub tool_versions_json: String,
    pub ncloc: i64,
    pub score: f64,
    pub grade: String,
    pub deductions: [f64; 3],
    pub verdict: String,
    pub gate_json: String,
    pub new_count: i64,
    pub fixed_count: i64,
    pub timings_json: String,
    /// Each finding with whether it is new against the compared commit.
    pub findings: Vec<(Finding, bool)>,
}

const ANALYSIS_COLUMNS: &str =
    "id, project_id, sha, trigger, head_ref, base_ref, base_sha, compared_sha,
    pr_number, installation_id, status, check_run_id, score, grade, verdict, new_count, fixed_count,
    tool_versions, error, queued_at, started_at, completed_at";

fn analysis_from_row(r: &AnyRow) -> Result<AnalysisRow> {
    Ok(AnalysisRow {
        id: col(r, "id")?,
        project_id: col(r, "project_id")?,
        sha: col(r, "sha")?,
        trigger: col(r, "trigger")?,
        head_ref: col(r, "head_ref")?,
        base_ref: col(r, "base_ref")?,
        base_sha: col(r, "base_sha")?,
        compared_sha: col(r, "compared_sha")?,
        pr_number: col(r, "pr_number")?,
        installation_id: col(r, "installation_id")?,
        status: col(r, "status")?,
        check_run_id: col(r, "check_run_id")?,
        score: col(r, "score")?,
        grade: col(r, "grade")?,
        verdict: col(r, "verdict")?,
        new_count: col(r, "new_count")?,
        fixed_count: col(r, "fixed_count")?,
        tool_versions: col(r, "tool_versions")?,
        error: col(r, "error")?,
        queued_at: col(r, "queued_at")?,
        started_at: col(r, "started_at")?,
        completed_at: col(r, "completed_at")?,
    })
}

impl Store {
    pub async fn get_analysis(&self, id: i64) -> Result<Option<AnalysisRow>> {
        let sql = format!("SELECT {ANALYSIS_COLUMNS} FROM analyses WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("loading analysis")?;
        row.as_ref().map(analysis_from_row).transpose()
    }

    pub async fn find_analysis(&self, project_id: i64, sha: &str) -> Result<Option<AnalysisRow>> {
        let sql = format!(
            "SELECT {ANALYSIS_COLUMNS} FROM analyses WHERE project_id = $1 AND sha = $2 AND config_key = ''"
        );
        let row = sqlx::query(&sql)
            .bind(project_id)
            .bind(sha)
            .fetch_optional(&self.pool)
            .await
            .context("looking up analysis by commit")?;
        row.as_ref().map(analysis_from_row).transpose()
    }

    /// All analyses of a project, newest first.
    pub async fn list_analyses(&self, project_id: i64) -> Result<Vec<AnalysisRow>> {
        let sql = format!(
            "SELECT {ANALYSIS_COLUMNS} FROM analyses WHERE project_id = $1 ORDER BY queued_at DESC, id DESC"
        );
        let rows = sqlx::query(&sql)
            .bind(project_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(analysis_from_row).collect()
    }

    /// Creates (or returns) the analysis row for a commit analysed only as a comparison base.
    pub async fn ensure_base_analysis(&self, project_id: i64, sha: &str) -> Result<AnalysisRow> {
        sqlx::query(
            "INSERT INTO analyses (project_id, sha, config_key, trigger, status, queued_at)
             VALUES ($1, $2, '', 'base', 'running', $3)
             ON CONFLICT (project_id, sha, config_key) DO NOTHING",
        )
        .bind(project_id)
        .bind(sha)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .context("creating base analysis")?;
        self.find_analysis(project_id, sha)
            .await?
            .context("base analysis vanished")
    }

    pub async fn mark_analysis_running(&self, id: i64) -> Result<()> {
        sqlx::query("UPDATE analyses SET status = 'running', started_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .context("marking analysis running")?;
        Ok(())
    }

    pub async fn set_check_run(&self, analysis_id: i64, check_run_id: i64) -> Result<()> {
        sqlx::query("UPDATE analyses SET check_run_id = $2 WHERE id = $1")
            .bind(analysis_id)
            .bind(check_run_id)
            .execute(&self.pool)
            .await
            .context("saving check run id")?;
        Ok(())
    }

    pub async fn mark_analysis_failed(&self, id: i64, error: &str) -> Result<()> {
        sqlx::query(
            "UPDATE analyses SET status = 'failed', error = $2, completed_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(error)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .context("marking analysis failed")?;
        Ok(())
    }

    /// Saves the result and its findings in one transaction, replacing any earlier findings.
    pub async fn save_analysis_result(&self, id: i64, result: &AnalysisResult) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM findings WHERE analysis_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for (f, is_new) in &result.findings {
            sqlx::query(
                "INSERT INTO findings (analysis_id, fingerprint, backend, rule, category, severity, path,
                   start_line, end_line, start_column, end_column, message, help_url, effort_minutes, is_new)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
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
            .bind(i64::from(*is_new))
            .execute(&mut *tx)
            .await
            .context("saving a finding")?;
        }
        sqlx::query(
            "UPDATE analyses SET status = 'completed', compared_sha = $2, tool_versions = $3, ncloc = $4,
               score = $5, grade = $6, deduction_security = $7, deduction_reliability = $8,
               deduction_maintainability = $9, verdict = $10, gate = $11, new_count = $12,
               fixed_count = $13, timings = $14, error = NULL, completed_at = $15
             WHERE id = $1",
        )
        .bind(id)
        .bind(&result.compared_sha)
        .bind(&result.tool_versions_json)
        .bind(result.ncloc)
        .bind(result.score)
        .bind(&result.grade)
        .bind(result.deductions[0])
        .bind(result.deductions[1])
        .bind(result.deductions[2])
        .bind(&result.verdict)
        .bind(&result.gate_json)
        .bind(result.new_count)
        .bind(result.fixed_count)
        .bind(&result.timings_json)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .context("saving analysis result")?;
        tx.commit().await.context("committing analysis result")?;
        Ok(())
    }

    /// The findings of an analysis with their `is_new` flag, in a stable order.
    pub async fn load_findings(&self, analysis_id: i64) -> Result<Vec<(Finding, bool)>> {
        let rows = sqlx::query(
            "SELECT fingerprint, backend, rule, category, severity, path, start_line, end_line,
                    start_column, end_column, message, help_url, effort_minutes, is_new
             FROM findings WHERE analysis_id = $1 ORDER BY path, start_line, id",
        )
        .bind(analysis_id)
        .fetch_all(&self.pool)
        .await
        .context("loading findings")?;
        rows.iter()
            .map(|r| {
                let category: String = col(r, "category")?;
                let severity: String = col(r, "severity")?;
                let raw = RawFinding {
                    backend: col(r, "backend")?,
                    rule: col(r, "rule")?,
                    category: category.parse().map_err(anyhow::Error::msg)?,
                    severity: severity.parse().map_err(anyhow::Error::msg)?,
                    message: col(r, "message")?,
                    path: col(r, "path")?,
                    start_line: col::<i64>(r, "start_line")? as u32,
                    end_line: col::<i64>(r, "end_line")? as u32,
                    start_column: col::<Option<i64>>(r, "start_column")?.map(|c| c as u32),
                    end_column: col::<Option<i64>>(r, "end_column")?.map(|c| c as u32),
                    help_url: col(r, "help_url")?,
                    effort_minutes: col::<i64>(r, "effort_minutes")? as u32,
                };
                let finding = Finding {
                    raw,
                    fingerprint: col(r, "fingerprint")?,
                };
                Ok((finding, col::<i64>(r, "is_new")? != 0))
            })
            .collect()
    }
}
