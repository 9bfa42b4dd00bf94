//! Every store function against both engines, each test on a fresh database.

mod harness;
mod support;

use flext_quality::domain::finding::{Category, Finding, RawFinding, Severity};
use flext_quality::store::*;

fn project(id: i64) -> ProjectUpsert {
    ProjectUpsert {
        id,
        installation_id: Some(9),
        full_name: format!("acme/repo{id}"),
        default_branch: "main".into(),
        clone_url: format!("https://github.com/acme/repo{id}.git"),
    }
}

fn request(sha: &str, force: bool) -> WebhookWork {
    WebhookWork::Analyse(AnalysisRequest {
        project: project(1),
        sha: sha.into(),
        trigger: "pull_request".into(),
        head_ref: Some("refs/pull/3/head".into()),
        base_ref: Some("refs/heads/main".into()),
        base_sha: Some("b".repeat(40)),
        pr_number: Some(3),
        force,
    })
}

fn finding(rule: &str, line: u32) -> Finding {
    Finding {
        raw: RawFinding {
            backend: "ruff".into(),
            rule: rule.into(),
            category: Category::Reliability,
            severity: Severity::Major,
            message: "Undefined name `x`".into(),
            path: "pkg/a.py".into(),
            start_line: line,
            end_line: line,
            start_column: Some(5),
            end_column: None,
            help_url: Some("https://docs.astral.sh/ruff/rules/undefined-name".into()),
            effort_minutes: 15,
        },
        fingerprint: format!("fp-{rule}-{line}"),
    }
}

fn result(findings: Vec<(Finding, bool)>) -> AnalysisResult {
    AnalysisResult {
        compared_sha: Some("c".repeat(40)),
        tool_versions_json: r#"{"ruff":"0.17.6"}"#.into(),
        ncloc: 120,
        score: 96.0,
        grade: "A".into(),
        deductions: [0.0, 4.0, 0.0],
        verdict: "failure".into(),
        gate_json: "{}".into(),
        new_count: findings.iter().filter(|(_, n)| *n).count() as i64,
        fixed_count: 1,
        timings_json: "{}".into(),
        findings,
    }
}

async fn migrations_are_idempotent(store: Store) {
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    assert!(store.ping().await);
}

async fn a_delivery_is_recorded_once(store: Store) {
    let sha = "a".repeat(40);
    let first = store
        .accept_delivery(
            "d1",
            "pull_request",
            Some("opened"),
            &request(&sha, false),
            3,
        )
        .await
        .unwrap();
    let DeliveryOutcome::Enqueued {
        job_id,
        analysis_id,
    } = first
    else {
        panic!("{first:?}")
    };
    assert_eq!(
        store
            .accept_delivery(
                "d1",
                "pull_request",
                Some("opened"),
                &request(&sha, false),
                3
            )
            .await
            .unwrap(),
        DeliveryOutcome::Duplicate
    );
    // Another delivery for the same commit reuses the analysis.
    assert_eq!(
        store
            .accept_delivery(
                "d2",
                "check_suite",
                Some("requested"),
                &request(&sha, false),
                3
            )
            .await
            .unwrap(),
        DeliveryOutcome::Reused { analysis_id }
    );
    assert_eq!(store.delivery_count().await.unwrap(), 2);
    assert_eq!(store.count_jobs("queued").await.unwrap(), 1);
    let job = store.get_job(job_id).await.unwrap().unwrap();
    assert_eq!((job.state.as_str(), job.attempts), ("queued", 0));
    let analysis = store.get_analysis(analysis_id).await.unwrap().unwrap();
    assert_eq!(
        (analysis.status.as_str(), analysis.pr_number),
        ("queued", Some(3))
    );
    assert_eq!(
        store.get_project(1).await.unwrap().unwrap().full_name,
        "acme/repo1"
    );
}

