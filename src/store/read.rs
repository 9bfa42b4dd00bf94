//! What the dashboard, the REST API and GraphQL read: project summaries (from a pointer to each
//! project's latest default-branch analysis and its last scores, kept when an analysis is
//! saved, so the ecosystem page costs one indexed query whatever the history), a project's
//! history, analyses and findings with filters — every list paginated by an id cursor, none
//! unbounded.

use super::{now_ms, Store};
use crate::domain::finding::Severity;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

/// Most items a list returns at once.
pub const MAX_PAGE: i64 = 200;
/// Scores kept per project for the sparkline.
pub const SPARKLINE_POINTS: usize = 30;

/// Open findings by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SeverityCounts {
    pub blocker: i64,
    pub critical: i64,
    pub major: i64,
    pub minor: i64,
    pub info: i64,
}

impl SeverityCounts {
    pub fn from_array(a: [usize; 5]) -> SeverityCounts {
        // In the order of Severity::ALL: blocker first.
        SeverityCounts {
            blocker: a[0] as i64,
            critical: a[1] as i64,
            major: a[2] as i64,
            minor: a[3] as i64,
            info: a[4] as i64,
        }
    }

    fn parse(json: &str) -> SeverityCounts {
        let a: [i64; 5] = serde_json::from_str(json).unwrap_or_default();
        SeverityCounts {
            blocker: a[0],
            critical: a[1],
            major: a[2],
            minor: a[3],
            info: a[4],
        }
    }

    pub fn total(&self) -> i64 {
        self.blocker + self.critical + self.major + self.minor + self.info
    }

    pub fn of(&self, s: Severity) -> i64 {
        match s {
            Severity::Blocker => self.blocker,
            Severity::Critical => self.critical,
            Severity::Major => self.major,
            Severity::Minor => self.minor,
            Severity::Info => self.info,
        }
    }
}

/// One project as the ecosystem page and the API list it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProjectSummary {
    pub id: i64,
    pub full_name: String,
    pub default_branch: String,
    pub installation_id: Option<i64>,
    pub archived: bool,
    /// The latest default-branch analysis, when there is one.
    pub latest_analysis_id: Option<i64>,
    pub grade: Option<String>,
    pub score: Option<f64>,
    /// `success`, `failure` or `neutral`.
    pub verdict: Option<String>,
    /// Unix milliseconds.
    pub last_analysed_at: Option<i64>,
    pub open: SeverityCounts,
    /// The last default-branch scores, oldest first.
    pub sparkline: Vec<f64>,
}

/// A point of a project's history on its default branch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryPoint {
    pub analysis_id: i64,
    pub sha: String,
    pub at: i64,
    pub score: Option<f64>,
    pub grade: Option<String>,
    pub verdict: Option<String>,
}

/// An analysis as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AnalysisSummary {
    pub id: i64,
    pub project_id: i64,
    pub sha: String,
    /// `refs/heads/main`, `refs/pull/7/head`, …
    pub head_ref: Option<String>,
    pub pr_number: Option<i64>,
    pub trigger: String,
    pub status: String,
    pub verdict: Option<String>,
    pub score: Option<f64>,
    pub grade: Option<String>,
    pub new_count: Option<i64>,
    pub fixed_count: Option<i64>,
    pub compared_sha: Option<String>,
    pub queued_at: i64,
    pub completed_at: Option<i64>,
    pub requested_by: Option<String>,
}

/// A finding as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FindingRow {
    pub id: i64,
    pub analysis_id: i64,
    pub fingerprint: String,
    pub backend: String,
    pub rule: String,
    pub category: String,
    pub severity: String,
    pub path: String,
    pub start_line: i64,
    pub end_line: i64,
    pub message: String,
    pub help_url: Option<String>,
    pub is_new: bool,
    pub is_fixed: bool,
    pub in_tests: bool,
}

/// Findings a query asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FindingQuery {
    /// The analysis; without it, the project's latest default-branch analysis.
    pub analysis: Option<i64>,
    pub project: Option<i64>,
    pub backend: Option<String>,
    pub rule: Option<String>,
    pub severity: Option<String>,
    /// Files under this path (a prefix).
    pub path: Option<String>,
    /// `new` (new against the compared commit), `fixed`, or `open` (the default: all open).
    pub state: Option<String>,
    /// Items after this id (from the previous page's `next`).
    pub cursor: Option<i64>,
    pub limit: Option<i64>,
}

/// Which projects a reader may see: all, or those of these installations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visible {
    All,
    Installations(Vec<i64>),
}

