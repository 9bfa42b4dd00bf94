//! `/metrics` after real analyses: the counters moved by the right amounts (webhooks by event
//! and outcome, refusals by reason, job attempts, stages, backends, verdicts and grades, GitHub
//! requests by status, Slack), the queue gauges read from the database, and the optional token.

mod harness;
mod support;

use flext_quality::config::Settings;
use harness::dsl::{run_test, Options, Tester};
use std::collections::BTreeMap;

const CONFIG: &str = "[backends]\nruff = {}\n";

/// Every sample line, `name{labels}` → value.
async fn scrape(t: &Tester, token: Option<&str>) -> (u16, BTreeMap<String, f64>) {
    let mut req = t.http().get(format!("{}/metrics", t.url()));
    if let Some(tok) = token {
        req = req.bearer_auth(tok);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| (k.to_owned(), v.parse().unwrap_or(f64::NAN)))
        .collect();
    (status, samples)
}

fn get(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    m.get(key).copied().unwrap_or(0.0)
}

fn sum(m: &BTreeMap<String, f64>, prefix: &str) -> f64 {
    m.iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counters_move_by_what_happened() {
    run_test(Options::default(), |t| async move {
        let (status, before) = scrape(&t, None).await;
        assert_eq!(status, 200);
        let repo = t.repo("acme/observed");
        let first = repo.commit(
            "main",
            &[("a.py", "X = 1\n"), (".flext-quality.toml", CONFIG)],
        );
        repo.push(None, &first).await;
        t.expect_check_run(&first).await;
        t.wait_idle().await;
        let pr = repo
            .open_pr(3, &first, &[("b.py", "print(undefined_name)\n")])
            .await;
        let run = t.expect_check_run(&pr.head).await;
        assert_eq!(
            run.conclusion.as_deref(),
            Some("failure"),
            "{:?}",
            run.summary
        );
        assert!(
            run.title.as_deref().unwrap_or("").contains("Grade"),
            "{:?} {:?}",
            run.title,
            run.summary
        );
        t.wait_idle().await;
        assert!(t
            .expect_pr_comment(&pr)
            .await
            .body
            .contains("Quality gate: failed"));
        // A webhook with a bad signature.
        let (code, _) = t
            .post(
                &[
                    ("x-github-event", "push"),
                    ("x-github-delivery", "d-bad"),
                    ("x-hub-signature-256", "sha256=00"),
                ],
                b"{}".to_vec(),
            )
            .await;
        assert_eq!(code, 401);
        let (_, after) = scrape(&t, None).await;
        let delta = |k: &str| get(&after, k) - get(&before, k);
        let delta_sum = |p: &str| sum(&after, p) - sum(&before, p);

        assert_eq!(
            delta("flext_quality_webhooks_total{event=\"push\",outcome=\"enqueued\"}"),
            1.0
        );
        assert_eq!(
            delta("flext_quality_webhooks_total{event=\"pull_request\",outcome=\"enqueued\"}"),
            1.0
        );
        assert_eq!(
            delta("flext_quality_webhooks_refused_total{reason=\"signature\"}"),
            1.0
        );
        assert_eq!(
            delta("flext_quality_job_duration_seconds_count{kind=\"analyse\",outcome=\"done\"}"),
            2.0,
            "{:#?}",
            after
                .iter()
                .filter(|(k, _)| k.contains("_count"))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            delta("flext_quality_analyses_total{verdict=\"success\",grade=\"A\"}"),
            1.0,
            "{after:#?}"
        );
        assert_eq!(
            delta_sum("flext_quality_analyses_total{verdict=\"failure\""),
            1.0
        );
        assert_eq!(
            delta("flext_quality_backend_duration_seconds_count{backend=\"ruff\"}"),
            2.0
        );
        assert_eq!(
            delta("flext_quality_backend_failures_total{backend=\"ruff\"}"),
            0.0
        );
        assert_eq!(
            delta("flext_quality_stage_duration_seconds_count{stage=\"fetch\"}"),
            2.0
        );
        // What the fake GitHub received is what we counted as answered.
        let answered = t
            .github()
            .requests()
            .iter()
            .filter(|r| !r.path.starts_with("/git/") && r.operation.is_some())
            .count() as f64;
        assert_eq!(delta_sum("flext_quality_github_requests_total{"), answered);
        assert!(
            delta("flext_quality_github_requests_total{status=\"201\"}") >= 2.0,
            "check runs created"
        );
        assert_eq!(
            get(&after, "flext_quality_queue_depth{kind=\"analyse\"}"),
            0.0
        );
        assert!(after.contains_key("flext_quality_queue_oldest_age_seconds{kind=\"publish\"}"));
        let slack = delta_sum("flext_quality_slack_requests_total{");
        let told = t.slack().take().len() as f64;
        assert_eq!(slack, told);
    })
    .await;
}

fn with_token(s: &mut Settings) {
    s.metrics_token = Some("scrape-token".to_owned().into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_closes_metrics() {
    run_test(
        Options {
            settings: with_token,
            ..Options::default()
        },
        |t| async move {
            assert_eq!(scrape(&t, None).await.0, 401);
            assert_eq!(scrape(&t, Some("wrong")).await.0, 401);
            let (status, m) = scrape(&t, Some("scrape-token")).await;
            assert_eq!(status, 200);
            assert!(m.keys().any(|k| k.starts_with("flext_quality_queue_depth")));
        },
    )
    .await;
}

/// Every metric the Grafana dashboard in `deploy/` asks for is one the registry declares, and
/// every declared metric is on the dashboard.
#[test]
fn the_grafana_dashboard_uses_real_metrics() {
    let declared = flext_quality::metrics::METRICS.names();
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/grafana-dashboard.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut used = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                if word.starts_with("flext_quality_") {
                    let family = ["_bucket", "_count", "_sum"]
                        .iter()
                        .fold(word.to_owned(), |n, s| n.trim_end_matches(s).to_owned());
                    assert!(
                        declared.contains(&family),
                        "{word} is not a metric ({declared:?})"
                    );
                    used.insert(family);
                }
            }
        }
    }
    for name in declared {
        assert!(used.contains(name), "{name} is not on the dashboard");
    }
}
