//! `/`: the ecosystem — every project the reader may see, 50 a page (the store's id cursor,
//! "next" links), each with its grade, score, a sparkline of its last default-branch scores,
//! its gate state, open findings by severity and when it was last analysed; sorted within the
//! page by name, grade, score or last analysis (`?sort=`, `-` reverses), filtered by name
//! (`?name=`); and the organisation's totals (projects per grade and gate state) above.

use super::charts::sparkline;
use super::view::{finish, query, score_text, when, PageResult, Params, When};
use super::{render, Page};
use crate::store::{ProjectSummary, SeverityCounts, Totals};
use crate::web::auth::Principal;
use crate::web::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use std::cmp::Ordering;
use std::sync::Arc;

/// Projects a page lists.
pub const PAGE_SIZE: i64 = 50;

/// How a page is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Grade,
    Score,
    Analysed,
}

impl SortKey {
    const ALL: [SortKey; 4] = [
        SortKey::Name,
        SortKey::Grade,
        SortKey::Score,
        SortKey::Analysed,
    ];

    fn as_str(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Grade => "grade",
            SortKey::Score => "score",
            SortKey::Analysed => "analysed",
        }
    }

    fn label(self) -> &'static str {
        match self {
            SortKey::Name => "Project",
            SortKey::Grade => "Grade",
            SortKey::Score => "Score",
            SortKey::Analysed => "Last analysed",
        }
    }
}

/// `name`, `-score`, …: the key and whether it is reversed. Unknown keys sort by name.
pub fn parse_sort(s: Option<&str>) -> (SortKey, bool) {
    let s = s.unwrap_or("name");
    let (reversed, key) = match s.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, s),
    };
    let key = SortKey::ALL
        .into_iter()
        .find(|k| k.as_str() == key)
        .unwrap_or(SortKey::Name);
    (key, reversed)
}

