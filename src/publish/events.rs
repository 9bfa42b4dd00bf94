//! Outgoing events: `analysis.completed` and `gate.changed` POSTed as JSON to the operators'
//! event hooks, signed like GitHub signs its webhooks (`X-Flext-Quality-Signature-256:
//! sha256=<hex HMAC-SHA256 of the body under the hook's secret>`).
//!
//! The deliveries are recorded when the analysis is saved (one per hook and event, in the same
//! transaction), and one outbox task sends those of an analysis not yet delivered: a retry
//! skips what was delivered or refused for good. Each attempt is recorded on its row (the
//! delivery log). 2xx is delivered; 5xx, 408 and the network are retried with back-off; 429
//! waits for `Retry-After` without spending an attempt; redirects are not followed and, like
//! other 4xx, are recorded and not retried. Delivery is at least once: a receiver deduplicates
//! by `X-Flext-Quality-Delivery`.
//!
//! A hook's URL may carry a token and its secret signs: both are sealed in the database, and
//! nothing logged or recorded names more of the URL than its host.

use super::{Outcome, PublishContext, PublishError, PublishFuture, Publisher};
use crate::config::EventHookSetting;
use crate::domain::gate::Verdict;
use crate::domain::outgoing::{validate_hook, ValidHook};
use crate::domain::status::{HookEvent, Sink};
use crate::secret_box::SecretBox;
use crate::store::{NewEventHook, PendingDelivery, PublishTask, Store};
use anyhow::{Context, Result};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::Duration;

/// What a hook's URL and secret are sealed for (each its own key: neither opens as the other).
const URL_PURPOSE: &str = "event hook url";
const SECRET_PURPOSE: &str = "event hook secret";
/// How long one delivery may take, connecting included.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a refusing answer's body is kept in the delivery log.
const ANSWER_CHARS: usize = 200;

pub const EVENT_HEADER: &str = "X-Flext-Quality-Event";
pub const DELIVERY_HEADER: &str = "X-Flext-Quality-Delivery";
pub const SIGNATURE_HEADER: &str = "X-Flext-Quality-Signature-256";

pub struct EventsPublisher;

impl Publisher for EventsPublisher {
    fn sink(&self) -> Sink {
        Sink::Events
    }

    fn publish<'a>(
        &'a self,
        cx: &'a PublishContext,
        _task: &'a PublishTask,
        outcome: &'a Outcome,
    ) -> PublishFuture<'a> {
        Box::pin(send_all(cx, outcome))
    }
}

/// Registers a hook (for the API): checks that the URL is http(s) and the events are known,
/// seals the URL and the secret with `secrets` (the server's box, `server::secret_box`), and
/// stores it audited as `event_hook.create` — with the host and events, never the URL or
/// secret. Returns the hook's id.
pub async fn register_hook(
    store: &Store,
    secrets: &SecretBox,
    actor: &str,
    url: &str,
    secret: &str,
    events: &[String],
) -> anyhow::Result<i64> {
    let valid = validate_hook(url, secret, events).map_err(anyhow::Error::msg)?;
    let hook = seal(secrets, url, secret, valid)?;
    store.create_event_hook(actor, &hook).await
}

fn seal(secrets: &SecretBox, url: &str, secret: &str, valid: ValidHook) -> Result<NewEventHook> {
    Ok(NewEventHook {
        sealed_url: secrets
            .derive(URL_PURPOSE)
            .seal(&SecretString::from(url.trim().to_owned()))?,
        sealed_secret: secrets
            .derive(SECRET_PURPOSE)
            .seal(&SecretString::from(secret.to_owned()))?,
        url_host: valid.host,
        events: valid.events,
    })
}

/// What syncing `FLEXT_QUALITY_EVENT_HOOKS` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncReport {
    pub kept: usize,
    pub added: usize,
    pub removed: usize,
}

