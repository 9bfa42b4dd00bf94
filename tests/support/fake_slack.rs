//! A fake Slack incoming webhook that keeps state and refuses what Slack refuses.
//!
//! It keeps every message it accepted; a test consumes them with [`FakeSlack::take`], and
//! dropping the fake with messages nobody took fails the test (as the fake GitHub does with
//! check runs). Slack's documented limits are enforced: `text` at most 40,000 characters, at
//! most 50 blocks, a header's plain text at most 150, a section's text at most 3,000 and its
//! fields at most 10 of 2,000; a message needs `text`. A bad message gets Slack's answer
//! (400 `invalid_blocks` / `invalid_payload`), an unknown hook 404 `no_service`, and a test can
//! make the next answers 429 (with `Retry-After`), 5xx or any other status.

use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use std::sync::{Arc, Mutex, MutexGuard};

/// The hook path the fake accepts.
pub const HOOK: &str = "/services/T0FAKE/B0FAKE/fake-slack-secret";

#[derive(Debug, Clone)]
pub struct SlackMessage {
    pub text: String,
    pub blocks: Vec<Value>,
    /// The last segment of the hook's path it was sent to.
    pub hook: String,
}

impl SlackMessage {
    /// Every text in the message (fallback, blocks, fields, context), for assertions.
    pub fn all_text(&self) -> String {
        let mut out = self.text.clone();
        collect_text(&Value::Array(self.blocks.clone()), &mut out);
        out
    }
}

fn collect_text(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push('\n');
            out.push_str(s);
        }
        Value::Array(a) => a.iter().for_each(|x| collect_text(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_text(x, out)),
        _ => {}
    }
}

struct Fault {
    status: u16,
    remaining: usize,
    retry_after: Option<u64>,
}

#[derive(Default)]
struct State {
    messages: Vec<SlackMessage>,
    taken: usize,
    refused: Vec<String>,
    attempts: usize,
    faults: Vec<Fault>,
}

pub struct FakeSlack {
    state: Arc<Mutex<State>>,
    url: String,
    server: tokio::task::JoinHandle<()>,
}

fn lock(s: &Arc<Mutex<State>>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let state = Arc::new(Mutex::new(State::default()));
        let app = Router::new()
            .route("/services/{t}/{b}/{x}", post(hook))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        FakeSlack { state, url, server }
    }

    /// The incoming-webhook URL to configure.
    pub fn webhook_url(&self) -> String {
        format!("{}{HOOK}", self.url)
    }

    /// Another hook's URL (a per-project destination), accepted too.
    pub fn other_webhook_url(&self, name: &str) -> String {
        format!("{}/services/T0FAKE/B0OTHER/{name}", self.url)
    }

    /// The messages accepted since the last `take`, which count as looked at.
    pub fn take(&self) -> Vec<SlackMessage> {
        let mut st = lock(&self.state);
        let new = st.messages[st.taken..].to_vec();
        st.taken = st.messages.len();
        new
    }

    /// Messages accepted by the hook whose path ends in `hook` (taken or not).
    pub fn messages_to(&self, hook: &str) -> usize {
        lock(&self.state)
            .messages
            .iter()
            .filter(|m| m.hook == hook)
            .count()
    }

    /// Requests received, accepted or not.
    pub fn attempts(&self) -> usize {
        lock(&self.state).attempts
    }

    /// Answer the next `count` requests with `status` (and `Retry-After` for a 429).
    pub fn fail_next(&self, status: u16, count: usize, retry_after: Option<u64>) {
        lock(&self.state).faults.push(Fault {
            status,
            remaining: count,
            retry_after,
        });
    }
}

