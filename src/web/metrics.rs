//! `GET /metrics`: the Prometheus text exposition, open or behind `FLEXT_QUALITY_METRICS_TOKEN`
//! (a bearer token). The queue's gauges are refreshed from the database at each scrape.

use super::AppState;
use crate::domain::status::JobKind;
use crate::metrics::{KindLabels, METRICS};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use std::sync::Arc;

pub async fn scrape(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let expected = token.expose_secret().as_bytes();
        if !constant_time_eq(given.as_bytes(), expected) {
            return (
                StatusCode::UNAUTHORIZED,
                "send FLEXT_QUALITY_METRICS_TOKEN as `Authorization: Bearer …`\n",
            )
                .into_response();
        }
    }
    match state.store.queue_stats().await {
        Ok(stats) => {
            let now = crate::store::now_ms();
            for kind in JobKind::ALL {
                let stat = stats.iter().find(|s| s.kind == kind.as_str());
                let labels = KindLabels {
                    kind: kind.as_str().to_owned(),
                };
                METRICS
                    .queue_depth
                    .get_or_create(&labels)
                    .set(stat.map_or(0, |s| s.queued));
                let age = stat
                    .and_then(|s| s.oldest_runnable_at)
                    .map_or(0.0, |at| (now - at).max(0) as f64 / 1000.0);
                METRICS.queue_oldest_seconds.get_or_create(&labels).set(age);
            }
        }
        Err(e) => tracing::warn!(error = format!("{e:#}"), "metrics: cannot read the queue"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        METRICS.encode(),
    )
        .into_response()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
