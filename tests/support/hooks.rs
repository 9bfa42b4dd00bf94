//! The fake GitHub's record of the App's webhook deliveries (`GET /app/hook/deliveries`,
//! newest first, paginated by cursor in a `Link` header) and redelivery (`POST
//! /app/hook/deliveries/{id}/attempts`), which really sends the delivery again — same GUID,
//! signed with the webhook secret — to the app's webhook URL, and records that attempt too.

use super::fake_github::{gh_error, json_response, State};
use super::openapi::format_rfc3339;
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::HashMap;

/// One delivery GitHub made (or tried to make).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: u64,
    pub guid: String,
    pub event: String,
    pub action: Option<String>,
    pub payload: Value,
    pub status_code: u16,
    pub redelivery: bool,
}

/// What the hook endpoints keep.
#[derive(Default)]
pub(crate) struct Hooks {
    pub(crate) deliveries: Vec<Delivery>,
    pub(crate) next_id: u64,
    /// Where deliveries go and the secret that signs them.
    pub(crate) target: Option<(String, String)>,
    /// Ids GitHub was asked to redeliver, in order.
    pub(crate) redeliveries: Vec<u64>,
}

impl Hooks {
    pub(crate) fn record(
        &mut self,
        event: &str,
        payload: &Value,
        status_code: u16,
        guid: &str,
        redelivery: bool,
    ) -> u64 {
        self.next_id = self.next_id.max(12_000_000_000) + 1;
        let id = self.next_id;
        self.deliveries.push(Delivery {
            id,
            guid: guid.to_owned(),
            event: event.to_owned(),
            action: payload["action"].as_str().map(str::to_owned),
            payload: payload.clone(),
            status_code,
            redelivery,
        });
        id
    }
}

fn item(d: &Delivery) -> Value {
    json!({
        "id": d.id,
        "guid": d.guid,
        "delivered_at": format_rfc3339(super::unix_now()),
        "redelivery": d.redelivery,
        "duration": 0.05,
        "status": if (200..300).contains(&d.status_code) { "OK" } else { "Invalid HTTP Response: 502" },
        "status_code": d.status_code,
        "event": d.event,
        "action": d.action,
        "installation_id": d.payload["installation"]["id"],
        "repository_id": d.payload["repository"]["id"],
    })
}

/// Sends a delivery to the app as GitHub would; the status the app answered.
async fn send(url: String, secret: String, event: String, guid: String, payload: Value) -> u16 {
    let body = serde_json::to_vec(&payload).unwrap();
    let signature =
        flext_quality::github::signature::sign(&secrecy::SecretString::from(secret), &body);
    reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/json")
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", guid)
        .header("X-Hub-Signature-256", signature)
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(502)
}

pub(crate) fn route(
    st: &mut State,
    state: &super::fake_github::Shared,
    method: &str,
    segs: &[&str],
    q: &HashMap<String, String>,
    doc: &str,
) -> Option<Response> {
    let resp = match (method, segs) {
        ("GET", ["app", "hook", "deliveries"]) => {
            let per_page = q
                .get("per_page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(30usize)
                .clamp(1, 100);
            // The cursor is the id the page starts below (newest first).
            let below: u64 = q
                .get("cursor")
                .and_then(|c| c.strip_prefix("v1_"))
                .and_then(|c| c.parse().ok())
                .unwrap_or(u64::MAX);
            let mut newest_first: Vec<&Delivery> = st.hooks.deliveries.iter().collect();
            newest_first.sort_by_key(|d| std::cmp::Reverse(d.id));
            let page: Vec<&Delivery> = newest_first
                .into_iter()
                .filter(|d| d.id < below)
                .take(per_page + 1)
                .collect();
            let more = page.len() > per_page;
            let page = &page[..page.len().min(per_page)];
            let mut r = json_response(200, &Value::Array(page.iter().map(|d| item(d)).collect()));
            if let (true, Some(last)) = (more, page.last()) {
                let link = format!(
                    "<{}/app/hook/deliveries?per_page={per_page}&cursor=v1_{}>; rel=\"next\"",
                    st.base_url, last.id
                );
                r.headers_mut().insert("link", link.parse().unwrap());
            }
            r
        }
        ("POST", ["app", "hook", "deliveries", id, "attempts"]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let Some(d) = st.hooks.deliveries.iter().find(|d| d.id == id).cloned() else {
                return Some(gh_error(404, "Not Found", doc));
            };
            let Some((url, secret)) = st.hooks.target.clone() else {
                return Some(gh_error(
                    422,
                    "the fake has no webhook target (set_hook_target)",
                    doc,
                ));
            };
            st.hooks.redeliveries.push(id);
            let state = state.clone();
            tokio::spawn(async move {
                let status = send(
                    url,
                    secret,
                    d.event.clone(),
                    d.guid.clone(),
                    d.payload.clone(),
                )
                .await;
                super::fake_github::lock(&state)
                    .hooks
                    .record(&d.event, &d.payload, status, &d.guid, true);
            });
            json_response(202, &json!({}))
        }
        _ => return None,
    };
    Some(resp)
}
