//! Traces: one span per webhook, per job and per stage, with W3C trace and span ids, exported
//! as OTLP/HTTP JSON to `OTEL_EXPORTER_OTLP_ENDPOINT` when it is set. A webhook's trace
//! continues into the jobs it enqueued: the job row keeps a `traceparent`, and the job's span
//! takes its trace id and parent from it. The ids are span fields, so JSON logs carry them.
//!
//! Written against the OTLP JSON encoding rather than with the opentelemetry crates: a small
//! layer and one HTTP client we already have, instead of a second async stack to build.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

tokio::task_local! {
    /// The `traceparent` new jobs continue: the webhook's span, or the running job's.
    static TRACEPARENT: String;
}

/// Runs `f` with `traceparent` as the trace new jobs continue.
pub async fn with_traceparent<F: Future>(traceparent: String, f: F) -> F::Output {
    TRACEPARENT.scope(traceparent, f).await
}

/// The trace a job enqueued now should continue, if any.
pub fn current_traceparent() -> Option<String> {
    TRACEPARENT.try_with(Clone::clone).ok()
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    // Ids need not be secret, only unique; a failure leaves zeros, which the check below fixes.
    let _ = openssl::rand::rand_bytes(&mut b);
    if b.iter().all(|&x| x == 0) {
        b[0] = 1;
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn new_trace_id() -> String {
    random_hex(16)
}

pub fn new_span_id() -> String {
    random_hex(8)
}

/// `00-<trace>-<span>-01`.
pub fn traceparent(trace_id: &str, span_id: &str) -> String {
    format!("00-{trace_id}-{span_id}-01")
}

/// The trace and parent span ids of a `traceparent`, when it is well-formed.
pub fn parse_traceparent(tp: &str) -> Option<(String, String)> {
    let mut parts = tp.split('-');
    let (_, trace, span) = (parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(trace, 32) && hex(span, 16)).then(|| (trace.to_owned(), span.to_owned()))
}

/// What the layer keeps of a span until it closes.
struct SpanData {
    trace_id: String,
    span_id: String,
    parent_span_id: Option<String>,
    start: SystemTime,
    attributes: BTreeMap<String, String>,
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
}

/// Spans finished and waiting to be sent.
type Batch = Vec<Value>;

/// The tracing layer: gives every span its ids and, when exporting, queues finished spans.
pub struct TraceLayer {
    queue: Option<std::sync::Arc<Mutex<Batch>>>,
}

/// The most spans kept waiting for the collector; past it, new ones are dropped (a collector
/// that is down must not grow our memory).
const MAX_QUEUED: usize = 10_000;

impl<S> Layer<S> for TraceLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let parent = span.parent().and_then(|p| {
            p.extensions()
                .get::<SpanData>()
                .map(|d| (d.trace_id.clone(), d.span_id.clone()))
        });
        // A span that names its trace (a webhook, a job continuing one) starts or joins it;
        // others are children of the span they were made in.
        let (trace_id, parent_span_id) = match (fields.0.remove("trace_id"), parent) {
            (Some(t), _) if t.len() == 32 => (t, fields.0.remove("parent_span_id")),
            (_, Some((t, p))) => (t, Some(p)),
            _ => (new_trace_id(), None),
        };
        let span_id = fields
            .0
            .remove("span_id")
            .filter(|s| s.len() == 16)
            .unwrap_or_else(new_span_id);
        fields.0.retain(|_, v| !v.is_empty());
        span.extensions_mut().insert(SpanData {
            trace_id,
            span_id,
            parent_span_id: parent_span_id.filter(|p| p.len() == 16),
            start: SystemTime::now(),
            attributes: fields.0,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        values.record(&mut fields);
        let mut ext = span.extensions_mut();
        if let Some(data) = ext.get_mut::<SpanData>() {
            data.attributes.extend(fields.0);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(queue) = &self.queue else { return };
        let Some(span) = ctx.span(&id) else { return };
        let ext = span.extensions();
        let Some(data) = ext.get::<SpanData>() else {
            return;
        };
        let nanos = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
                .to_string()
        };
        let attributes: Vec<Value> = data
            .attributes
            .iter()
            .map(|(k, v)| json!({"key": k, "value": {"stringValue": v}}))
            .collect();
        let mut out = json!({
            "traceId": data.trace_id,
            "spanId": data.span_id,
            "name": span.name(),
            // SERVER for a webhook received, INTERNAL for the rest.
            "kind": if span.name() == "webhook" { 2 } else { 1 },
            "startTimeUnixNano": nanos(data.start),
            "endTimeUnixNano": nanos(SystemTime::now()),
            "attributes": attributes,
        });
        if let Some(p) = &data.parent_span_id {
            out["parentSpanId"] = json!(p);
        }
        let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() < MAX_QUEUED {
            q.push(out);
        }
    }
}

/// The layer, and — when `OTEL_EXPORTER_OTLP_ENDPOINT` is set — the task that sends what it
/// collects every second. Call from inside the Tokio runtime.
pub fn layer(endpoint: Option<String>, service: String) -> TraceLayer {
    let Some(endpoint) = endpoint else {
        return TraceLayer { queue: None };
    };
    let queue: std::sync::Arc<Mutex<Batch>> = Default::default();
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let shared = queue.clone();
    tokio::spawn(async move {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client with a timeout builds");
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let spans: Batch =
                std::mem::take(&mut *shared.lock().unwrap_or_else(|e| e.into_inner()));
            if spans.is_empty() {
                continue;
            }
            let body = json!({"resourceSpans": [{
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"scope": {"name": "flext-quality"}, "spans": spans}],
            }]});
            // Failures are not logged through tracing (that would make spans about spans);
            // one line on stderr says the collector is unreachable.
            match http.post(&url).json(&body).send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => eprintln!("OTLP export: the collector answered {}", r.status()),
                Err(e) => eprintln!("OTLP export failed: {}", e.without_url()),
            }
        }
    });
    TraceLayer { queue: Some(queue) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_round_trip_and_refuse_garbage() {
        let (t, s) = (new_trace_id(), new_span_id());
        assert_eq!(parse_traceparent(&traceparent(&t, &s)), Some((t, s)));
        for bad in ["", "00-xyz-abc-01", "00-0123-4567-01", "garbage"] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
    }
}
