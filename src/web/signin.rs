//! Signing in and out. With the App's OAuth client configured, sign-in is GitHub's web flow
//! (`state` bound to a signed cookie); the person's installations decide what they see. Without
//! it (a local trial) a one-time link that `serve` prints signs in a local admin.

use super::auth::{cookie, Principal};
use super::pages::{render, Page};
use super::AppState;
use crate::config::OAuthSettings;
use crate::domain::status::Role;
use crate::store::now_ms;
use anyhow::{Context, Result};
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::sync::Arc;

const STATE_COOKIE: &str = "fq_oauth";
/// The login a one-time link signs in.
pub const LOCAL_ADMIN: &str = "local-admin";
/// How long a printed sign-in link stays usable.
pub const LINK_MS: i64 = 24 * 3600 * 1000;

/// A new one-time sign-in path (`/signin/token/…`), kept in the database until used.
pub async fn new_link(store: &crate::store::Store) -> Result<String> {
    let mut bytes = [0u8; 24];
    openssl::rand::rand_bytes(&mut bytes).context("random token")?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    store
        .create_signin_token(&token, now_ms() + LINK_MS)
        .await?;
    Ok(format!("/signin/token/{token}"))
}

/// Only a path on this site: never an absolute or protocol-relative URL (an open redirect).
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/".into(),
    }
}

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// `/signin`: to GitHub when OAuth is configured, else how to get a link.
pub async fn start(State(state): State<Arc<AppState>>, Query(q): Query<Next>) -> Response {
    let next = local_path(q.next.as_deref());
    let Some(oauth) = state.auth.oauth() else {
        return render(
            &state,
            StatusCode::OK,
            "signin.html",
            &Page::anonymous("Sign in"),
            minijinja::context! {},
        );
    };
    let mut raw = [0u8; 16];
    if openssl::rand::rand_bytes(&mut raw).is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "no randomness\n").into_response();
    }
    let nonce: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let signed = state
        .auth
        .sign("oauth", format!("{nonce} {next}").as_bytes());
    let mut url = format!(
        "{}/login/oauth/authorize?client_id={}&state={nonce}",
        oauth.web_url,
        super::auth::encode_component(&oauth.client_id),
    );
    // Without a public URL GitHub sends the person to the App's registered callback URL.
    if let Some(callback) = callback_url(&state) {
        url.push_str(&format!(
            "&redirect_uri={}",
            super::auth::encode_component(&callback)
        ));
    }
    (
        [(
            header::SET_COOKIE,
            state.auth.cookie(STATE_COOKIE, &signed, 600),
        )],
        Redirect::to(&url),
    )
        .into_response()
}

fn callback_url(state: &AppState) -> Option<String> {
    state
        .public_url
        .as_deref()
        .map(|u| format!("{u}/signin/callback"))
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

fn refused(state: &AppState, status: StatusCode, why: &str) -> Response {
    render(
        state,
        status,
        "message.html",
        &Page::anonymous("Sign-in failed"),
        minijinja::context! { heading => "Sign-in failed", message => why, link => "/signin" },
    )
}

/// `/signin/callback`: GitHub sends the person back with a code and our `state`.
pub async fn callback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    let Some(oauth) = state.auth.oauth() else {
        return refused(
            &state,
            StatusCode::NOT_FOUND,
            "GitHub sign-in is not configured here",
        );
    };
    if let Some(e) = q.error {
        return refused(
            &state,
            StatusCode::BAD_REQUEST,
            &format!("GitHub said: {e}"),
        );
    }
    let (Some(code), Some(returned)) = (q.code, q.state) else {
        return refused(
            &state,
            StatusCode::BAD_REQUEST,
            "the callback lacks `code` or `state`",
        );
    };
    let expected = cookie(&headers, STATE_COOKIE)
        .and_then(|c| state.auth.unsign("oauth", c))
        .and_then(|p| String::from_utf8(p).ok());
    let Some((nonce, next)) = expected.as_deref().and_then(|s| s.split_once(' ')) else {
        return refused(
            &state,
            StatusCode::BAD_REQUEST,
            "the sign-in began elsewhere or long ago; start again",
        );
    };
    if nonce != returned {
        return refused(
            &state,
            StatusCode::BAD_REQUEST,
            "the `state` does not match this browser's sign-in",
        );
    }
    let who = match github_identity(&state, &oauth, &code).await {
        Ok(who) => who,
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "GitHub sign-in failed");
            return refused(
                &state,
                StatusCode::BAD_GATEWAY,
                "GitHub did not confirm who you are; try again",
            );
        }
    };
    match state.store.sign_in(&who.0, &who.1).await {
        Ok(user) => {
            tracing::info!(login = %user.login, installations = user.installations.len(), "signed in");
            signed_in(&state, &user.login, next)
        }
        Err(e) => super::error::ApiError::internal(e).into_response(),
    }
}