async fn a_rerun_of_a_completed_analysis_enqueues_again(store: Store) {
    let sha = "a".repeat(40);
    let DeliveryOutcome::Enqueued { analysis_id, .. } = store
        .accept_delivery(
            "d1",
            "pull_request",
            Some("opened"),
            &request(&sha, false),
            3,
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    let job = store.claim_job("w", 60_000).await.unwrap().unwrap();
    store.set_check_run(analysis_id, 77).await.unwrap();
    store
        .save_analysis_result(analysis_id, &result(vec![]))
        .await
        .unwrap();
    assert!(store.complete_job(job.id, "w").await.unwrap());
    // An ordinary trigger for an analysed commit reuses it; a re-run asks for a new one.
    assert_eq!(
        store
            .accept_delivery(
                "d2",
                "pull_request",
                Some("synchronize"),
                &request(&sha, false),
                3
            )
            .await
            .unwrap(),
        DeliveryOutcome::Reused { analysis_id }
    );
    let rerun = store
        .accept_delivery(
            "d3",
            "check_run",
            Some("rerequested"),
            &request(&sha, true),
            3,
        )
        .await
        .unwrap();
    assert!(
        matches!(rerun, DeliveryOutcome::Enqueued { analysis_id: a, .. } if a == analysis_id),
        "{rerun:?}"
    );
    let a = store.get_analysis(analysis_id).await.unwrap().unwrap();
    assert_eq!((a.status.as_str(), a.check_run_id), ("queued", None));
}

async fn bookkeeping_events_update_installations_and_projects(store: Store) {
    let created = WebhookWork::InstallationCreated {
        id: 9,
        account_login: "acme".into(),
        repositories: vec![ProjectUpsert {
            default_branch: String::new(),
            clone_url: String::new(),
            ..project(5)
        }],
    };
    assert_eq!(
        store
            .accept_delivery("i1", "installation", Some("created"), &created, 3)
            .await
            .unwrap(),
        DeliveryOutcome::Recorded
    );
    assert_eq!(store.installation_active(9).await.unwrap(), Some(true));
    // A later payload with the full repository fills in what the installation payload lacked.
    store
        .accept_delivery(
            "r1",
            "repository",
            Some("renamed"),
            &WebhookWork::ProjectRenamed(ProjectUpsert {
                full_name: "acme/renamed".into(),
                ..project(5)
            }),
            3,
        )
        .await
        .unwrap();
    let p = store.get_project(5).await.unwrap().unwrap();
    assert_eq!(
        (p.full_name.as_str(), p.default_branch.as_str()),
        ("acme/renamed", "main")
    );
    // And an installation payload without them does not erase them.
    store
        .accept_delivery("i2", "installation", Some("created"), &created, 3)
        .await
        .unwrap();
    assert_eq!(
        store.get_project(5).await.unwrap().unwrap().clone_url,
        "https://github.com/acme/repo5.git"
    );
    store
        .accept_delivery(
            "s1",
            "installation",
            Some("suspend"),
            &WebhookWork::InstallationSuspended {
                id: 9,
                suspended: true,
            },
            3,
        )
        .await
        .unwrap();
    assert_eq!(store.installation_active(9).await.unwrap(), Some(false));
    store
        .accept_delivery(
            "rr",
            "installation_repositories",
            Some("removed"),
            &WebhookWork::RepositoriesRemoved {
                installation_id: 9,
                repository_ids: vec![5],
            },
            3,
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_project(5).await.unwrap().unwrap().installation_id,
        None
    );
    let added = WebhookWork::RepositoriesAdded {
        installation_id: 9,
        repositories: vec![ProjectUpsert {
            default_branch: String::new(),
            clone_url: String::new(),
            ..project(5)
        }],
    };
    store
        .accept_delivery("ra", "installation_repositories", Some("added"), &added, 3)
        .await
        .unwrap();
    let p = store.get_project(5).await.unwrap().unwrap();
    assert_eq!(
        (p.installation_id, p.default_branch.as_str()),
        (Some(9), "main"),
        "re-added, details kept"
    );
    store
        .accept_delivery(
            "x1",
            "installation",
            Some("deleted"),
            &WebhookWork::InstallationDeleted { id: 9 },
            3,
        )
        .await
        .unwrap();
    assert_eq!(store.installation_active(9).await.unwrap(), None);
}

async fn jobs_are_leased_renewed_retried_and_taken_over(store: Store) {
    let sha = "a".repeat(40);
    let DeliveryOutcome::Enqueued { job_id, .. } = store
        .accept_delivery(
            "d1",
            "pull_request",
            Some("opened"),
            &request(&sha, false),
            2,
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    let job = store
        .claim_job("w1", 60_000)
        .await
        .unwrap()
        .expect("a queued job is claimable");
    assert_eq!(
        (
            job.id,
            job.attempts,
            job.max_attempts,
            job.lease_was_expired
        ),
        (job_id, 1, 2, false)
    );
    assert!(
        store.claim_job("w2", 60_000).await.unwrap().is_none(),
        "a leased job is not claimed twice"
    );
    assert!(store.renew_lease(job_id, "w1", 60_000).await.unwrap());
    assert!(
        !store.renew_lease(job_id, "w2", 60_000).await.unwrap(),
        "only the owner renews"
    );

    // A failed attempt goes back to the queue, not before its back-off.
    assert!(store
        .retry_job(job_id, "w1", "boom", now_ms() + 3_600_000)
        .await
        .unwrap());
    assert!(store.claim_job("w2", 60_000).await.unwrap().is_none());
    store.make_runnable_now(job_id).await.unwrap();
    let second = store.claim_job("w2", 1).await.unwrap().unwrap();
    assert_eq!(
        (second.attempts, second.last_error.as_deref()),
        (2, Some("boom"))
    );

    // w2 "dies": its 1 ms lease expires and w3 takes the job over.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let third = store
        .claim_job("w3", 60_000)
        .await
        .unwrap()
        .expect("an expired lease is claimable");
    assert!(third.lease_was_expired);
    assert_eq!(third.attempts, 3, "the take-over counts as an attempt");
    assert!(
        !store.complete_job(job_id, "w2").await.unwrap(),
        "the old owner can no longer finish it"
    );
    assert!(store.fail_job(job_id, "w3", "gave up").await.unwrap());
    let row = store.get_job(job_id).await.unwrap().unwrap();
    assert_eq!(
        (row.state.as_str(), row.last_error.as_deref()),
        ("failed", Some("gave up"))
    );
}

async fn concurrent_workers_claim_each_job_once(store: Store) {
    for i in 0..20 {
        let work = WebhookWork::Analyse(AnalysisRequest {
            sha: format!("{i:040}"),
            ..match request("x", false) {
                WebhookWork::Analyse(r) => r,
                _ => unreachable!(),
            }
        });
        store
            .accept_delivery(&format!("d{i}"), "pull_request", Some("opened"), &work, 3)
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for w in 0..6 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(job) = store.claim_job(&format!("w{w}"), 60_000).await.unwrap() {
                got.push(job.id);
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(
        (before, all.len()),
        (20, 20),
        "every job claimed exactly once"
    );
}

async fn analyses_and_findings_round_trip(store: Store) {
    let sha = "a".repeat(40);
    let DeliveryOutcome::Enqueued { analysis_id, .. } = store
        .accept_delivery(
            "d1",
            "pull_request",
            Some("opened"),
            &request(&sha, false),
            3,
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    store.mark_analysis_running(analysis_id).await.unwrap();
    let findings = vec![(finding("F821", 3), true), (finding("F401", 1), false)];
    store
        .save_analysis_result(analysis_id, &result(findings.clone()))
        .await
        .unwrap();
    let loaded = store.load_findings(analysis_id).await.unwrap();
    assert_eq!(
        loaded,
        vec![findings[1].clone(), findings[0].clone()],
        "ordered by path and line"
    );
    let a = store.find_analysis(1, &sha).await.unwrap().unwrap();
    assert_eq!(
        (
            a.status.as_str(),
            a.score,
            a.grade.as_deref(),
            a.new_count,
            a.fixed_count
        ),
        ("completed", Some(96.0), Some("A"), Some(1), Some(1))
    );
    assert!(a.started_at.is_some() && a.completed_at.is_some());
    // Saving again replaces the findings rather than adding to them.
    store
        .save_analysis_result(analysis_id, &result(vec![(finding("F821", 3), true)]))
        .await
        .unwrap();
    assert_eq!(store.load_findings(analysis_id).await.unwrap().len(), 1);

    let base = store
        .ensure_base_analysis(1, &"b".repeat(40))
        .await
        .unwrap();
    assert_eq!(base.trigger, "base");
    assert_eq!(
        store
            .ensure_base_analysis(1, &"b".repeat(40))
            .await
            .unwrap()
            .id,
        base.id
    );
    // A base analysis left running (its worker died) does not block a real trigger.
    let push = WebhookWork::Analyse(AnalysisRequest {
        sha: "b".repeat(40),
        trigger: "push".into(),
        pr_number: None,
        ..match request("x", false) {
            WebhookWork::Analyse(r) => r,
            _ => unreachable!(),
        }
    });
    let outcome = store
        .accept_delivery("p1", "push", None, &push, 3)
        .await
        .unwrap();
    assert!(
        matches!(outcome, DeliveryOutcome::Enqueued { analysis_id, .. } if analysis_id == base.id),
        "{outcome:?}"
    );
    store
        .mark_analysis_failed(base.id, "no tools")
        .await
        .unwrap();
    assert_eq!(
        store
            .get_analysis(base.id)
            .await
            .unwrap()
            .unwrap()
            .error
            .as_deref(),
        Some("no tools")
    );
    assert_eq!(store.list_analyses(1).await.unwrap().len(), 2);
}

on_both_engines!(
    migrations_are_idempotent,
    a_delivery_is_recorded_once,
    a_rerun_of_a_completed_analysis_enqueues_again,
    bookkeeping_events_update_installations_and_projects,
    jobs_are_leased_renewed_retried_and_taken_over,
    concurrent_workers_claim_each_job_once,
    analyses_and_findings_round_trip,
);