/// Makes the hooks registered by `FLEXT_QUALITY_EVENT_HOOKS` (created by `env`) what it says
/// now: an unchanged hook is kept (its delivery log with it), a new one added, one no longer
/// listed removed. Hooks registered through the API are not touched. `secrets` may be missing
/// only when no hook is configured.
pub async fn sync_env_hooks(
    store: &Store,
    secrets: Option<&SecretBox>,
    configured: &[EventHookSetting],
) -> Result<SyncReport> {
    for _ in 0..5 {
        let existing = store.env_event_hooks().await?;
        let seen: Vec<i64> = existing.iter().map(|h| h.id).collect();
        let mut wanted = Vec::new();
        for (i, h) in configured.iter().enumerate() {
            let valid = validate_hook(h.url.expose_secret(), h.secret.expose_secret(), &h.events)
                .map_err(|e| {
                anyhow::anyhow!("FLEXT_QUALITY_EVENT_HOOKS, hook {}: {e}", i + 1)
            })?;
            wanted.push((h, valid));
        }
        let mut keep = Vec::new();
        let mut add = Vec::new();
        for (h, valid) in wanted {
            let secrets = secrets.context(
                "FLEXT_QUALITY_EVENT_HOOKS is set but FLEXT_QUALITY_SECRET_KEY is not: the key seals the hooks' URLs and secrets in the database",
            )?;
            let names: Vec<String> = valid.events.iter().map(|e| e.as_str().into()).collect();
            // A stored hook that no longer opens (the key changed) is replaced.
            let same = existing.iter().find(|e| {
                !keep.contains(&e.id)
                    && serde_json::from_str::<Vec<String>>(&e.events).ok().as_ref() == Some(&names)
                    && opens_to(
                        secrets,
                        URL_PURPOSE,
                        &e.sealed_url,
                        h.url.expose_secret().trim(),
                    )
                    && opens_to(
                        secrets,
                        SECRET_PURPOSE,
                        &e.sealed_secret,
                        h.secret.expose_secret(),
                    )
            });
            match same {
                Some(e) => keep.push(e.id),
                None => add.push(seal(
                    secrets,
                    h.url.expose_secret(),
                    h.secret.expose_secret(),
                    valid,
                )?),
            }
        }
        let remove: Vec<i64> = seen
            .iter()
            .copied()
            .filter(|id| !keep.contains(id))
            .collect();
        if store.sync_env_event_hooks(&seen, &remove, &add).await? {
            return Ok(SyncReport {
                kept: keep.len(),
                added: add.len(),
                removed: remove.len(),
            });
        }
    }
    anyhow::bail!("the event hooks kept changing while FLEXT_QUALITY_EVENT_HOOKS was applied")
}

fn opens_to(secrets: &SecretBox, purpose: &'static str, sealed: &str, plain: &str) -> bool {
    secrets
        .derive(purpose)
        .open(sealed)
        .is_ok_and(|s| s.expose_secret() == plain)
}

/// How one attempt to deliver ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Worth trying again (5xx, 408, the network).
    Retry(String),
    /// The hook asked us to wait (429).
    Wait(Duration, String),
    /// Trying again cannot help (a 4xx, a redirect, a hook that cannot be opened).
    Refused(String),
}

/// What an answer's status means; `answer` is the start of its body (already scrubbed).
pub fn classify(host: &str, status: u16, retry_after: Option<u64>, answer: &str) -> Attempt {
    let said = if answer.is_empty() {
        String::new()
    } else {
        format!(": {answer}")
    };
    match status {
        200..=299 => Attempt::Delivered,
        429 => Attempt::Wait(
            Duration::from_secs(retry_after.unwrap_or(30).clamp(1, 3600)),
            format!("{host} is rate limiting us (429){said}"),
        ),
        408 | 500..=599 => Attempt::Retry(format!("{host} answered {status}{said}")),
        300..=399 => Attempt::Refused(format!(
            "{host} answered {status}: redirects are not followed (register the final URL)"
        )),
        _ => Attempt::Refused(format!("{host} refused the event: {status}{said}")),
    }
}

/// Whether an earlier attempt's answer settled the delivery for good (refused: not retried).
pub fn refused_for_good(status_code: Option<i64>) -> bool {
    status_code.is_some_and(|c| (300..500).contains(&c) && c != 408 && c != 429)
}