impl FakeSlack {
    /// What a test left unlooked at or Slack would have refused, one line each; afterwards
    /// nothing is reported again (the DSL's teardown reports it instead of the drop).
    pub fn audit(&self) -> Vec<String> {
        let mut st = lock(&self.state);
        let mut problems: Vec<String> = st
            .refused
            .drain(..)
            .map(|r| format!("Slack would refuse: {r}"))
            .collect();
        problems.extend(
            st.messages[st.taken..]
                .iter()
                .map(|m| format!("Slack message no assertion took: {}", m.text)),
        );
        st.taken = st.messages.len();
        problems
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.server.abort();
        if std::thread::panicking() {
            return;
        }
        let st = lock(&self.state);
        let mut problems = Vec::new();
        if !st.refused.is_empty() {
            problems.push(format!(
                "messages Slack would refuse:\n  {}",
                st.refused.join("\n  ")
            ));
        }
        if st.taken < st.messages.len() {
            let untaken: Vec<String> = st.messages[st.taken..]
                .iter()
                .map(|m| m.text.clone())
                .collect();
            problems.push(format!(
                "Slack message(s) no assertion took (FakeSlack::take()):\n  {}",
                untaken.join("\n  ")
            ));
        }
        drop(st);
        if !problems.is_empty() {
            panic!("FakeSlack teardown:\n{}", problems.join("\n"));
        }
    }
}

fn answer(status: u16, body: &str) -> Response {
    (StatusCode::from_u16(status).unwrap(), body.to_string()).into_response()
}

/// Slack's rules for a message; the reason it would be refused.
fn check(v: &Value, hook: &str) -> Result<SlackMessage, String> {
    let text = v["text"]
        .as_str()
        .ok_or("no `text` (the notification fallback)")?;
    if text.chars().count() > 40_000 {
        return Err("`text` over 40,000 characters".into());
    }
    let blocks = v.get("blocks").map_or(Ok(Vec::new()), |b| {
        b.as_array().cloned().ok_or("`blocks` is not an array")
    })?;
    if blocks.len() > 50 {
        return Err(format!("{} blocks (at most 50)", blocks.len()));
    }
    let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    for (i, b) in blocks.iter().enumerate() {
        match b["type"].as_str() {
            Some("header") => {
                if b["text"]["type"] != "plain_text" || len(&b["text"]["text"]) > 150 {
                    return Err(format!("block {i}: a header is plain_text of at most 150"));
                }
            }
            Some("section") => {
                if len(&b["text"]["text"]) > 3000 {
                    return Err(format!("block {i}: section text over 3,000"));
                }
                let fields = b["fields"].as_array().map_or(&[][..], |f| f.as_slice());
                if fields.len() > 10 || fields.iter().any(|f| len(&f["text"]) > 2000) {
                    return Err(format!("block {i}: at most 10 fields of 2,000"));
                }
                if b.get("text").is_none() && fields.is_empty() {
                    return Err(format!("block {i}: a section needs text or fields"));
                }
            }
            Some("context") => {
                let n = b["elements"].as_array().map_or(0, Vec::len);
                if n == 0 || n > 10 {
                    return Err(format!("block {i}: context needs 1 to 10 elements"));
                }
            }
            Some("divider") => {}
            other => return Err(format!("block {i}: unknown type {other:?}")),
        }
    }
    Ok(SlackMessage {
        text: text.to_string(),
        blocks,
        hook: hook.to_string(),
    })
}

async fn hook(
    AxState(state): AxState<Arc<Mutex<State>>>,
    Path((t, b, x)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let mut st = lock(&state);
    st.attempts += 1;
    if let Some(f) = st.faults.iter_mut().find(|f| f.remaining > 0) {
        f.remaining -= 1;
        let (status, retry_after) = (f.status, f.retry_after);
        let text = match status {
            429 => "rate_limited",
            400 => "invalid_payload",
            403 => "action_prohibited",
            404 => "no_service",
            410 => "channel_is_archived",
            _ => "internal_error",
        };
        let mut r = answer(status, text);
        if let Some(secs) = retry_after {
            r.headers_mut()
                .insert("retry-after", secs.to_string().parse().unwrap());
        }
        return r;
    }
    if !t.starts_with("T0FAKE") || !b.starts_with("B0") {
        return answer(404, "no_service");
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        st.refused.push("not JSON".into());
        return answer(400, "invalid_payload");
    };
    match check(&v, &x) {
        Ok(m) => {
            st.messages.push(m);
            answer(200, "ok")
        }
        Err(why) => {
            st.refused.push(why);
            answer(400, "invalid_blocks")
        }
    }
}
