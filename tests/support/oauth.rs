//! GitHub's OAuth web flow as the fake plays it: `/login/oauth/authorize` approves at once as
//! the person the test chose and sends the browser back with a one-time code;
//! `/login/oauth/access_token` swaps the code (with the right client secret and the same
//! `redirect_uri`) for a user token; `/user` and `/user/installations` answer for that token.
//! Refuses what GitHub refuses: a wrong secret, a reused or unknown code, a changed
//! `redirect_uri`, a missing or unknown token.

use super::fake_github::{json_response, lock, Shared};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;
use std::collections::HashMap;

#[derive(Default)]
pub(crate) struct OAuth {
    /// The OAuth client the App has: (client id, client secret, registered callback URL).
    pub(crate) client: Option<(String, String, String)>,
    /// Who approves the next authorization, and the installations they can see.
    pub(crate) person: Option<(String, Vec<u64>)>,
    /// Unused codes: code → (login, installations, redirect_uri given at authorize).
    codes: HashMap<String, (String, Vec<u64>, Option<String>)>,
    /// Issued user tokens: token → (login, installations).
    tokens: HashMap<String, (String, Vec<u64>)>,
    next: u64,
    /// Refusals, for tests to look at.
    pub(crate) refused: Vec<String>,
}

fn form(raw: &[u8]) -> HashMap<String, String> {
    url_decode_pairs(std::str::from_utf8(raw).unwrap_or(""))
}

fn url_decode_pairs(s: &str) -> HashMap<String, String> {
    s.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn refuse(state: &Shared, status: u16, why: &str) -> Response {
    lock(state).oauth.refused.push(why.to_owned());
    json_response(
        status,
        &json!({"error": "bad_verification_code", "error_description": why}),
    )
}

/// Answers the OAuth routes; `None` for any other path.
pub(crate) fn route(
    state: &Shared,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    raw: &[u8],
) -> Option<Response> {
    match (method, path) {
        ("GET", "/login/oauth/authorize") => Some(authorize(state, query)),
        ("POST", "/login/oauth/access_token") => Some(access_token(state, raw)),
        ("GET", "/user") | ("GET", "/user/installations") => {
            let token = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("token "))
                })?;
            if !token.starts_with("ghu_") {
                return None; // an installation token: the API's own rules apply
            }
            let who = lock(state).oauth.tokens.get(token).cloned();
            let Some((login, installations)) = who else {
                return Some(refuse(state, 401, "Bad credentials"));
            };
            Some(if path == "/user" {
                json_response(200, &json!({"login": login, "id": 1, "type": "User"}))
            } else {
                let list: Vec<_> = installations
                    .iter()
                    .map(|id| json!({"id": id, "app_id": 1}))
                    .collect();
                json_response(
                    200,
                    &json!({"total_count": list.len(), "installations": list}),
                )
            })
        }
        _ => None,
    }
}

fn authorize(state: &Shared, query: &str) -> Response {
    let q = url_decode_pairs(query);
    let mut st = lock(state);
    let Some((client_id, _, registered)) = st.oauth.client.clone() else {
        drop(st);
        return refuse(state, 404, "no OAuth client");
    };
    if q.get("client_id") != Some(&client_id) {
        drop(st);
        return refuse(state, 404, "unknown client_id");
    }
    let Some((login, installations)) = st.oauth.person.clone() else {
        drop(st);
        return refuse(state, 403, "nobody is signed in to the fake GitHub");
    };
    let redirect = q.get("redirect_uri").cloned();
    if let Some(r) = &redirect {
        if !r.starts_with(&registered) {
            drop(st);
            return refuse(
                state,
                400,
                "redirect_uri is not the registered callback URL",
            );
        }
    }
    st.oauth.next += 1;
    let code = format!("code{}", st.oauth.next);
    st.oauth
        .codes
        .insert(code.clone(), (login, installations, redirect.clone()));
    let back = redirect.unwrap_or(registered);
    let state_param = q.get("state").cloned().unwrap_or_default();
    Response::builder()
        .status(302)
        .header(
            "location",
            format!("{back}?code={code}&state={state_param}"),
        )
        .body(axum::body::Body::empty())
        .unwrap()
}

fn access_token(state: &Shared, raw: &[u8]) -> Response {
    let f = form(raw);
    let mut st = lock(state);
    let Some((client_id, secret, _)) = st.oauth.client.clone() else {
        drop(st);
        return refuse(state, 404, "no OAuth client");
    };
    if f.get("client_id") != Some(&client_id) || f.get("client_secret") != Some(&secret) {
        drop(st);
        return refuse(state, 401, "incorrect_client_credentials");
    }
    let code = f.get("code").cloned().unwrap_or_default();
    let Some((login, installations, redirect)) = st.oauth.codes.remove(&code) else {
        drop(st);
        return refuse(state, 400, "The code passed is incorrect or expired.");
    };
    if redirect.is_some() && f.get("redirect_uri") != redirect.as_ref() {
        drop(st);
        return refuse(
            state,
            400,
            "The redirect_uri MUST match the registered callback URL.",
        );
    }
    st.oauth.next += 1;
    let token = format!("ghu_{:036}", st.oauth.next);
    st.oauth
        .tokens
        .insert(token.clone(), (login, installations));
    json_response(
        200,
        &json!({"access_token": token, "token_type": "bearer", "scope": ""}),
    )
}