fn signed_in(state: &AppState, login: &str, next: &str) -> Response {
    (
        axum::response::AppendHeaders([
            (
                header::SET_COOKIE,
                state.auth.session_cookie(login, now_ms()),
            ),
            (header::SET_COOKIE, state.auth.cookie(STATE_COOKIE, "", 0)),
        ]),
        Redirect::to(&local_path(Some(next))),
    )
        .into_response()
}

/// The person's login and the installations of this App they can see, from their token
/// (used here and dropped: it is never stored).
async fn github_identity(
    state: &AppState,
    oauth: &OAuthSettings,
    code: &str,
) -> Result<(String, Vec<i64>)> {
    #[derive(Deserialize)]
    struct Token {
        access_token: Option<String>,
        error: Option<String>,
    }
    let callback = callback_url(state);
    let mut form = vec![
        ("client_id", oauth.client_id.as_str()),
        ("client_secret", oauth.client_secret.expose_secret()),
        ("code", code),
    ];
    if let Some(c) = &callback {
        form.push(("redirect_uri", c));
    }
    let token: Token = state
        .http
        .post(format!("{}/login/oauth/access_token", oauth.web_url))
        .header(header::ACCEPT, "application/json")
        .form(&form)
        .send()
        .await
        .context("exchanging the code")?
        .error_for_status()
        .context("exchanging the code")?
        .json()
        .await
        .context("reading the token")?;
    let token = SecretString::from(
        token
            .access_token
            .with_context(|| format!("no token: {}", token.error.unwrap_or_default()))?,
    );
    let get = |path: &str| {
        state
            .http
            .get(format!("{}{path}", state.api_url))
            .bearer_auth(token.expose_secret())
            .header(header::ACCEPT, "application/vnd.github+json")
            .header(header::USER_AGENT, "flext-quality")
    };
    #[derive(Deserialize)]
    struct User {
        login: String,
    }
    let user: User = get("/user")
        .send()
        .await?
        .error_for_status()
        .context("reading the user")?
        .json()
        .await?;
    #[derive(Deserialize)]
    struct Installations {
        installations: Vec<Installation>,
    }
    #[derive(Deserialize)]
    struct Installation {
        id: i64,
    }
    let mut ids = Vec::new();
    // At most 10 pages of 100: an organisation's own App is installed far fewer times.
    for page in 1..=10 {
        let got: Installations = get(&format!("/user/installations?per_page=100&page={page}"))
            .send()
            .await?
            .error_for_status()
            .context("listing the user's installations")?
            .json()
            .await?;
        let n = got.installations.len();
        ids.extend(got.installations.into_iter().map(|i| i.id));
        if n < 100 {
            break;
        }
    }
    Ok((user.login, ids))
}

/// `/signin/token/{token}`: a one-time link signs in the local admin.
pub async fn token(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    let used = match state.store.consume_signin_token(&token).await {
        Ok(used) => used,
        Err(e) => return super::error::ApiError::internal(e).into_response(),
    };
    if !used {
        return refused(
            &state,
            StatusCode::FORBIDDEN,
            "this sign-in link was used already or has expired; run `flext-quality sign-in-link` for a new one",
        );
    }
    let admin = async {
        state.store.sign_in(LOCAL_ADMIN, &[]).await?;
        if state.store.user(LOCAL_ADMIN).await?.map(|u| u.role) != Some(Role::Admin) {
            state
                .store
                .grant_role("sign-in link", LOCAL_ADMIN, Role::Admin)
                .await?;
        }
        anyhow::Ok(())
    };
    if let Err(e) = admin.await {
        return super::error::ApiError::internal(e).into_response();
    }
    tracing::info!("signed in with a one-time link");
    signed_in(&state, LOCAL_ADMIN, "/")
}

#[derive(Deserialize)]
pub struct SignOut {
    #[serde(default)]
    csrf: String,
}

/// `POST /signout`.
pub async fn sign_out(
    State(state): State<Arc<AppState>>,
    principal: Principal,
    Form(form): Form<SignOut>,
) -> Response {
    if let Err(e) = principal.check_csrf(&state.auth, &form.csrf) {
        return e.into_response();
    }
    (
        [(
            header::SET_COOKIE,
            state.auth.cookie(super::auth::SESSION_COOKIE, "", 0),
        )],
        Redirect::to("/signin"),
    )
        .into_response()
}