impl Visible {
    /// The condition on `p` (projects) this visibility is, for queries over projects.
    pub(super) fn sql(&self) -> String {
        match self {
            Visible::All => "1 = 1".into(),
            Visible::Installations(ids) if ids.is_empty() => "1 = 0".into(),
            // Integers only: safe to inline.
            Visible::Installations(ids) => format!(
                "p.installation_id IN ({})",
                ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
            ),
        }
    }

    pub fn allows(&self, installation: Option<i64>) -> bool {
        match self {
            Visible::All => true,
            Visible::Installations(ids) => installation.is_some_and(|i| ids.contains(&i)),
        }
    }
}

fn limit(asked: Option<i64>, default: i64) -> i64 {
    asked.unwrap_or(default).clamp(1, MAX_PAGE)
}

/// Keeps the dashboard's pointers: for a default-branch analysis just saved, the project's
/// latest analysis and its last scores. In the caller's transaction.
pub(super) async fn record_for_dashboard(
    conn: &mut AnyConnection,
    analysis_id: i64,
    score: Option<f64>,
) -> Result<()> {
    let row: Option<(i64, Option<i64>, String, String)> = sqlx::query_as(
        "SELECT a.project_id, a.pr_number, a.trigger, p.score_history FROM analyses a
         JOIN projects p ON p.id = a.project_id WHERE a.id = $1",
    )
    .bind(analysis_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((project, None, trigger, history)) = row else {
        return Ok(());
    };
    if trigger == "base" {
        return Ok(());
    }
    let mut points: Vec<(i64, f64)> = serde_json::from_str(&history).unwrap_or_default();
    points.retain(|(id, _)| *id != analysis_id);
    if let Some(s) = score {
        points.push((analysis_id, s));
        points.sort_by_key(|(id, _)| *id);
    }
    let keep = points.len().saturating_sub(SPARKLINE_POINTS);
    points.drain(..keep);
    sqlx::query(
        "UPDATE projects SET score_history = $3, updated_at = $4,
           latest_analysis_id = CASE WHEN latest_analysis_id IS NULL OR latest_analysis_id <= $2
                                     THEN $2 ELSE latest_analysis_id END
         WHERE id = $1",
    )
    .bind(project)
    .bind(analysis_id)
    .bind(serde_json::to_string(&points)?)
    .bind(now_ms())
    .execute(&mut *conn)
    .await
    .context("keeping the dashboard's pointers")?;
    Ok(())
}

type HistoryRecord = (
    i64,
    String,
    Option<i64>,
    Option<f64>,
    Option<String>,
    Option<String>,
);

#[derive(sqlx::FromRow)]
struct SummaryRecord {
    id: i64,
    full_name: String,
    default_branch: String,
    installation_id: Option<i64>,
    archived_at: Option<i64>,
    latest_analysis_id: Option<i64>,
    score_history: String,
    grade: Option<String>,
    score: Option<f64>,
    verdict: Option<String>,
    completed_at: Option<i64>,
    severity_counts: Option<String>,
}

impl From<SummaryRecord> for ProjectSummary {
    fn from(r: SummaryRecord) -> ProjectSummary {
        let points: Vec<(i64, f64)> = serde_json::from_str(&r.score_history).unwrap_or_default();
        ProjectSummary {
            id: r.id,
            full_name: r.full_name,
            default_branch: r.default_branch,
            installation_id: r.installation_id,
            archived: r.archived_at.is_some(),
            latest_analysis_id: r.latest_analysis_id,
            grade: r.grade,
            score: r.score,
            verdict: r.verdict,
            last_analysed_at: r.completed_at,
            open: r
                .severity_counts
                .as_deref()
                .map(SeverityCounts::parse)
                .unwrap_or_default(),
            sparkline: points.into_iter().map(|(_, s)| s).collect(),
        }
    }
}

const SUMMARY_SQL: &str = "SELECT p.id, p.full_name, p.default_branch, p.installation_id,
      p.archived_at, p.latest_analysis_id, p.score_history, a.grade, a.score, a.verdict,
      a.completed_at, a.severity_counts
    FROM projects p LEFT JOIN analyses a ON a.id = p.latest_analysis_id";

impl Store {
    /// Projects by name, after `cursor` (an id), at most `limit`; `name` filters by substring.
    pub async fn list_projects(
        &self,
        visible: &Visible,
        name: Option<&str>,
        cursor: Option<i64>,
        asked: Option<i64>,
    ) -> Result<Vec<ProjectSummary>> {
        let sql = format!(
            "{SUMMARY_SQL} WHERE {} AND p.id > $1 AND ($2 = '' OR LOWER(p.full_name) LIKE $3)
             ORDER BY p.id LIMIT $4",
            visible.sql()
        );
        let name = name.unwrap_or("").trim().to_lowercase();
        let like = format!("%{}%", name.replace(['%', '_'], ""));
        let rows: Vec<SummaryRecord> = sqlx::query_as(&sql)
            .bind(cursor.unwrap_or(0))
            .bind(&name)
            .bind(like)
            .bind(limit(asked, 50))
            .fetch_all(&self.pool)
            .await
            .context("listing projects")?;
        Ok(rows.into_iter().map(ProjectSummary::from).collect())
    }

    pub async fn project_summary(&self, id: i64) -> Result<Option<ProjectSummary>> {
        let sql = format!("{SUMMARY_SQL} WHERE p.id = $1");
        let row: Option<SummaryRecord> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a project")?;
        Ok(row.map(ProjectSummary::from))
    }

    /// The project's default-branch history, the newest `points` analyses, oldest first.
    pub async fn project_history(&self, id: i64, points: i64) -> Result<Vec<HistoryPoint>> {
        let rows: Vec<HistoryRecord> = sqlx::query_as(
            "SELECT id, sha, completed_at, score, grade, verdict FROM analyses
                 WHERE project_id = $1 AND pr_number IS NULL AND trigger <> 'base'
                   AND status = 'completed'
                 ORDER BY id DESC LIMIT $2",
        )
        .bind(id)
        .bind(points.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await
        .context("reading a project's history")?;
        let mut out: Vec<HistoryPoint> = rows
            .into_iter()
            .map(
                |(analysis_id, sha, at, score, grade, verdict)| HistoryPoint {
                    analysis_id,
                    sha,
                    at: at.unwrap_or(0),
                    score,
                    grade,
                    verdict,
                },
            )
            .collect();
        out.reverse();
        Ok(out)
    }

    /// A project's analyses, newest first, before `cursor` (an id); filtered by pull request
    /// number or ref when given.
    pub async fn project_analyses(
        &self,
        project: i64,
        pr: Option<i64>,
        head_ref: Option<&str>,
        cursor: Option<i64>,
        asked: Option<i64>,
    ) -> Result<Vec<AnalysisSummary>> {
        let rows: Vec<AnalysisSummary> = sqlx::query_as::<_, AnalysisRecord>(
            "SELECT id, project_id, sha, head_ref, pr_number, trigger, status, verdict, score, grade,
               new_count, fixed_count, compared_sha, queued_at, completed_at, requested_by
             FROM analyses
             WHERE project_id = $1 AND trigger <> 'base' AND id < $2
               AND ($3 = 0 OR pr_number = $4) AND ($5 = '' OR head_ref = $5)
             ORDER BY id DESC LIMIT $6",
        )
        .bind(project)
        .bind(cursor.unwrap_or(i64::MAX))
        .bind(i64::from(pr.is_some()))
        .bind(pr.unwrap_or(0))
        .bind(head_ref.unwrap_or(""))
        .bind(limit(asked, 20))
        .fetch_all(&self.pool)
        .await
        .context("listing analyses")?
        .into_iter()
        .map(AnalysisSummary::from)
        .collect();
        Ok(rows)
    }

    pub async fn analysis_summary(&self, id: i64) -> Result<Option<AnalysisSummary>> {
        let row: Option<AnalysisRecord> = sqlx::query_as(
            "SELECT id, project_id, sha, head_ref, pr_number, trigger, status, verdict, score, grade,
               new_count, fixed_count, compared_sha, queued_at, completed_at, requested_by
             FROM analyses WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("reading an analysis")?;
        Ok(row.map(AnalysisSummary::from))
    }

    /// Findings of one analysis with the query's filters, in id order after `cursor`.
    pub async fn query_findings(&self, analysis: i64, q: &FindingQuery) -> Result<Vec<FindingRow>> {
        let (new_only, fixed) = match q.state.as_deref() {
            Some("new") => (1, 0),
            Some("fixed") => (0, 1),
            _ => (0, 0),
        };
        let path = q
            .path
            .as_deref()
            .unwrap_or("")
            .replace('%', "")
            .replace('_', "\\_");
        let rows: Vec<FindingRecord> = sqlx::query_as(
            "SELECT id, analysis_id, fingerprint, backend, rule, category, severity, path,
               start_line, end_line, message, help_url, is_new, is_fixed, in_tests
             FROM findings
             WHERE analysis_id = $1 AND id > $2 AND is_fixed = $3 AND ($4 = 0 OR is_new = 1)
               AND ($5 = '' OR backend = $5) AND ($6 = '' OR rule = $6)
               AND ($7 = '' OR severity = $7) AND ($8 = '' OR path LIKE $9)
             ORDER BY id LIMIT $10",
        )
        .bind(analysis)
        .bind(q.cursor.unwrap_or(0))
        .bind(fixed)
        .bind(new_only)
        .bind(q.backend.as_deref().unwrap_or(""))
        .bind(q.rule.as_deref().unwrap_or(""))
        .bind(q.severity.as_deref().unwrap_or(""))
        .bind(&path)
        .bind(format!("{path}%"))
        .bind(limit(q.limit, 100))
        .fetch_all(&self.pool)
        .await
        .context("querying findings")?;
        Ok(rows.into_iter().map(FindingRow::from).collect())
    }

    /// Open findings of an analysis counted by (category, path), worst files first.
    pub async fn findings_by_file(
        &self,
        analysis: i64,
        asked: i64,
    ) -> Result<Vec<(String, String, SeverityCounts)>> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT category, path, severity, COUNT(*) FROM findings
             WHERE analysis_id = $1 AND is_fixed = 0
             GROUP BY category, path, severity",
        )
        .bind(analysis)
        .fetch_all(&self.pool)
        .await
        .context("counting findings by file")?;
        let mut grouped: std::collections::BTreeMap<(String, String), SeverityCounts> =
            Default::default();
        for (category, path, severity, n) in rows {
            let c = grouped.entry((category, path)).or_default();
            match severity.as_str() {
                "blocker" => c.blocker += n,
                "critical" => c.critical += n,
                "major" => c.major += n,
                "minor" => c.minor += n,
                _ => c.info += n,
            }
        }
        let mut out: Vec<(String, String, SeverityCounts)> =
            grouped.into_iter().map(|((c, p), n)| (c, p, n)).collect();
        // Worst first: by blockers, then criticals, … then total.
        out.sort_by_key(|(_, _, n)| {
            std::cmp::Reverse((n.blocker, n.critical, n.major, n.minor, n.total()))
        });
        out.truncate(asked.clamp(1, 500) as usize);
        Ok(out)
    }
}

#[derive(sqlx::FromRow)]
struct AnalysisRecord {
    id: i64,
    project_id: i64,
    sha: String,
    head_ref: Option<String>,
    pr_number: Option<i64>,
    trigger: String,
    status: String,
    verdict: Option<String>,
    score: Option<f64>,
    grade: Option<String>,
    new_count: Option<i64>,
    fixed_count: Option<i64>,
    compared_sha: Option<String>,
    queued_at: i64,
    completed_at: Option<i64>,
    requested_by: Option<String>,
}

impl From<AnalysisRecord> for AnalysisSummary {
    fn from(r: AnalysisRecord) -> AnalysisSummary {
        AnalysisSummary {
            id: r.id,
            project_id: r.project_id,
            sha: r.sha,
            head_ref: r.head_ref,
            pr_number: r.pr_number,
            trigger: r.trigger,
            status: r.status,
            verdict: r.verdict,
            score: r.score,
            grade: r.grade,
            new_count: r.new_count,
            fixed_count: r.fixed_count,
            compared_sha: r.compared_sha,
            queued_at: r.queued_at,
            completed_at: r.completed_at,
            requested_by: r.requested_by,
        }
    }
}

#[derive(sqlx::FromRow)]
struct FindingRecord {
    id: i64,
    analysis_id: i64,
    fingerprint: String,
    backend: String,
    rule: String,
    category: String,
    severity: String,
    path: String,
    start_line: i64,
    end_line: i64,
    message: String,
    help_url: Option<String>,
    is_new: i64,
    is_fixed: i64,
    in_tests: i64,
}

impl From<FindingRecord> for FindingRow {
    fn from(r: FindingRecord) -> FindingRow {
        FindingRow {
            id: r.id,
            analysis_id: r.analysis_id,
            fingerprint: r.fingerprint,
            backend: r.backend,
            rule: r.rule,
            category: r.category,
            severity: r.severity,
            path: r.path,
            start_line: r.start_line,
            end_line: r.end_line,
            message: r.message,
            help_url: r.help_url,
            is_new: r.is_new != 0,
            is_fixed: r.is_fixed != 0,
            in_tests: r.in_tests != 0,
        }
    }
}
