//! `POST /webhooks/github`: verify, record, enqueue, answer 202 — nothing else in the request.
//!
//! The signature is checked by the [`VerifiedDelivery`] extractor on the raw body before any
//! parsing. Every refusal is a 4xx with a one-line reason, logged with the delivery id.

use super::AppState;
use crate::domain::events::Event;
use crate::github::payloads::interpret;
use crate::github::signature::{verify, SignatureError};
use crate::store::Accepted;
use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tracing::Instrument;

/// GitHub caps webhook payloads at 25 MB; anything larger is not from GitHub.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// Bodies read at once; with [`MAX_BODY_BYTES`] this bounds the memory ingress can take.
pub const CONCURRENT_BODIES: usize = 16;

/// How long a sender may take to send a body (GitHub sends in well under a second); a slow
/// sender is cut off rather than holding a reader.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// GitHub waits 10 s for an answer. A delivery the database has not recorded by then (it is
/// down: the pool keeps retrying a refused connection for its whole acquire timeout) is
/// answered 503, ours and with a reason, instead of leaving GitHub to time out.
pub const RECORD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A refusal: status plus a one-line reason, for the body and the log.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    reason: String,
    /// The delivery id, when the request carried one, so the log line can be traced in
    /// GitHub's delivery list.
    delivery: Option<String>,
}

impl Refusal {
    fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Refusal {
            status,
            reason: reason.into(),
            delivery: None,
        }
    }

    fn for_delivery(mut self, delivery: Option<&str>) -> Self {
        self.delivery = delivery.map(|d| d.chars().take(100).collect());
        self
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        tracing::warn!(status = self.status.as_u16(), reason = %self.reason,
            delivery = self.delivery.as_deref().unwrap_or("-"), "webhook refused");
        crate::metrics::refused(match self.status.as_u16() {
            401 => "signature",
            408 => "slow_body",
            413 => "too_large",
            415 => "content_type",
            503 => "unavailable",
            _ => "malformed",
        });
        (self.status, format!("{}\n", self.reason)).into_response()
    }
}

/// A webhook whose signature matched one of the configured secrets.
pub struct VerifiedDelivery {
    pub delivery_id: String,
    pub event: String,
    pub body: Bytes,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl FromRequest<Arc<AppState>> for VerifiedDelivery {
    type Rejection = Refusal;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Refusal> {
        let (parts, body): (_, Body) = req.into_parts();
        let delivery = header(&parts.headers, "x-github-delivery").map(str::to_owned);
        Self::read(parts, body, state)
            .await
            .map_err(|r| r.for_delivery(delivery.as_deref()))
    }
}

impl VerifiedDelivery {
    async fn read(
        parts: axum::http::request::Parts,
        body: Body,
        state: &Arc<AppState>,
    ) -> Result<Self, Refusal> {
        let too_big = || {
            Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload is over the 25 MiB limit",
            )
        };
        if let Some(len) =
            header(&parts.headers, "content-length").and_then(|l| l.parse::<usize>().ok())
        {
            if len > MAX_BODY_BYTES {
                return Err(too_big());
            }
        }
        let busy = || {
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many deliveries are being received at once; redeliver later",
            )
        };
        let _permit = tokio::time::timeout(BODY_TIMEOUT, state.body_permits.acquire())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        let body = tokio::time::timeout(state.body_timeout, to_bytes(body, MAX_BODY_BYTES))
            .await
            .map_err(|_| {
                Refusal::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the body was not received within {} s",
                        state.body_timeout.as_secs()
                    ),
                )
            })?
            .map_err(|_| too_big())?;
        let signature = header(&parts.headers, "x-hub-signature-256");
        verify(&state.webhook_secrets(), signature, &body)
            .map_err(|e: SignatureError| Refusal::new(StatusCode::UNAUTHORIZED, e.reason()))?;
        let delivery_id = header(&parts.headers, "x-github-delivery")
            .filter(|d| !d.is_empty() && d.len() <= 200)
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "missing or invalid X-GitHub-Delivery header",
                )
            })?
            .to_owned();
        let event = header(&parts.headers, "x-github-event")
            .filter(|e| !e.is_empty() && e.len() <= 100)
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "missing or invalid X-GitHub-Event header",
                )
            })?
            .to_owned();
        Ok(VerifiedDelivery {
            delivery_id,
            event,
            body,
        })
    }
}

