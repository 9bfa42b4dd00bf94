//! `/compliance` (and `.csv`, `.json`): each project the reader may see against the
//! `[compliance]` rules of the server policy in force — the one set through the app, else the
//! policy file's — compliant or not, and why. [`report`] is what the REST API serves too.
//! Archived projects (removed from the App) are not governed and not listed.

use super::view::{finish, iso_datetime, score_text, when, PageResult, When};
use super::{render, Page};
use crate::config::Policy;
use crate::domain::compliance::{violations, CompliancePolicy, Standing};
use crate::domain::score::Grade;
use crate::store::{Visible, MAX_PAGE};
use crate::web::auth::Principal;
use crate::web::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;

/// Most projects a report covers (pages of the store's cursor).
const MAX_PROJECTS: usize = 20_000;

/// One project against the compliance rules.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComplianceRow {
    pub project_id: i64,
    pub full_name: String,
    /// The grade of the latest default-branch analysis.
    pub grade: Option<String>,
    pub score: Option<f64>,
    /// Unix milliseconds.
    pub last_analysed_at: Option<i64>,
    /// Open security findings of critical or blocker severity on the default branch.
    pub open_critical_security: i64,
    pub compliant: bool,
    /// Each rule broken, in a sentence; empty when compliant.
    pub violations: Vec<String>,
}

/// The policy in force and, for people, where it comes from.
pub async fn policy_in_force(state: &AppState) -> anyhow::Result<(Policy, &'static str)> {
    let (policy, source) = crate::config::policy_in_force(&state.store, &state.policy_file).await?;
    Ok((policy, source.describe()))
}

/// Every visible, not archived project against the policy in force, by name.
pub async fn report(state: &AppState, visible: &Visible) -> anyhow::Result<Vec<ComplianceRow>> {
    let (policy, _) = policy_in_force(state).await?;
    rows(state, visible, &policy.compliance).await
}

async fn rows(
    state: &AppState,
    visible: &Visible,
    policy: &CompliancePolicy,
) -> anyhow::Result<Vec<ComplianceRow>> {
    let store = &state.store;
    let critical = store.open_critical_security(visible).await?;
    let now = crate::store::now_ms();
    let mut out = Vec::new();
    let mut cursor = None;
    let mut seen = 0;
    loop {
        let page = store
            .list_projects(visible, None, cursor, Some(MAX_PAGE))
            .await?;
        seen += page.len();
        cursor = page.last().map(|p| p.id);
        let full = page.len() as i64 == MAX_PAGE;
        for p in page.into_iter().filter(|p| !p.archived) {
            let open_critical_security = critical.get(&p.id).copied().unwrap_or(0);
            let standing = Standing {
                grade: p.grade.as_deref().and_then(|g| g.parse::<Grade>().ok()),
                open_critical_security: open_critical_security.max(0) as u64,
                analysed_at: p.last_analysed_at,
            };
            let violations = violations(policy, &standing, now);
            out.push(ComplianceRow {
                project_id: p.id,
                full_name: p.full_name,
                grade: p.grade,
                score: p.score,
                last_analysed_at: p.last_analysed_at,
                open_critical_security,
                compliant: violations.is_empty(),
                violations,
            });
        }
        if !full || seen >= MAX_PROJECTS {
            break;
        }
    }
    out.sort_by_key(|r| r.full_name.to_lowercase());
    Ok(out)
}

