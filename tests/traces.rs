//! Traces, with the real binary: a webhook's span, the job it enqueued and that job's stages
//! arrive at an OTLP collector stand-in as one trace (the job a child of the webhook, the
//! stages children of the job, the publish jobs continuing it), and every JSON log line inside
//! carries the trace id.

mod harness;
mod support;

use harness::pull::pull_request;
use harness::server::Server;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An OTLP/HTTP collector stand-in: keeps every span POSTed to `/v1/traces` (JSON encoding).
async fn collector() -> (String, Arc<Mutex<Vec<Value>>>) {
    let spans: Arc<Mutex<Vec<Value>>> = Default::default();
    let kept = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let kept = kept.clone();
                async move {
                    assert_eq!(headers["content-type"], "application/json");
                    let doc: Value = serde_json::from_slice(&body).expect("OTLP JSON");
                    let resource = &doc["resourceSpans"][0];
                    assert_eq!(resource["resource"]["attributes"][0]["key"], "service.name");
                    for s in resource["scopeSpans"][0]["spans"].as_array().unwrap() {
                        kept.lock().unwrap().push(s.clone());
                    }
                    "{}"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, spans)
}

fn attr<'a>(span: &'a Value, key: &str) -> Option<&'a str> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .and_then(|a| a["value"]["stringValue"].as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_webhooks_trace_continues_into_its_jobs_and_stages() {
    let (endpoint, spans) = collector().await;
    let pr = pull_request().await;
    let cwd = tempfile::tempdir().unwrap();
    let mut settings = pr.app_settings();
    settings.push(("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint));
    settings.push(("LOG_FORMAT", "json".into()));
    let server = Server::start(cwd.path(), &settings);
    server.wait_ready().await;
    let (status, text) = server.webhook("pull_request", &pr.payload).await;
    assert_eq!(status, 202, "{text}");
    pr.expect_ruff_findings(&server).await;

    // Wait for the webhook span and the publish jobs' spans to be exported.
    let started = Instant::now();
    let (webhook, all) = loop {
        let all = spans.lock().unwrap().clone();
        let webhook = all
            .iter()
            .find(|s| s["name"] == "webhook" && attr(s, "event") == Some("pull_request"))
            .cloned();
        let jobs = all.iter().filter(|s| s["name"] == "job").count();
        if let (Some(w), true) = (webhook, jobs >= 3) {
            break (w, all);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "spans so far: {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let trace = webhook["traceId"].as_str().unwrap();
    assert_eq!(trace.len(), 32);
    assert_eq!(webhook["kind"], 2);
    assert!(attr(&webhook, "delivery").is_some());
    let in_trace: Vec<&Value> = all.iter().filter(|s| s["traceId"] == trace).collect();
    let analyse = in_trace
        .iter()
        .find(|s| s["name"] == "job" && attr(s, "kind") == Some("analyse"))
        .expect("the analysis job is in the webhook's trace");
    assert_eq!(
        analyse["parentSpanId"], webhook["spanId"],
        "the job is the webhook's child"
    );
    assert_eq!(attr(analyse, "repo"), Some("acme/first"));
    assert_eq!(attr(analyse, "sha"), Some(pr.head.as_str()));
    for stage in ["start", "fetch", "configure", "analyse", "save"] {
        let s = in_trace
            .iter()
            .find(|s| s["name"] == stage)
            .unwrap_or_else(|| panic!("no {stage} span in the trace"));
        assert_eq!(
            s["parentSpanId"], analyse["spanId"],
            "{stage} is a stage of the job"
        );
        let (start, end): (u128, u128) = (
            s["startTimeUnixNano"].as_str().unwrap().parse().unwrap(),
            s["endTimeUnixNano"].as_str().unwrap().parse().unwrap(),
        );
        assert!(start <= end);
    }
    let publish: Vec<&&Value> = in_trace
        .iter()
        .filter(|s| s["name"] == "job" && attr(s, "kind") == Some("publish"))
        .collect();
    assert!(
        publish.len() >= 2,
        "check run and comment publishing continue the trace"
    );
    for p in publish {
        assert_eq!(p["parentSpanId"], analyse["spanId"]);
    }

    // JSON logs: every line logged inside the webhook or the job names the trace.
    let logs = server.logs();
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let inside: Vec<&Value> = lines
        .iter()
        .filter(|l| l["spans"].as_array().is_some_and(|s| !s.is_empty()))
        .collect();
    assert!(!inside.is_empty());
    let ours = inside
        .iter()
        .filter(|l| l.to_string().contains(trace))
        .count();
    assert!(
        ours >= 2,
        "log lines of the webhook and its job carry the trace id:\n{logs}"
    );
    for l in inside {
        assert!(
            l["spans"][0]["trace_id"].is_string(),
            "every line in a span has its trace id: {l}"
        );
    }
}