/// `text` without anything of the hook's URL but its host, nor its secret: a receiver's error
/// page may quote the request (`?token=…`), and an error may name the URL.
pub fn scrub(text: &str, url: &str, secret: &str) -> String {
    let mut hidden: Vec<String> = vec![url.to_owned(), secret.to_owned()];
    if let Ok(u) = reqwest::Url::parse(url) {
        hidden.push(u.as_str().to_owned());
        hidden.push(u.path().to_owned());
        hidden.extend(u.query().map(str::to_owned));
        hidden.push(u.username().to_owned());
        hidden.extend(u.password().map(str::to_owned));
        // Pieces that look like tokens, as sent and as decoded.
        hidden.extend(
            u.path_segments()
                .into_iter()
                .flatten()
                .filter(|s| s.len() >= 8)
                .map(str::to_owned),
        );
        hidden.extend(
            u.query_pairs()
                .flat_map(|(k, v)| [k.into_owned(), v.into_owned()])
                .filter(|s| s.len() >= 4),
        );
    }
    // Longest first, so a part never leaves the rest of a longer one behind.
    hidden.retain(|h| h.len() > 1);
    hidden.sort_by_key(|h| std::cmp::Reverse(h.len()));
    let mut out = text.to_owned();
    for h in &hidden {
        out = out.replace(h.as_str(), "…");
    }
    out
}

/// The event's JSON body (see the README, "Outgoing events").
pub fn payload(
    outcome: &Outcome,
    event: HookEvent,
    delivery: i64,
    previous_verdict: Option<Verdict>,
    web: &str,
) -> Value {
    let a = &outcome.analysis;
    let repo = &outcome.project.full_name;
    let url = match a.check_run_id {
        Some(id) => format!("{web}/{repo}/runs/{id}"),
        None => format!("{web}/{repo}/commit/{}", a.sha),
    };
    let mut body = json!({
        "event": event.as_str(),
        "delivery": delivery,
        "project": { "id": outcome.project.id, "full_name": repo },
        "analysis": {
            "id": a.id,
            "sha": a.sha,
            "ref": a.head_ref,
            "pr_number": a.pr_number,
            "score": a.score,
            "grade": a.grade.map(|g| g.as_str()),
            "verdict": a.verdict.map(Verdict::as_str),
            "new_count": a.new_count,
            "fixed_count": a.fixed_count,
            "completed_at": a.completed_at,
            "url": url,
        },
    });
    if event == HookEvent::GateChanged {
        body["previous_verdict"] = previous_verdict.map(Verdict::as_str).into();
    }
    body
}

/// The client for hooks: a timeout, no redirects (a hook is registered at its final URL, and a
/// redirect must not take a signed event somewhere else).
fn client() -> Result<&'static reqwest::Client, PublishError> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .user_agent(concat!("flext-quality/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| PublishError::Retry(anyhow::anyhow!("cannot make an HTTP client: {e}")))?;
    Ok(CLIENT.get_or_init(|| c))
}

