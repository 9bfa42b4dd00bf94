//! Webhook ingress over real HTTP: every shared example payload is handled or ignored as it
//! should be, and every kind of bad input gets a 4xx with a one-line reason.

mod harness;
mod support;

use harness::dsl::{run_test, Options, SECRET};
use secrecy::SecretString;
use serde_json::Value;

/// (name, headers, body, expected status, text the answer must contain)
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);

fn examples() -> Vec<(String, String, Vec<u8>)> {
    let root = format!(
        "{}/../shared/fixtures/github/webhooks",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut out = Vec::new();
    for event in std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{root}: {e}")) {
        let event = event.unwrap();
        for file in std::fs::read_dir(event.path()).unwrap() {
            let file = file.unwrap();
            out.push((
                event.file_name().to_string_lossy().into_owned(),
                file.file_name().to_string_lossy().into_owned(),
                std::fs::read(file.path()).unwrap(),
            ));
        }
    }
    out.sort();
    out
}

/// What each example should lead to: an analysis job, or nothing (bookkeeping or ignored).
fn expected_outcome(event: &str, payload: &Value) -> &'static str {
    let action = payload["action"].as_str().unwrap_or("");
    match (event, action) {
        ("pull_request", "opened" | "synchronize" | "reopened" | "ready_for_review") => "queued",
        ("push", _) => {
            let default = format!(
                "refs/heads/{}",
                payload["repository"]["default_branch"].as_str().unwrap()
            );
            if payload["ref"] == default.as_str() && payload["deleted"] != true {
                "queued"
            } else {
                "ignored"
            }
        }
        ("check_suite", "requested" | "rerequested") => {
            let suite = &payload["check_suite"];
            let has_pr = suite["pull_requests"]
                .as_array()
                .is_some_and(|p| !p.is_empty());
            if has_pr || suite["head_branch"] == payload["repository"]["default_branch"] {
                "queued"
            } else {
                "ignored"
            }
        }
        // Our test app has id 4242; these re-runs belong to app 2, so they are not ours.
        ("check_run", "rerequested") => "ignored",
        ("installation", _) | ("installation_repositories", _) | ("repository", _) => "recorded",
        _ => "ignored",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_payload_is_handled_or_ignored() {
    let options = Options {
        workers: 0,
        ..Options::default()
    };
    run_test(options, |app| async move {
        let examples = examples();
        assert!(
            examples.len() >= 37,
            "expected the 37 shared examples, found {}",
            examples.len()
        );
        for (i, (event, file, body)) in examples.iter().enumerate() {
            let payload: Value = serde_json::from_slice(body).unwrap();
            // The exact bytes GitHub sent are what is signed.
            let signature = flext_quality::github::signature::sign(
                &SecretString::from(SECRET.to_owned()),
                body,
            );
            let delivery = format!("example-{i}");
            let (status, text) = app
                .post(
                    &[
                        ("X-GitHub-Event", event),
                        ("X-GitHub-Delivery", &delivery),
                        ("X-Hub-Signature-256", &signature),
                    ],
                    body.clone(),
                )
                .await;
            assert_eq!(status, 202, "{event}/{file}: {text}");
            assert_eq!(text.trim().lines().count(), 1, "one-line answer: {text:?}");
            let expected = expected_outcome(event, &payload);
            let got =
                if text.contains("queued as job") || text.contains("already analysed or queued") {
                    "queued"
                } else if text.contains("ignored") {
                    "ignored"
                } else {
                    "recorded"
                };
            assert_eq!(got, expected, "{event}/{file}: {text}");
        }
        assert_eq!(
            app.store().delivery_count().await.unwrap(),
            examples.len() as i64
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_4xx() {
    let options = Options {
        workers: 0,
        ..Options::default()
    };
    run_test(options, |app| async move {
    let body = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#.to_vec();
    let good =
        flext_quality::github::signature::sign(&SecretString::from(SECRET.to_owned()), &body);
    let rotated_out = flext_quality::github::signature::sign(
        &SecretString::from("an-old-secret".to_owned()),
        &body,
    );
    let wrong =
        flext_quality::github::signature::sign(&SecretString::from("nope".to_owned()), &body);

    let cases: Vec<Case> = vec![
        (
            "unsigned",
            vec![("X-GitHub-Event", "ping"), ("X-GitHub-Delivery", "a")],
            body.clone(),
            401,
            "missing X-Hub-Signature-256",
        ),
        (
            "wrong secret",
            vec![
                ("X-GitHub-Event", "ping"),
                ("X-GitHub-Delivery", "b"),
                ("X-Hub-Signature-256", &wrong),
            ],
            body.clone(),
            401,
            "does not match",
        ),
        (
            "not hex",
            vec![
                ("X-GitHub-Event", "ping"),
                ("X-GitHub-Delivery", "c"),
                ("X-Hub-Signature-256", "sha256=xyz"),
            ],
            body.clone(),
            401,
            "not of the form",
        ),
        (
            "no delivery id",
            vec![("X-GitHub-Event", "ping"), ("X-Hub-Signature-256", &good)],
            body.clone(),
            400,
            "X-GitHub-Delivery",
        ),
        (
            "no event",
            vec![("X-GitHub-Delivery", "d"), ("X-Hub-Signature-256", &good)],
            body.clone(),
            400,
            "X-GitHub-Event",
        ),
        (
            "previous secret still accepted",
            vec![
                ("X-GitHub-Event", "ping"),
                ("X-GitHub-Delivery", "e"),
                ("X-Hub-Signature-256", &rotated_out),
            ],
            body.clone(),
            202,
            "accepted",
        ),
        (
            "unknown event",
            vec![
                ("X-GitHub-Event", "sponsorship"),
                ("X-GitHub-Delivery", "f"),
                ("X-Hub-Signature-256", &good),
            ],
            body.clone(),
            202,
            "not handled",
        ),
    ];
    for (name, headers, body, status, needle) in cases {
        let (got, text) = app.post(&headers, body).await;
        assert_eq!(got, status, "{name}: {text}");
        assert!(text.contains(needle), "{name}: {text:?} lacks {needle:?}");
        assert_eq!(text.trim().lines().count(), 1, "{name}: one line: {text:?}");
    }

    // Signed but not JSON, and JSON that lacks what the event needs.
    for (name, event, body, needle) in [
        (
            "malformed JSON",
            "push",
            b"{not json".to_vec(),
            "malformed JSON",
        ),
        (
            "missing field",
            "pull_request",
            br#"{"action":"opened","number":1}"#.to_vec(),
            "pull_request",
        ),
        (
            "not an object",
            "push",
            b"[1,2]".to_vec(),
            "not a JSON object",
        ),
    ] {
        let sig =
            flext_quality::github::signature::sign(&SecretString::from(SECRET.to_owned()), &body);
        let (got, text) = app
            .post(
                &[
                    ("X-GitHub-Event", event),
                    ("X-GitHub-Delivery", name),
                    ("X-Hub-Signature-256", &sig),
                ],
                body,
            )
            .await;
        assert_eq!(got, 400, "{name}: {text}");
        assert!(text.contains(needle), "{name}: {text}");
    }

    // Over 25 MiB: refused when the length is announced, and when a chunked body grows past it.
    let addr = app.url().trim_start_matches("http://").to_owned();
    let announced = format!(
        "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: huge\r\nX-Hub-Signature-256: {good}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        25 * 1024 * 1024 + 1
    );
    let answer = raw_http(&addr, announced.into_bytes(), None).await;
    assert!(
        answer.starts_with("HTTP/1.1 413") && answer.contains("25 MiB"),
        "{answer}"
    );
    let chunked = format!(
        "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: huge2\r\nX-Hub-Signature-256: {good}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let answer = raw_http(&addr, chunked.into_bytes(), Some(26 * 1024 * 1024)).await;
    assert!(
        answer.starts_with("HTTP/1.1 413") && answer.contains("25 MiB"),
        "{answer}"
    );

    // A sender that stops sending is cut off, so it cannot hold a reader (and memory).
    let slow = format!(
        "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: slow\r\nX-Hub-Signature-256: {good}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"zen\":"
    );
    let started = std::time::Instant::now();
    let answer = raw_http(&addr, slow.into_bytes(), None).await;
    assert!(
        answer.starts_with("HTTP/1.1 408") && answer.contains("not received within"),
        "{answer}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(15));

    // Nothing refused was recorded; the two accepted deliveries were.
    assert_eq!(app.store().delivery_count().await.unwrap(), 2);
    let health = app
        .http()
        .get(format!("{}/healthz", app.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready = app
        .http()
        .get(format!("{}/readyz", app.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    })
    .await;
}

/// Sends raw HTTP (headers, then optionally `chunked_bytes` of body in 1 MiB chunks, ignoring
/// write errors once the server has answered) and returns what the server said.
async fn raw_http(addr: &str, head: Vec<u8>, chunked_bytes: Option<usize>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(&head).await.unwrap();
    if let Some(total) = chunked_bytes {
        let chunk = vec![b' '; 1024 * 1024];
        let mut sent = 0;
        while sent < total {
            let frame = [
                format!("{:x}\r\n", chunk.len()).into_bytes(),
                chunk.clone(),
                b"\r\n".to_vec(),
            ]
            .concat();
            if stream.write_all(&frame).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        stream.read_to_end(&mut answer),
    )
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}