/// A text field of a CSV record: a leading `=`, `+`, `-`, `@` (or tab, carriage return) gets a
/// `'` so that a spreadsheet does not run it as a formula; a field with a quote, comma or line
/// break is quoted, its quotes doubled (RFC 4180).
pub fn csv_text(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if guarded.contains(['"', ',', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// The report as CSV, one record per project, lines ending CRLF.
pub fn to_csv(rows: &[ComplianceRow]) -> String {
    let mut out = String::from(
        "project_id,full_name,grade,score,last_analysed_at,open_critical_security,compliant,violations\r\n",
    );
    for r in rows {
        let fields = [
            r.project_id.to_string(),
            csv_text(&r.full_name),
            csv_text(r.grade.as_deref().unwrap_or("")),
            r.score.map(|s| format!("{s:.1}")).unwrap_or_default(),
            r.last_analysed_at.map(iso_datetime).unwrap_or_default(),
            r.open_critical_security.to_string(),
            r.compliant.to_string(),
            csv_text(&r.violations.join("; ")),
        ];
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

#[derive(Serialize)]
struct RowView {
    row: ComplianceRow,
    score: String,
    last_analysed: Option<When>,
}

pub async fn page(State(state): State<Arc<AppState>>, principal: Principal) -> Response {
    let result = build(&state, &principal).await;
    finish(&state, &principal, result)
}

async fn build(state: &AppState, principal: &Principal) -> PageResult {
    let (policy, source) = policy_in_force(state).await?;
    let rows = rows(state, &principal.visible, &policy.compliance).await?;
    let compliant = rows.iter().filter(|r| r.compliant).count();
    let c = &policy.compliance;
    let mut rules = Vec::new();
    if let Some(g) = c.min_grade {
        rules.push(format!("grade {g} or better"));
    }
    if c.no_open_critical_security {
        rules.push("no open critical or blocker security finding".to_owned());
    }
    if let Some(d) = c.max_age_days {
        rules.push(format!("analysed within the last {d} days"));
    }
    let views: Vec<RowView> = rows
        .into_iter()
        .map(|row| RowView {
            score: score_text(row.score),
            last_analysed: when(row.last_analysed_at),
            row,
        })
        .collect();
    Ok(render(
        state,
        StatusCode::OK,
        "compliance.html",
        &Page::of(state, principal, "Compliance"),
        serde_json::json!({
            "total": views.len(),
            "rows": views,
            "compliant": compliant,
            "rules": rules,
            "source": source,
        }),
    ))
}

pub async fn csv(State(state): State<Arc<AppState>>, principal: Principal) -> Response {
    let result: PageResult = async {
        let rows = report(&state, &principal.visible).await?;
        Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"compliance.csv\"",
                ),
                (header::CACHE_CONTROL, "no-store"),
            ],
            to_csv(&rows),
        )
            .into_response())
    }
    .await;
    finish(&state, &principal, result)
}

pub async fn json(State(state): State<Arc<AppState>>, principal: Principal) -> Response {
    let result: PageResult = async {
        let (policy, source) = policy_in_force(&state).await?;
        let rows = rows(&state, &principal.visible, &policy.compliance).await?;
        Ok((
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(serde_json::json!({
                "policy": policy.compliance,
                "policy_source": source,
                "projects": rows,
            })),
        )
            .into_response())
    }
    .await;
    finish(&state, &principal, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_guarded() {
        assert_eq!(csv_text("acme/widgets"), "acme/widgets");
        assert_eq!(csv_text("a,b"), "\"a,b\"");
        assert_eq!(csv_text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_text("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_text("=1+2"), "'=1+2");
        assert_eq!(csv_text("+1"), "'+1");
        assert_eq!(csv_text("-1"), "'-1");
        assert_eq!(csv_text("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(
            csv_text("=HYPERLINK(\"x\",\"y\")"),
            "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\""
        );
        let row = ComplianceRow {
            project_id: 7,
            full_name: "=evil,\"co\"\nx".into(),
            grade: Some("D".into()),
            score: Some(61.0),
            last_analysed_at: Some(0),
            open_critical_security: 2,
            compliant: false,
            violations: vec!["grade D is below the minimum C".into(), "2 open".into()],
        };
        assert_eq!(
            to_csv(&[row]),
            "project_id,full_name,grade,score,last_analysed_at,open_critical_security,compliant,violations\r\n\
             7,\"'=evil,\"\"co\"\"\nx\",D,61.0,1970-01-01T00:00:00Z,2,false,grade D is below the minimum C; 2 open\r\n"
        );
    }
}
