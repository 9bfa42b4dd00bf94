//! A strict fake receiver of outgoing events: an HTTP server on 127.0.0.1 that keeps every
//! request, and accepts only what a careful receiver would — JSON, the event and delivery
//! headers agreeing with the body, and a valid `X-Flext-Quality-Signature-256` under the secret
//! of the hook path it was sent to (checked here with its own HMAC, in constant time).
//!
//! A test registers hook paths with [`FakeEvents::hook_url`], can make the next answers fail
//! ([`FakeEvents::fail_next`], optionally quoting the request line back, as careless error pages
//! do), and consumes accepted events with [`FakeEvents::take`]. Dropping the fake with accepted
//! events nobody took, or with any request it had to refuse, fails the test.

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hmac::{Hmac, Mac};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// One request as received.
#[derive(Debug, Clone)]
pub struct ReceivedEvent {
    pub path: String,
    pub query: Option<String>,
    /// `X-Flext-Quality-Event`.
    pub event: String,
    /// `X-Flext-Quality-Delivery`.
    pub delivery: String,
    /// `X-Flext-Quality-Signature-256`.
    pub signature: String,
    pub body: Vec<u8>,
    pub json: Value,
    /// What the fake answered.
    pub status: u16,
}

struct Fault {
    status: u16,
    remaining: usize,
    echo: bool,
}

#[derive(Default)]
struct State {
    secrets: HashMap<String, String>,
    requests: Vec<ReceivedEvent>,
    /// Indexes into `requests` of the accepted ones, and how many of those were taken.
    accepted: Vec<usize>,
    taken: usize,
    refused: Vec<String>,
    faults: Vec<Fault>,
}

pub struct FakeEvents {
    state: Arc<Mutex<State>>,
    url: String,
    server: tokio::task::JoinHandle<()>,
}

fn lock(s: &Arc<Mutex<State>>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// `sha256=` + hex HMAC-SHA256 of `body` under `secret`, computed independently of the app.
pub fn expected_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

fn signature_valid(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex) = header.strip_prefix("sha256=") else {
        return false;
    };
    if hex.len() != 64 {
        return false;
    }
    let Ok(bytes) = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
    else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.verify_slice(&bytes).is_ok()
}

impl FakeEvents {
    pub async fn start() -> FakeEvents {
        let state = Arc::new(Mutex::new(State::default()));
        let app = Router::new().fallback(receive).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        FakeEvents { state, url, server }
    }

    /// The URL of a hook at `path_and_query` whose events must be signed with `secret`.
    pub fn hook_url(&self, path_and_query: &str, secret: &str) -> String {
        let path = path_and_query.split('?').next().unwrap().to_owned();
        lock(&self.state).secrets.insert(path, secret.to_owned());
        format!("{}{path_and_query}", self.url)
    }

    /// `host:port`, as the app shows a hook.
    pub fn host(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }

    /// Answer the next `count` valid requests with `status`; with `echo`, the body quotes the
    /// request's path and query back.
    pub fn fail_next(&self, status: u16, count: usize, echo: bool) {
        lock(&self.state).faults.push(Fault {
            status,
            remaining: count,
            echo,
        });
    }

    /// The events accepted since the last `take`, which count as looked at.
    pub fn take(&self) -> Vec<ReceivedEvent> {
        let mut st = lock(&self.state);
        let new: Vec<ReceivedEvent> = st.accepted[st.taken..]
            .iter()
            .map(|&i| st.requests[i].clone())
            .collect();
        st.taken = st.accepted.len();
        new
    }

    /// Every request received, accepted or not, in order.
    pub fn requests(&self) -> Vec<ReceivedEvent> {
        lock(&self.state).requests.clone()
    }
}

impl Drop for FakeEvents {
    fn drop(&mut self) {
        self.server.abort();
        if std::thread::panicking() {
            return;
        }
        let st = lock(&self.state);
        let mut problems: Vec<String> = st
            .refused
            .iter()
            .map(|r| format!("a careful receiver would refuse: {r}"))
            .collect();
        problems.extend(
            st.accepted[st.taken..]
                .iter()
                .map(|&i| format!("event no assertion took: {}", st.requests[i].event)),
        );
        drop(st);
        if !problems.is_empty() {
            panic!("FakeEvents teardown:\n  {}", problems.join("\n  "));
        }
    }
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Why a careful receiver would refuse the request, if it would.
fn check(st: &State, r: &ReceivedEvent, content_type: &str) -> Result<(), String> {
    let secret = st
        .secrets
        .get(&r.path)
        .ok_or_else(|| format!("no hook at {}", r.path))?;
    if !content_type.starts_with("application/json") {
        return Err(format!("Content-Type {content_type:?}"));
    }
    if !signature_valid(secret, &r.body, &r.signature) {
        return Err(format!("bad signature {:?} on {}", r.signature, r.path));
    }
    if r.json["event"] != r.event.as_str() {
        return Err(format!(
            "header event {:?} vs body {}",
            r.event, r.json["event"]
        ));
    }
    // The body's delivery is a number, the header its decimal text.
    let body_delivery = r.json["delivery"].as_i64().map(|d| d.to_string());
    if body_delivery.as_deref() != Some(r.delivery.as_str()) {
        return Err(format!(
            "header delivery {:?} vs body {}",
            r.delivery, r.json["delivery"]
        ));
    }
    Ok(())
}

async fn receive(
    AxState(state): AxState<Arc<Mutex<State>>>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = lock(&state);
    let mut r = ReceivedEvent {
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        event: header(&headers, "x-flext-quality-event"),
        delivery: header(&headers, "x-flext-quality-delivery"),
        signature: header(&headers, "x-flext-quality-signature-256"),
        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        body: body.to_vec(),
        status: 0,
    };
    let verdict = if method != axum::http::Method::POST {
        Err(format!("{method} instead of POST"))
    } else {
        check(&st, &r, &header(&headers, "content-type"))
    };
    let (status, text) = match verdict {
        Err(why) => {
            st.refused.push(why);
            (401, "refused".to_owned())
        }
        Ok(()) => match st.faults.iter_mut().find(|f| f.remaining > 0) {
            Some(f) => {
                f.remaining -= 1;
                let text = if f.echo {
                    format!("cannot handle POST {uri}")
                } else {
                    "failing on purpose".to_owned()
                };
                (f.status, text)
            }
            None => (200, "ok".to_owned()),
        },
    };
    r.status = status;
    st.requests.push(r);
    if status == 200 {
        let i = st.requests.len() - 1;
        st.accepted.push(i);
    }
    (StatusCode::from_u16(status).unwrap(), text).into_response()
}
