//! End to end, outgoing events: a completed analysis is told to the hooks subscribed to
//! `analysis.completed`, signed with their secret; `gate.changed` when a push makes the gate
//! fail and again when it recovers, nothing when it stays; a 500 is retried without sending
//! again what was delivered; a removed hook hears nothing; the delivery log never holds a
//! hook's URL path, query or secret; and hooks without FLEXT_QUALITY_SECRET_KEY stop the server
//! at start. Both databases for the main story.

mod harness;
mod support;

use flext_quality::config::EventHookSetting;
use flext_quality::domain::status::{PublishState, Sink};
use flext_quality::publish::events::register_hook;
use flext_quality::server;
use harness::dsl::{run_test, Options, Repo, Tester};
use secrecy::SecretString;
use serde_json::json;
use support::fake_events::{expected_signature, FakeEvents, ReceivedEvent};

const CONFIG: &str = "[backends]\nruff = {}\n";

/// The events tests leave Slack out: it has its own tests.
fn without_slack(options: Options) -> Options {
    Options {
        settings: |s| s.slack_webhook_url = None,
        ..options
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Registers a hook through the API's function, as an admin.
async fn register(t: &Tester, url: &str, secret: &str, events: &[&str]) -> i64 {
    let secrets = server::secret_box(t.settings()).expect("the test server has a key");
    register_hook(t.store(), &secrets, "admin", url, secret, &strings(events))
        .await
        .unwrap()
}

/// Pushes `files` on main after `before`, waits for the check run and for publishing.
async fn push(t: &Tester, repo: &Repo, before: Option<&str>, files: &[(&str, &str)]) -> String {
    let sha = repo.commit("main", files);
    repo.push(before, &sha).await;
    t.expect_check_run(&sha).await;
    t.wait_idle().await;
    sha
}

/// (hook path, event) of each event, in the order sent.
fn told(events: &[ReceivedEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| (e.path.clone(), e.event.clone()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

async fn events_arrive_signed_and_tell_gate_changes(options: Options) {
    run_test(without_slack(options), |t| async move {
        let fake = FakeEvents::start().await;
        // One hook from the environment, as `serve` registers it; one through the API.
        let mut settings = t.settings().clone();
        settings.event_hooks = vec![EventHookSetting {
            url: SecretString::from(fake.hook_url("/hooks/all", "all-secret")),
            secret: SecretString::from("all-secret".to_owned()),
            events: strings(&["analysis.completed", "gate.changed"]),
        }];
        server::sync_event_hooks(&settings, t.store())
            .await
            .unwrap();
        let gate_url = fake.hook_url("/hooks/gate", "gate-secret");
        let gate_hook = register(&t, &gate_url, "gate-secret", &["gate.changed"]).await;

        let repo = t.repo("acme/events");
        let first = repo.commit(
            "main",
            &[("a.py", "X = 1\n"), (".flext-quality.toml", CONFIG)],
        );
        repo.push(None, &first).await;
        let run = t.expect_check_run(&first).await;
        t.wait_idle().await;
        let got = fake.take();
        // A first analysis is a baseline: completed, but no change of the gate.
        assert_eq!(told(&got), pairs(&[("/hooks/all", "analysis.completed")]));
        let e = &got[0];
        assert_eq!(e.signature, expected_signature("all-secret", &e.body));
        let a = t
            .store()
            .find_analysis(repo.id as i64, &first)
            .await
            .unwrap()
            .unwrap();
        let web = flext_quality::github::web_url(&t.github().url());
        assert_eq!(
            e.json,
            json!({
                "event": "analysis.completed",
                "delivery": e.delivery.parse::<i64>().unwrap(),
                "project": { "id": repo.id, "full_name": "acme/events" },
                "analysis": {
                    "id": a.id,
                    "sha": first,
                    "ref": "refs/heads/main",
                    "pr_number": null,
                    "score": 100.0,
                    "grade": "A",
                    "verdict": "success",
                    "new_count": 0,
                    "fixed_count": 0,
                    "completed_at": a.completed_at,
                    "url": format!("{web}/acme/events/runs/{}", run.id),
                },
            })
        );

        // The gate starts failing; the first request is answered 500 and only it is sent again.
        fake.fail_next(500, 1, false);
        let failing = push(&t, &repo, Some(&first), &[("b.py", "print(missing)\n")]).await;
        let got = fake.take();
        let mut sorted = told(&got);
        sorted.sort();
        assert_eq!(
            sorted,
            pairs(&[
                ("/hooks/all", "analysis.completed"),
                ("/hooks/all", "gate.changed"),
                ("/hooks/gate", "gate.changed"),
            ])
        );
        for e in got.iter().filter(|e| e.event == "gate.changed") {
            assert_eq!(e.json["previous_verdict"], "success");
            assert_eq!(e.json["analysis"]["verdict"], "failure");
            assert_eq!(e.json["analysis"]["sha"], failing.as_str());
        }
        let refused: Vec<_> = fake
            .requests()
            .into_iter()
            .filter(|r| r.status == 500)
            .collect();
        assert_eq!(refused.len(), 1);
        let retried = got
            .iter()
            .find(|e| e.delivery == refused[0].delivery)
            .unwrap();
        assert_eq!(
            retried.body, refused[0].body,
            "a retry sends the same event"
        );
        let log = t
            .store()
            .list_event_deliveries(None, None, 50)
            .await
            .unwrap();
        let row = log
            .iter()
            .find(|d| d.id.to_string() == refused[0].delivery)
            .unwrap();
        assert_eq!((row.attempts, row.status_code), (2, Some(200)));
        assert!(row.delivered_at.is_some() && row.error.is_none(), "{row:?}");
        let a = t
            .store()
            .find_analysis(repo.id as i64, &failing)
            .await
            .unwrap()
            .unwrap();
        let tasks = t.store().publish_tasks(a.id).await.unwrap();
        let events_tasks: Vec<_> = tasks.iter().filter(|t| t.sink == Sink::Events).collect();
        assert_eq!(events_tasks.len(), 1, "one task sends an analysis's events");
        assert_eq!(
            (events_tasks[0].state, events_tasks[0].attempts),
            (PublishState::Done, 2)
        );
        assert_eq!(
            log.iter().filter(|d| d.analysis_id == a.id).count(),
            3,
            "one row per hook and event"
        );

        // Still failing: the gate did not change.
        let still = push(&t, &repo, Some(&failing), &[("c.py", "print(also)\n")]).await;
        assert_eq!(
            told(&fake.take()),
            pairs(&[("/hooks/all", "analysis.completed")])
        );

        // Recovered: both hooks hear it.
        let fixed = push(
            &t,
            &repo,
            Some(&still),
            &[("b.py", "Y = 1\n"), ("c.py", "Z = 1\n")],
        )
        .await;
        let got = fake.take();
        let mut sorted = told(&got);
        sorted.sort();
        assert_eq!(
            sorted,
            pairs(&[
                ("/hooks/all", "analysis.completed"),
                ("/hooks/all", "gate.changed"),
                ("/hooks/gate", "gate.changed"),
            ])
        );
        let changed = got.iter().find(|e| e.event == "gate.changed").unwrap();
        assert_eq!(changed.json["previous_verdict"], "failure");
        assert_eq!(changed.json["analysis"]["verdict"], "success");

        // A removed hook hears nothing more.
        assert!(t
            .store()
            .remove_event_hook("admin", gate_hook)
            .await
            .unwrap());
        assert!(!t
            .store()
            .remove_event_hook("admin", gate_hook)
            .await
            .unwrap());
        push(&t, &repo, Some(&fixed), &[("d.py", "print(gone)\n")]).await;
        assert_eq!(
            told(&fake.take()),
            pairs(&[
                ("/hooks/all", "analysis.completed"),
                ("/hooks/all", "gate.changed")
            ])
        );

        let hooks = t.store().list_event_hooks().await.unwrap();
        let shown: Vec<_> = hooks
            .iter()
            .map(|h| (h.url_host.as_str(), h.created_by.as_str(), h.active))
            .collect();
        let host = fake.host();
        assert_eq!(
            shown,
            [
                (host.as_str(), "env", true),
                (host.as_str(), "admin", false)
            ]
        );
        assert_eq!(hooks[1].events, ["gate.changed"]);
        let gate_log = t
            .store()
            .list_event_deliveries(Some(gate_hook), None, 50)
            .await
            .unwrap();
        assert_eq!(gate_log.len(), 2);
        assert!(gate_log
            .iter()
            .all(|d| d.event == "gate.changed" && d.delivered_at.is_some()));
    })
    .await;
}

on_both_databases!(events_arrive_signed_and_tell_gate_changes);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_delivery_log_names_only_the_hosts_of_failing_hooks() {
    run_test(without_slack(Options::default()), |t| async move {
        let fake = FakeEvents::start().await;
        // A receiver whose error page quotes the request, token included.
        fake.fail_next(500, 10, true);
        let echo = fake.hook_url("/hooks/echo-path?token=canary", "canary-secret");
        register(&t, &echo, "canary-secret", &["analysis.completed"]).await;
        // A host that refuses connections.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let refused = format!("http://127.0.0.1:{port}/hooks/closed-path?token=canary");
        register(&t, &refused, "canary-secret", &["analysis.completed"]).await;

        let repo = t.repo("acme/hostile-hooks");
        push(
            &t,
            &repo,
            None,
            &[("a.py", "X = 1\n"), (".flext-quality.toml", CONFIG)],
        )
        .await;

        let log = t
            .store()
            .list_event_deliveries(None, None, 50)
            .await
            .unwrap();
        assert_eq!(log.len(), 2);
        for d in &log {
            let error = d.error.clone().unwrap_or_default();
            assert_eq!(d.attempts, 3, "retried up to the attempts allowed: {d:?}");
            assert!(d.delivered_at.is_none(), "{d:?}");
            assert!(error.contains("127.0.0.1:"), "names the host: {error}");
            for hidden in ["canary", "path", "token"] {
                assert!(!error.contains(hidden), "{hidden} in {error}");
            }
        }
        let echoed = log.iter().find(|d| d.status_code == Some(500)).unwrap();
        assert!(
            echoed.error.as_deref().unwrap().contains("answered 500"),
            "{echoed:?}"
        );
        let unreachable = log.iter().find(|d| d.status_code.is_none()).unwrap();
        assert!(
            unreachable
                .error
                .as_deref()
                .unwrap()
                .starts_with(&format!("cannot reach 127.0.0.1:{port}")),
            "{unreachable:?}"
        );
        // The receiver did get the token (it is its URL), signed events, and no more than asked.
        let requests = fake.requests();
        assert_eq!(requests.len(), 3);
        assert!(requests
            .iter()
            .all(|r| r.query.as_deref() == Some("token=canary")));
        let a = t
            .store()
            .list_event_deliveries(None, None, 1)
            .await
            .unwrap()[0]
            .analysis_id;
        let task = t
            .store()
            .publish_tasks(a)
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.sink == Sink::Events)
            .unwrap();
        assert_eq!(task.state, PublishState::Failed);
        assert!(!task.last_error.unwrap_or_default().contains("canary"));
        assert!(!harness::dsl::logs().contains("canary"));
    })
    .await;
}

#[test]
fn hooks_without_a_secret_key_stop_the_server_at_start() {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = harness::server::command(cwd.path(), &["serve"])
        .env(
            "FLEXT_QUALITY_EVENT_HOOKS",
            r#"[{"url": "https://hooks.example.com/in?token=canary", "secret": "canary", "events": ["gate.changed"]}]"#,
        )
        .env("FLEXT_QUALITY_DATA_DIR", cwd.path())
        .env("PORT", harness::server::free_port().to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            panic!("serve started with event hooks and no FLEXT_QUALITY_SECRET_KEY");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "error: FLEXT_QUALITY_EVENT_HOOKS is set but FLEXT_QUALITY_SECRET_KEY is not: the key seals the hooks' URLs and secrets in the database"
    );
}
