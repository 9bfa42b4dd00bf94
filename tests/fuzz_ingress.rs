//! Webhook ingress against generated input (proptest), through the real router and a real
//! database: GitHub's example payloads mutated byte by byte and cut short, random bytes and
//! JSON, odd events and delivery ids, signatures valid, missing, wrong or malformed. Whatever
//! comes, the answer is a 2xx or a 4xx with a reason — never a 5xx, a panic or a hang — and the
//! server still answers afterwards.

mod harness;
mod support;

use flext_quality::github::signature::sign;
use harness::dsl::{fixture, run_test, Options, SECRET};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use secrecy::SecretString;

/// The example payloads mutations start from.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    [
        ("pull_request", "opened.payload.json"),
        ("push", "with-new-branch.payload.json"),
        ("issue_comment", "created.payload.json"),
        ("check_suite", "rerequested.payload.json"),
        ("installation", "created.payload.json"),
    ]
    .into_iter()
    .filter_map(|(event, file)| {
        let path = format!(
            "{}/../shared/fixtures/github/webhooks/{event}/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::path::Path::new(&path)
            .is_file()
            .then(|| (event, serde_json::to_vec(&fixture(event, file)).unwrap()))
    })
    .collect()
}

#[derive(Debug, Clone)]
enum Body {
    /// A seed payload with bytes replaced and maybe cut short.
    Mutated {
        seed: usize,
        edits: Vec<(usize, u8)>,
        cut: Option<usize>,
    },
    Bytes(Vec<u8>),
    Json(String),
}

#[derive(Debug, Clone, Copy)]
enum Signature {
    Valid,
    Missing,
    Wrong,
    NotHex,
    Sha1,
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        4 => (0usize..5, prop::collection::vec((any::<usize>(), any::<u8>()), 0..8), prop::option::of(any::<usize>()))
            .prop_map(|(seed, edits, cut)| Body::Mutated { seed, edits, cut }),
        1 => prop::collection::vec(any::<u8>(), 0..2048).prop_map(Body::Bytes),
        1 => "[\\[\\]{}\":,0-9a-z \\\\]{0,300}".prop_map(Body::Json),
    ]
}

fn render(body: &Body, seeds: &[(&str, Vec<u8>)]) -> Vec<u8> {
    match body {
        Body::Mutated { seed, edits, cut } => {
            let mut b = seeds[seed % seeds.len()].1.clone();
            for (at, byte) in edits {
                if !b.is_empty() {
                    let i = at % b.len();
                    b[i] = *byte;
                }
            }
            if let Some(c) = cut {
                b.truncate(c % (b.len() + 1));
            }
            b
        }
        Body::Bytes(b) => b.clone(),
        Body::Json(s) => s.clone().into_bytes(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_input_makes_ingress_fail() {
    // No workers: only what ingress does is under test (accepted analyses just queue).
    run_test(
        Options {
            workers: 0,
            ..Options::default()
        },
        |t| async move {
            let seeds = seeds();
            assert!(seeds.len() >= 3, "the shared example payloads are needed");
            let secret = SecretString::from(SECRET.to_owned());
            let handle = tokio::runtime::Handle::current();
            let strategy = (
                prop_oneof![
                    Just("pull_request".to_owned()),
                    Just("push".to_owned()),
                    Just("issue_comment".to_owned()),
                    Just("check_suite".to_owned()),
                    Just("installation".to_owned()),
                    "[a-z_]{0,30}",
                ],
                prop_oneof![Just("d-1".to_owned()), "[ -~]{0,120}", "[a-f0-9-]{36}"],
                prop_oneof![
                    Just(Signature::Valid),
                    Just(Signature::Valid),
                    Just(Signature::Missing),
                    Just(Signature::Wrong),
                    Just(Signature::NotHex),
                    Just(Signature::Sha1),
                ],
                body(),
            );
            let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<u16, usize>::new());
            tokio::task::block_in_place(|| {
                let mut runner = TestRunner::new(Config {
                    cases: 400,
                    ..Config::default()
                });
                runner
                    .run(&strategy, |(event, delivery, signature, body)| {
                        let bytes = render(&body, &seeds);
                        let sig = match signature {
                            Signature::Valid => Some(sign(&secret, &bytes)),
                            Signature::Missing => None,
                            Signature::Wrong => {
                                Some(sign(&SecretString::from("another".to_owned()), &bytes))
                            }
                            Signature::NotHex => Some("sha256=not-hex-at-all".to_owned()),
                            Signature::Sha1 => Some("sha1=0123456789abcdef".to_owned()),
                        };
                        let mut headers = vec![
                            ("X-GitHub-Event", event.as_str()),
                            ("X-GitHub-Delivery", delivery.as_str()),
                        ];
                        if let Some(s) = &sig {
                            headers.push(("X-Hub-Signature-256", s.as_str()));
                        }
                        let (status, text) = handle.block_on(t.post(&headers, bytes));
                        *statuses.lock().unwrap().entry(status).or_default() += 1;
                        prop_assert!(
                            status < 500,
                            "{status} for {event} {signature:?} {body:?}: {text}"
                        );
                        if status >= 400 {
                            prop_assert!(
                                !text.trim().is_empty() && text.trim().lines().count() == 1,
                                "a one-line reason: {text}"
                            );
                        }
                        Ok(())
                    })
                    .unwrap_or_else(|e| panic!("{e}"));
            });
            // Both sides were reached: some inputs accepted, some refused.
            let statuses = statuses.into_inner().unwrap();
            assert!(statuses.keys().any(|s| *s == 202), "{statuses:?}");
            assert!(
                statuses.keys().any(|s| (400..500).contains(s)),
                "{statuses:?}"
            );
            let health = t
                .http()
                .get(format!("{}/healthz", t.url()))
                .send()
                .await
                .unwrap();
            assert_eq!(health.status().as_u16(), 200, "the server still answers");
        },
    )
    .await;
}