async fn send_all(cx: &PublishContext, outcome: &Outcome) -> Result<(), PublishError> {
    let pending: Vec<PendingDelivery> = cx
        .store
        .pending_event_deliveries(outcome.analysis.id)
        .await
        .map_err(PublishError::Retry)?
        .into_iter()
        .filter(|d| !refused_for_good(d.status_code))
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let Some(secrets) = cx.secrets.as_deref() else {
        // Said on each delivery too, so the delivery log shows why nothing arrived.
        let why = "FLEXT_QUALITY_SECRET_KEY is not set: the event hooks' URLs and secrets cannot be opened";
        for d in &pending {
            cx.store
                .record_event_attempt(d.id, None, Some(why), false)
                .await
                .map_err(PublishError::Retry)?;
        }
        return Err(PublishError::Permanent(why.into()));
    };
    let web = crate::github::web_url(
        cx.github
            .as_ref()
            .map_or("https://api.github.com", |g| g.api_url()),
    );
    // Hooks are few; one after the other keeps one slow hook's time bounded by TIMEOUT each.
    let (mut retry, mut wait, mut refused) = (Vec::new(), None::<(Duration, String)>, Vec::new());
    for d in &pending {
        let attempt = deliver(secrets, outcome, d, &web).await;
        let (status, attempt) = attempt;
        let error = match &attempt {
            Attempt::Delivered => None,
            Attempt::Retry(e) | Attempt::Wait(_, e) | Attempt::Refused(e) => Some(e.as_str()),
        };
        cx.store
            .record_event_attempt(
                d.id,
                status.map(i64::from),
                error,
                attempt == Attempt::Delivered,
            )
            .await
            .map_err(PublishError::Retry)?;
        match attempt {
            Attempt::Delivered => {
                tracing::info!(delivery = d.id, host = %d.url_host, event = d.event.as_str(), "event delivered");
            }
            Attempt::Retry(e) => retry.push(format!("delivery {}: {e}", d.id)),
            Attempt::Wait(w, e) => {
                if wait.as_ref().is_none_or(|(longest, _)| w > *longest) {
                    wait = Some((w, format!("delivery {}: {e}", d.id)));
                }
            }
            Attempt::Refused(e) => refused.push(format!("delivery {}: {e}", d.id)),
        }
    }
    // What can still be delivered decides: a retry (back-off), else a wait; refusals alone
    // end the task as failed, with the reasons.
    if !retry.is_empty() {
        return Err(PublishError::Retry(anyhow::anyhow!("{}", retry.join("; "))));
    }
    if let Some((w, why)) = wait {
        return Err(PublishError::WaitAndRetry(w, why));
    }
    if !refused.is_empty() {
        return Err(PublishError::Permanent(refused.join("; ")));
    }
    Ok(())
}

/// One attempt at one delivery: the answer's status, if any, and what it means.
async fn deliver(
    secrets: &SecretBox,
    outcome: &Outcome,
    d: &PendingDelivery,
    web: &str,
) -> (Option<u16>, Attempt) {
    let host = &d.url_host;
    let opened = secrets
        .derive(URL_PURPOSE)
        .open(&d.sealed_url)
        .and_then(|u| Ok((u, secrets.derive(SECRET_PURPOSE).open(&d.sealed_secret)?)));
    let (url, secret) = match opened {
        Ok(pair) => pair,
        Err(e) => return (None, Attempt::Refused(format!("the hook to {host}: {e:#}"))),
    };
    let (url, secret) = (url.expose_secret(), secret.expose_secret());
    let body = payload(outcome, d.event, d.id, d.previous_verdict, web);
    let bytes = serde_json::to_vec(&body).expect("a JSON value serialises");
    let signature = crate::github::signature::sign(&SecretString::from(secret.to_owned()), &bytes);
    let client = match client() {
        Ok(c) => c,
        Err(e) => return (None, Attempt::Retry(e.to_string())),
    };
    let sent = client
        .post(url)
        .header("Content-Type", "application/json")
        .header(EVENT_HEADER, d.event.as_str())
        .header(DELIVERY_HEADER, d.id.to_string())
        .header(SIGNATURE_HEADER, signature)
        .body(bytes)
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            let why = if e.is_timeout() {
                format!("no answer within {} s", TIMEOUT.as_secs())
            } else {
                format!("{:#}", anyhow::Error::new(e.without_url()))
            };
            let why = scrub(&format!("cannot reach {host}: {why}"), url, secret);
            return (None, Attempt::Retry(why));
        }
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let answer: String = response
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(ANSWER_CHARS)
        .collect();
    let attempt = classify(host, status, retry_after, answer.trim());
    let attempt = match attempt {
        Attempt::Retry(e) => Attempt::Retry(scrub(&e, url, secret)),
        Attempt::Wait(w, e) => Attempt::Wait(w, scrub(&e, url, secret)),
        Attempt::Refused(e) => Attempt::Refused(scrub(&e, url, secret)),
        Attempt::Delivered => Attempt::Delivered,
    };
    (Some(status), attempt)
}

#[cfg(test)]
mod tests;