pub async fn receive(State(state): State<Arc<AppState>>, delivery: VerifiedDelivery) -> Response {
    let (trace_id, span_id) = (
        crate::telemetry::new_trace_id(),
        crate::telemetry::new_span_id(),
    );
    let span = tracing::info_span!("webhook", trace_id = %trace_id, span_id = %span_id,
        delivery = %delivery.delivery_id, event = %delivery.event,
        action = tracing::field::Empty, repo = tracing::field::Empty, sha = tracing::field::Empty);
    // Jobs this delivery enqueues continue its trace.
    let traceparent = crate::telemetry::traceparent(&trace_id, &span_id);
    crate::telemetry::with_traceparent(traceparent, handle(state, delivery).instrument(span)).await
}

async fn handle(state: Arc<AppState>, delivery: VerifiedDelivery) -> Response {
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        tracing::warn!("refused: shutting down");
        return Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down; GitHub shows this delivery as failed and it is redelivered",
        )
        .for_delivery(Some(&delivery.delivery_id))
        .into_response();
    }
    let refuse = |reason: String| {
        Refusal::new(StatusCode::BAD_REQUEST, reason)
            .for_delivery(Some(&delivery.delivery_id))
            .into_response()
    };
    let interpreted = match interpret(&delivery.event, &delivery.body, state.app_id()) {
        Ok(i) => i,
        Err(reason) => return refuse(reason),
    };
    let span = tracing::Span::current();
    if let Some(a) = &interpreted.action {
        span.record("action", a.as_str());
    }
    if let Event::Analyse(r) = &interpreted.event {
        span.record("repo", r.project.full_name.as_str());
        span.record("sha", r.sha.as_str());
    }
    let accepted = tokio::time::timeout(
        RECORD_TIMEOUT,
        state.store.accept_delivery(
            &delivery.delivery_id,
            &delivery.event,
            interpreted.action.as_deref(),
            &interpreted.event,
            state.job_limits,
        ),
    )
    .await
    .unwrap_or_else(|_| {
        Err(anyhow::anyhow!(
            "the database did not record it within {} s",
            RECORD_TIMEOUT.as_secs()
        ))
    });
    match accepted {
        Err(e) => {
            // Not the sender's fault: GitHub shows the failure and the delivery can be redelivered.
            tracing::error!(error = %format!("{e:#}"), "could not record delivery");
            crate::metrics::refused("database");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "could not record the delivery; redeliver later\n",
            )
                .into_response()
        }
        Ok(accepted) => {
            crate::metrics::webhook(&delivery.event, accepted.outcome().as_str());
            let text = match accepted {
                Accepted::Duplicate => "duplicate delivery; already handled".to_owned(),
                Accepted::Enqueued {
                    job_id,
                    analysis_id,
                } => {
                    state.job_notify.notify_waiters();
                    let waiting = if state.app_configured() {
                        ""
                    } else {
                        " (waiting for GitHub App settings)"
                    };
                    format!("accepted; analysis {analysis_id} queued as job {job_id}{waiting}")
                }
                Accepted::Command { job_id } => {
                    state.job_notify.notify_waiters();
                    format!("accepted; command queued as job {job_id}")
                }
                Accepted::Reused { analysis_id } => {
                    format!("accepted; commit already analysed or queued (analysis {analysis_id})")
                }
                Accepted::Recorded => match &interpreted.event {
                    Event::Ignored(why) => format!("accepted; ignored: {why}"),
                    _ => "accepted".to_owned(),
                },
            };
            tracing::info!(outcome = %text, "webhook accepted");
            (StatusCode::ACCEPTED, format!("{text}\n")).into_response()
        }
    }
}
