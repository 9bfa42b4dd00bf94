//! `/audit`: the audit log, newest first, 50 entries a page (the store's cursor) — who changed
//! what, when, from what to what. For admins only; anyone else gets a 403 page.

use super::view::{finish, query, when, PageResult, Params, Refusal, When};
use super::{render, Page};
use crate::domain::status::Role;
use crate::web::auth::Principal;
use crate::web::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use std::sync::Arc;

/// Entries a page shows.
const PAGE_SIZE: i64 = 50;
/// Longer values are folded away (a policy's whole text, say).
const SHORT: usize = 80;

/// 403 unless the principal is an admin.
pub fn require_admin(principal: &Principal, what: &str) -> Result<(), Refusal> {
    if principal.role == Role::Admin {
        Ok(())
    } else {
        Err(Refusal::forbidden(format!(
            "{what} is for admins; {} is a {}.",
            principal.actor,
            principal.role.as_str()
        )))
    }
}

#[derive(Serialize)]
struct Value {
    text: String,
    long: bool,
    /// The first line, cut short, for a long value's summary.
    summary: String,
}

fn value(v: Option<String>) -> Option<Value> {
    v.map(|text| {
        let first = text.lines().next().unwrap_or("");
        let mut summary: String = first.chars().take(40).collect();
        if summary.len() < text.len() {
            summary.push('…');
        }
        Value {
            long: text.chars().count() > SHORT || text.contains('\n'),
            summary,
            text,
        }
    })
}

#[derive(Serialize)]
struct Entry {
    id: i64,
    at: Option<When>,
    actor: String,
    action: String,
    target: String,
    before: Option<Value>,
    after: Option<Value>,
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
    require_admin(principal, "The audit log")?;
    let cursor = params.cursor("cursor")?;
    let entries = state.store.list_audit(cursor, PAGE_SIZE).await?;
    let next = (entries.len() as i64 == PAGE_SIZE)
        .then(|| entries.last().map(|e| e.id))
        .flatten()
        .map(|c| format!("/audit{}", query(&[("cursor", Some(c.to_string()))])));
    let entries: Vec<Entry> = entries
        .into_iter()
        .map(|e| Entry {
            id: e.id,
            at: when(Some(e.at)),
            actor: e.actor,
            action: e.action,
            target: e.target,
            before: value(e.before),
            after: value(e.after),
        })
        .collect();
    Ok(render(
        state,
        StatusCode::OK,
        "audit.html",
        &Page::of(state, principal, "Audit log"),
        serde_json::json!({
            "entries": entries,
            "next": next,
            "first": cursor.map(|_| "/audit"),
        }),
    ))
}
