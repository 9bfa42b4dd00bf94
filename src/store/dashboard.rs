//! What the dashboard reads across many projects at once: the organisation's totals (projects
//! per grade and per gate state) and each project's open critical security findings — each one
//! grouped query over the projects' latest default-branch analyses (the pointer
//! `record_for_dashboard` keeps), never one query per project — and the base scores of a page
//! of analyses (one query for the page).

use super::{Store, Visible};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The organisation at a glance: the projects a reader may see, by grade and gate state of
/// their latest default-branch analysis. Archived projects (removed from the App) are counted
/// apart and in nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Projects not archived.
    pub projects: i64,
    pub archived: i64,
    /// Projects per grade (`A` … `F`).
    pub grades: BTreeMap<String, i64>,
    /// Projects without a graded analysis yet.
    pub ungraded: i64,
    /// Projects per gate verdict (`success`, `failure`, `neutral`).
    pub verdicts: BTreeMap<String, i64>,
}

/// Most analyses [`Store::base_scores`] reads at once.
const MAX_IDS: usize = 500;

impl Store {
    /// Totals over every project `visible` allows: one grouped query.
    pub async fn organisation_totals(&self, visible: &Visible) -> Result<Totals> {
        let sql = format!(
            "SELECT a.grade, a.verdict,
                    CASE WHEN p.archived_at IS NULL THEN 0 ELSE 1 END AS archived, COUNT(*)
             FROM projects p LEFT JOIN analyses a ON a.id = p.latest_analysis_id
             WHERE {}
             GROUP BY a.grade, a.verdict, CASE WHEN p.archived_at IS NULL THEN 0 ELSE 1 END",
            visible.sql()
        );
        let rows: Vec<(Option<String>, Option<String>, i64, i64)> = sqlx::query_as(&sql)
            .fetch_all(&self.pool)
            .await
            .context("counting projects by grade")?;
        let mut t = Totals::default();
        for (grade, verdict, archived, n) in rows {
            if archived != 0 {
                t.archived += n;
                continue;
            }
            t.projects += n;
            match grade {
                Some(g) => *t.grades.entry(g).or_default() += n,
                None => t.ungraded += n,
            }
            if let Some(v) = verdict {
                *t.verdicts.entry(v).or_default() += n;
            }
        }
        Ok(t)
    }

    /// Open security findings of critical or blocker severity on each visible project's
    /// latest default-branch analysis, by project id (projects without any are absent): one
    /// grouped query.
    pub async fn open_critical_security(&self, visible: &Visible) -> Result<HashMap<i64, i64>> {
        let sql = format!(
            "SELECT p.id, COUNT(*) FROM projects p
               JOIN findings f ON f.analysis_id = p.latest_analysis_id
             WHERE {} AND f.is_fixed = 0 AND f.category = 'security'
               AND f.severity IN ('critical', 'blocker')
             GROUP BY p.id",
            visible.sql()
        );
        let rows: Vec<(i64, i64)> = sqlx::query_as(&sql)
            .fetch_all(&self.pool)
            .await
            .context("counting open critical security findings")?;
        Ok(rows.into_iter().collect())
    }

    /// The base scores (what each analysis was compared with) of up to 500 analyses, by id:
    /// one query. Analyses without a base are absent.
    pub async fn base_scores(&self, ids: &[i64]) -> Result<HashMap<i64, f64>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        // Integers only: safe to inline.
        let list = ids
            .iter()
            .take(MAX_IDS)
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!("SELECT id, details FROM analyses WHERE id IN ({list})");
        let rows: Vec<(i64, Option<String>)> = sqlx::query_as(&sql)
            .fetch_all(&self.pool)
            .await
            .context("reading base scores")?;
        #[derive(Deserialize)]
        struct Base {
            base_score: Option<f64>,
        }
        Ok(rows
            .into_iter()
            .filter_map(|(id, details)| {
                let base: Base = serde_json::from_str(details.as_deref()?).ok()?;
                Some((id, base.base_score?))
            })
            .collect())
    }
}
