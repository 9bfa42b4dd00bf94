//! `/settings/api-keys`: the API keys (admins only) — listed by name, role and first
//! characters (the key itself is never stored), created by a form (the new key shown once, on
//! the answer to that POST) and revoked by another; both forms carry the session's CSRF token
//! and both changes go to the audit log (the store records them with the change).

use super::audit::require_admin;
use super::view::{finish, parse_id, when, PageResult, Params, Refusal, When};
use super::{render, Page};
use crate::domain::status::Role;
use crate::store::ApiKey;
use crate::web::auth::Principal;
use crate::web::AppState;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Serialize;
use std::sync::Arc;

/// Longest key name accepted.
const MAX_NAME: usize = 100;

#[derive(Serialize)]
struct KeyView {
    key: ApiKey,
    created: Option<When>,
    last_used: Option<When>,
    revoked: Option<When>,
}

/// A key just made: shown on this answer only.
#[derive(Serialize)]
struct Created {
    name: String,
    role: String,
    key: String,
}

type FormFields = Result<Form<Vec<(String, String)>>, FormRejection>;

fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The form's fields after the CSRF token and the admin role are checked.
fn checked(
    state: &AppState,
    principal: &Principal,
    form: FormFields,
) -> Result<Vec<(String, String)>, Refusal> {
    let form = form.map(|f| f.0).unwrap_or_default();
    principal.check_csrf(&state.auth, field(&form, "csrf"))?;
    require_admin(principal, "Managing API keys")?;
    Ok(form)
}

async fn render_page(
    state: &AppState,
    principal: &Principal,
    status: StatusCode,
    created: Option<Created>,
    notice: Option<String>,
) -> PageResult {
    let keys: Vec<KeyView> = state
        .store
        .list_api_keys()
        .await?
        .into_iter()
        .rev()
        .map(|key| KeyView {
            created: when(Some(key.created_at)),
            last_used: when(key.last_used_at),
            revoked: when(key.revoked_at),
            key,
        })
        .collect();
    Ok(render(
        state,
        status,
        "api_keys.html",
        &Page::of(state, principal, "API keys"),
        serde_json::json!({
            "keys": keys,
            "created": created,
            "notice": notice,
            "roles": Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        }),
    ))
}

/// `GET /settings/api-keys`.
pub async fn page(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    params: Params,
) -> Response {
    let result = async {
        require_admin(&principal, "Managing API keys")?;
        let notice = params
            .get("revoked")
            .and_then(|id| id.parse::<i64>().ok())
            .map(|id| format!("Key {id} is revoked: requests with it are refused from now on."));
        render_page(&state, &principal, StatusCode::OK, None, notice).await
    }
    .await;
    finish(&state, &principal, result)
}

/// `POST /settings/api-keys`: `name`, `role`, `csrf`.
pub async fn create(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    form: FormFields,
) -> Response {
    let result = async {
        let form = checked(&state, &principal, form)?;
        let name = field(&form, "name").trim();
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control)
        {
            return Err(Refusal::bad_request(format!(
                "A key needs a name of 1 to {MAX_NAME} characters on one line."
            )));
        }
        let role: Role = field(&form, "role")
            .parse()
            .map_err(|_| Refusal::bad_request("The role must be viewer, maintainer or admin."))?;
        let (listed, key) = state
            .store
            .create_api_key(&principal.actor, name, role)
            .await?;
        tracing::info!(id = listed.id, name = %listed.name, role = role.as_str(), actor = %principal.actor, "API key created");
        let created = Created {
            name: listed.name,
            role: listed.role,
            key,
        };
        render_page(&state, &principal, StatusCode::CREATED, Some(created), None).await
    }
    .await;
    finish(&state, &principal, result)
}

/// `POST /settings/api-keys/{id}/revoke`: `csrf`.
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    Path(id): Path<String>,
    form: FormFields,
) -> Response {
    let result = async {
        checked(&state, &principal, form)?;
        let id = parse_id(&id, "an API key")?;
        if !state.store.revoke_api_key(&principal.actor, id).await? {
            return Err(Refusal::not_found(format!(
                "There is no API key {id} that is not revoked already."
            )));
        }
        tracing::info!(id, actor = %principal.actor, "API key revoked");
        Ok(Redirect::to(&format!("/settings/api-keys?revoked={id}")).into_response())
    }
    .await;
    finish(&state, &principal, result)
}