/// Sorts in each key's natural direction — names A→Z, best grade first, highest score first,
/// most recently analysed first; projects without a value last — reversed when asked. Ties go
/// by name.
pub fn sort_projects(projects: &mut [ProjectSummary], key: SortKey, reversed: bool) {
    fn missing_last<T: PartialOrd>(a: Option<T>, b: Option<T>, better_first: bool) -> Ordering {
        match (a, b) {
            (Some(a), Some(b)) => {
                let o = a.partial_cmp(&b).unwrap_or(Ordering::Equal);
                if better_first {
                    o.reverse()
                } else {
                    o
                }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
    projects.sort_by(|a, b| {
        let primary = match key {
            SortKey::Name => Ordering::Equal,
            // "A" < "B": the best grade sorts first in text order.
            SortKey::Grade => missing_last(a.grade.as_deref(), b.grade.as_deref(), false),
            SortKey::Score => missing_last(a.score, b.score, true),
            SortKey::Analysed => missing_last(a.last_analysed_at, b.last_analysed_at, true),
        };
        let o = primary.then_with(|| a.full_name.to_lowercase().cmp(&b.full_name.to_lowercase()));
        if reversed {
            o.reverse()
        } else {
            o
        }
    });
}

#[derive(Serialize)]
struct Row {
    id: i64,
    full_name: String,
    archived: bool,
    grade: Option<String>,
    score: String,
    sparkline: String,
    verdict: Option<String>,
    open: SeverityCounts,
    last_analysed: Option<When>,
}

#[derive(Serialize)]
struct Column {
    label: &'static str,
    href: String,
    /// `ascending`/`descending` on the sorted column, for `aria-sort`.
    sorted: Option<&'static str>,
    numeric: bool,
}

#[derive(Serialize)]
struct GradeCount {
    grade: String,
    count: i64,
}

pub async fn page(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    params: Params,
) -> Response {
    let result = build(&state, &principal, &params).await;
    finish(&state, &principal, result)
}

async fn build(state: &AppState, principal: &Principal, params: &Params) -> PageResult {
    let cursor = params.cursor("cursor")?;
    let name = params.get("name").map(str::to_owned);
    let sort = params.get("sort").map(str::to_owned);
    let (key, reversed) = parse_sort(sort.as_deref());
    let store = &state.store;
    let mut projects = store
        .list_projects(&principal.visible, name.as_deref(), cursor, Some(PAGE_SIZE))
        .await?;
    // The cursor is the last id of this page in the store's order, before sorting.
    let next = (projects.len() as i64 == PAGE_SIZE)
        .then(|| projects.iter().map(|p| p.id).max())
        .flatten()
        .map(|last| {
            query(&[
                ("name", name.clone()),
                ("sort", sort.clone()),
                ("cursor", Some(last.to_string())),
            ])
        });
    let first = cursor.map(|_| query(&[("name", name.clone()), ("sort", sort.clone())]));
    sort_projects(&mut projects, key, reversed);
    let totals: Totals = store.organisation_totals(&principal.visible).await?;

    let columns: Vec<Column> = SortKey::ALL
        .into_iter()
        .map(|k| {
            let here = k == key;
            // Following the sorted column's link reverses it; the others sort naturally.
            let target = if here && !reversed {
                format!("-{}", k.as_str())
            } else {
                k.as_str().to_owned()
            };
            Column {
                label: k.label(),
                href: query(&[
                    ("name", name.clone()),
                    ("sort", Some(target)),
                    ("cursor", cursor.map(|c| c.to_string())),
                ]),
                sorted: here.then(|| {
                    let natural_ascending = k == SortKey::Name;
                    if natural_ascending != reversed {
                        "ascending"
                    } else {
                        "descending"
                    }
                }),
                numeric: matches!(k, SortKey::Score),
            }
        })
        .collect();
    let grades: Vec<GradeCount> = ["A", "B", "C", "D", "F"]
        .iter()
        .map(|g| GradeCount {
            grade: (*g).to_owned(),
            count: totals.grades.get(*g).copied().unwrap_or(0),
        })
        .collect();
    let rows: Vec<Row> = projects
        .into_iter()
        .map(|p| Row {
            id: p.id,
            sparkline: sparkline(&p.sparkline),
            score: score_text(p.score),
            last_analysed: when(p.last_analysed_at),
            full_name: p.full_name,
            archived: p.archived,
            grade: p.grade,
            verdict: p.verdict,
            open: p.open,
        })
        .collect();
    let failing = totals.verdicts.get("failure").copied().unwrap_or(0);
    let passing = totals.verdicts.get("success").copied().unwrap_or(0);
    Ok(render(
        state,
        StatusCode::OK,
        "ecosystem.html",
        &Page::of(state, principal, "Projects"),
        serde_json::json!({
            "rows": rows,
            "columns": columns,
            "totals": totals,
            "grades": grades,
            "failing": failing,
            "passing": passing,
            "sorted_by": format!(
                "{}{}",
                key.label().to_lowercase(),
                if reversed { ", reversed" } else { "" }
            ),
            "name": name,
            "sort": sort,
            "next": next,
            "first": first,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, grade: Option<&str>, score: Option<f64>, at: Option<i64>) -> ProjectSummary {
        ProjectSummary {
            id: 1,
            full_name: name.into(),
            default_branch: "main".into(),
            installation_id: None,
            archived: false,
            latest_analysis_id: None,
            grade: grade.map(str::to_owned),
            score,
            verdict: None,
            last_analysed_at: at,
            open: SeverityCounts::default(),
            sparkline: Vec::new(),
        }
    }

    fn names(v: &[ProjectSummary]) -> Vec<&str> {
        v.iter().map(|p| p.full_name.as_str()).collect()
    }

    #[test]
    fn sorting_within_a_page() {
        let mut v = vec![
            p("acme/b", Some("C"), Some(70.0), Some(3)),
            p("acme/a", Some("A"), Some(95.0), Some(1)),
            p("acme/new", None, None, None),
            p("Acme/c", Some("A"), Some(91.0), Some(2)),
        ];
        sort_projects(&mut v, SortKey::Name, false);
        assert_eq!(names(&v), ["acme/a", "acme/b", "Acme/c", "acme/new"]);
        sort_projects(&mut v, SortKey::Grade, false);
        assert_eq!(names(&v), ["acme/a", "Acme/c", "acme/b", "acme/new"]);
        sort_projects(&mut v, SortKey::Score, false);
        assert_eq!(names(&v), ["acme/a", "Acme/c", "acme/b", "acme/new"]);
        sort_projects(&mut v, SortKey::Analysed, false);
        assert_eq!(names(&v), ["acme/b", "Acme/c", "acme/a", "acme/new"]);
        sort_projects(&mut v, SortKey::Score, true);
        assert_eq!(names(&v), ["acme/new", "acme/b", "Acme/c", "acme/a"]);
        assert_eq!(parse_sort(Some("-score")), (SortKey::Score, true));
        assert_eq!(parse_sort(Some("bogus")), (SortKey::Name, false));
        assert_eq!(parse_sort(None), (SortKey::Name, false));
    }
}
