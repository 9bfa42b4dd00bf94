//! Every store function against both engines, each test on a fresh database.

mod harness;
mod support;

use flext_quality::domain::events::{AnalysisRequest, Event, Project};
use flext_quality::domain::finding::{Category, Finding, RawFinding, Severity};
use flext_quality::domain::gate::Verdict;
use flext_quality::domain::score::{score, Grade};
use flext_quality::domain::status::{
    AnalysisStatus, JobKind, JobState, PublishState, Sink, Trigger,
};
use flext_quality::store::*;

const LIMITS: JobLimits = JobLimits {
    max_attempts: 3,
    deadline_ms: 600_000,
};

fn project(id: i64) -> Project {
    Project {
        id,
        installation_id: Some(9),
        full_name: format!("acme/repo{id}"),
        default_branch: "main".into(),
        clone_url: format!("https://github.com/acme/repo{id}.git"),
    }
}

fn analysis_request(sha: &str, force: bool) -> AnalysisRequest {
    AnalysisRequest {
        project: project(1),
        sha: sha.into(),
        trigger: Trigger::PullRequest,
        head_ref: Some("refs/pull/3/head".into()),
        base_ref: Some("refs/heads/main".into()),
        base_sha: Some("b".repeat(40)),
        pr_number: Some(3),
        force,
        requested_by: Some("octocat".into()),
    }
}

fn request(sha: &str, force: bool) -> Event {
    Event::Analyse(analysis_request(sha, force))
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
        line_key: format!("lk-{rule}"),
        in_tests: line % 2 == 0,
    }
}

fn result(findings: Vec<(Finding, bool)>) -> AnalysisResult {
    let s = score(findings.iter().map(|(f, _)| (f.category, f.severity)), 1000);
    AnalysisResult {
        compared_sha: Some("c".repeat(40)),
        config_key: "cafe0123cafe0123".into(),
        tool_versions: [("ruff".to_owned(), "0.17.6".to_owned())].into(),
        ncloc: 120,
        score: Some(s),
        verdict: Verdict::Failure,
        new_count: findings.iter().filter(|(_, n)| *n).count() as i64,
        details: AnalysisDetails::default(),
        findings: findings
            .into_iter()
            .map(|(finding, is_new)| SavedFinding {
                finding,
                is_new,
                annotate: is_new,
            })
            .collect(),
        fixed: vec![finding("E999", 9)],
        notify: None,
        events: Default::default(),
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
            LIMITS,
        )
        .await
        .unwrap();
    let Accepted::Enqueued {
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
                LIMITS
            )
            .await
            .unwrap(),
        Accepted::Duplicate
    );
    // Another delivery for the same commit reuses the analysis.
    assert_eq!(
        store
            .accept_delivery(
                "d2",
                "check_suite",
                Some("requested"),
                &request(&sha, false),
                LIMITS
            )
            .await
            .unwrap(),
        Accepted::Reused { analysis_id }
    );
    assert_eq!(store.delivery_count().await.unwrap(), 2);
    assert_eq!(store.count_jobs(JobState::Queued).await.unwrap(), 1);
    let job = store.get_job(job_id).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.attempts, job.kind),
        (JobState::Queued, 0, JobKind::Analyse)
    );
    assert!(job.deadline_at.is_some_and(|d| d > now_ms()));
    let analysis = store.get_analysis(analysis_id).await.unwrap().unwrap();
    assert_eq!(
        (analysis.status, analysis.pr_number),
        (AnalysisStatus::Queued, Some(3))
    );
    assert_eq!(
        store.get_project(1).await.unwrap().unwrap().full_name,
        "acme/repo1"
    );
}

async fn a_rerun_of_a_completed_analysis_enqueues_again(store: Store) {
    let sha = "a".repeat(40);
    let Accepted::Enqueued { analysis_id, .. } = store
        .accept_delivery(
            "d1",
            "pull_request",
            Some("opened"),
            &request(&sha, false),
            LIMITS,
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    let job = store.claim_job("w", 60_000).await.unwrap().unwrap();
    store.set_check_run(analysis_id, 77).await.unwrap();
    store
        .save_analysis(analysis_id, &result(vec![]), &[], 3)
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
                LIMITS
            )
            .await
            .unwrap(),
        Accepted::Reused { analysis_id }
    );
    let rerun = store
        .accept_delivery(
            "d3",
            "check_run",
            Some("rerequested"),
            &request(&sha, true),
            LIMITS,
        )
        .await
        .unwrap();
    assert!(
        matches!(rerun, Accepted::Enqueued { analysis_id: a, .. } if a == analysis_id),
        "{rerun:?}"
    );
    let a = store.get_analysis(analysis_id).await.unwrap().unwrap();
    assert_eq!((a.status, a.check_run_id), (AnalysisStatus::Queued, None));
}

async fn bookkeeping_events_update_installations_and_projects(store: Store) {
    let created = Event::InstallationCreated {
        id: 9,
        account_login: "acme".into(),
        repositories: vec![Project {
            default_branch: String::new(),
            clone_url: String::new(),
            ..project(5)
        }],
    };
    assert_eq!(
        store
            .accept_delivery("i1", "installation", Some("created"), &created, LIMITS)
            .await
            .unwrap(),
        Accepted::Recorded
    );
    assert_eq!(store.installation_active(9).await.unwrap(), Some(true));
    // A later payload with the full repository fills in what the installation payload lacked.
    store
        .accept_delivery(
            "r1",
            "repository",
            Some("renamed"),
            &Event::ProjectRenamed(Project {
                full_name: "acme/renamed".into(),
                ..project(5)
            }),
            LIMITS,
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
        .accept_delivery("i2", "installation", Some("created"), &created, LIMITS)
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
            &Event::InstallationSuspended {
                id: 9,
                suspended: true,
            },
            LIMITS,
        )
        .await
        .unwrap();
    assert_eq!(store.installation_active(9).await.unwrap(), Some(false));
    store
        .accept_delivery(
            "rr",
            "installation_repositories",
            Some("removed"),
            &Event::RepositoriesRemoved {
                installation_id: 9,
                repository_ids: vec![5],
            },
            LIMITS,
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_project(5).await.unwrap().unwrap().installation_id,
        None
    );
    assert!(
        store.project_archived_at(5).await.unwrap().is_some(),
        "archived, history kept"
    );
    let added = Event::RepositoriesAdded {
        installation_id: 9,
        repositories: vec![Project {
            default_branch: String::new(),
            clone_url: String::new(),
            ..project(5)
        }],
    };
    store
        .accept_delivery(
            "ra",
            "installation_repositories",
            Some("added"),
            &added,
            LIMITS,
        )
        .await
        .unwrap();
    let p = store.get_project(5).await.unwrap().unwrap();
    assert_eq!(
        (p.installation_id, p.default_branch.as_str()),
        (Some(9), "main"),
        "re-added, details kept"
    );
    assert_eq!(store.project_archived_at(5).await.unwrap(), None);
    store
        .accept_delivery(
            "x1",
            "installation",
            Some("deleted"),
            &Event::InstallationDeleted { id: 9 },
            LIMITS,
        )
        .await
        .unwrap();
    assert_eq!(store.installation_active(9).await.unwrap(), Some(false));
    assert_eq!(
        store.installation_state(9).await.unwrap(),
        InstallationState::Gone,
        "uninstalled is remembered, so late work is not started"
    );
    assert_eq!(
        store.installation_state(12345).await.unwrap(),
        InstallationState::Active,
        "an installation never heard of (installed before this server) may be acted for"
    );
}

async fn one_instance_reconciles_at_a_time(store: Store) {
    assert!(store.take_reconcile_lease(60_000).await.unwrap());
    assert!(!store.take_reconcile_lease(60_000).await.unwrap(), "held");
    assert_eq!(store.reconcile_checkpoint().await.unwrap(), 0);
    store.set_reconcile_checkpoint(42).await.unwrap();
    assert_eq!(store.reconcile_checkpoint().await.unwrap(), 42);
    assert!(store.record_redelivery(1, "guid-a").await.unwrap());
    assert!(
        !store.record_redelivery(2, "guid-a").await.unwrap(),
        "once per GUID"
    );
}

async fn a_suspension_cancels_queued_work_and_the_unsuspension_resumes_it(store: Store) {
    let accepted = store
        .accept_delivery(
            "a",
            "pull_request",
            Some("opened"),
            &request("e", false),
            LIMITS,
        )
        .await
        .unwrap();
    let Accepted::Enqueued { analysis_id, .. } = accepted else {
        panic!("{accepted:?}")
    };
    let installation = project(1).installation_id.unwrap();
    let suspend = |suspended| Event::InstallationSuspended {
        id: installation,
        suspended,
    };
    store
        .accept_delivery("s", "installation", Some("suspend"), &suspend(true), LIMITS)
        .await
        .unwrap();
    let a = store.get_analysis(analysis_id).await.unwrap().unwrap();
    assert_eq!(a.status, AnalysisStatus::Cancelled);
    assert_eq!(a.error.as_deref(), Some(flext_quality::store::SUSPENDED));
    assert_eq!(store.count_jobs(JobState::Queued).await.unwrap(), 0);
    store
        .accept_delivery(
            "u",
            "installation",
            Some("unsuspend"),
            &suspend(false),
            LIMITS,
        )
        .await
        .unwrap();
    let a = store.get_analysis(analysis_id).await.unwrap().unwrap();
    assert_eq!(a.status, AnalysisStatus::Queued);
    assert_eq!(store.count_jobs(JobState::Queued).await.unwrap(), 1);
}

async fn jobs_are_leased_renewed_retried_and_taken_over(store: Store) {
    let sha = "a".repeat(40);
    let Accepted::Enqueued { job_id, .. } = store
        .accept_delivery(
            "d1",
            "pull_request",
            Some("opened"),
            &request(&sha, false),
            JobLimits {
                max_attempts: 2,
                ..LIMITS
            },
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
        (row.state, row.last_error.as_deref()),
        (JobState::Failed, Some("gave up"))
    );
}

async fn concurrent_workers_claim_each_job_once(store: Store) {
    for i in 0..20 {
        let work = Event::Analyse(AnalysisRequest {
            sha: format!("{i:040}"),
            ..analysis_request("x", false)
        });
        store
            .accept_delivery(
                &format!("d{i}"),
                "pull_request",
                Some("opened"),
                &work,
                LIMITS,
            )
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
    let Accepted::Enqueued { analysis_id, .. } = store
        .accept_delivery(
            "d1",
            "pull_request",
            Some("opened"),
            &request(&sha, false),
            LIMITS,
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    store.mark_analysis_running(analysis_id).await.unwrap();
    let findings = vec![(finding("F821", 3), true), (finding("F401", 1), false)];
    let saved = result(findings.clone());
    store
        .save_analysis(analysis_id, &saved, &[Sink::CheckRun], 3)
        .await
        .unwrap();
    let loaded = store.load_findings(analysis_id).await.unwrap();
    assert_eq!(
        loaded,
        vec![saved.findings[1].clone(), saved.findings[0].clone()],
        "ordered by path and line"
    );
    assert_eq!(store.load_fixed(analysis_id).await.unwrap(), saved.fixed);
    let a = store.find_analysis(1, &sha).await.unwrap().unwrap();
    assert_eq!(
        (
            a.status,
            a.score,
            a.grade,
            a.new_count,
            a.fixed_count,
            a.config_key.as_str()
        ),
        (
            AnalysisStatus::Completed,
            Some(96.0),
            Some(Grade::A),
            Some(1),
            Some(1),
            "cafe0123cafe0123"
        )
    );
    assert!(a.started_at.is_some() && a.completed_at.is_some());
    // Saving records one publish task, with its own job, in the same transaction.
    let tasks = store.publish_tasks(analysis_id).await.unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        (tasks[0].sink, tasks[0].state),
        (Sink::CheckRun, PublishState::Pending)
    );
    let jobs = store.jobs_of_analysis(analysis_id).await.unwrap();
    assert_eq!(
        jobs.iter().map(|j| j.kind).collect::<Vec<_>>(),
        [JobKind::Analyse, JobKind::Publish]
    );
    // Saving again replaces the findings rather than adding to them, and does not queue a
    // second job for a task whose job is still queued.
    store
        .save_analysis(
            analysis_id,
            &result(vec![(finding("F821", 3), true)]),
            &[Sink::CheckRun],
            3,
        )
        .await
        .unwrap();
    assert_eq!(store.load_findings(analysis_id).await.unwrap().len(), 1);
    assert_eq!(store.jobs_of_analysis(analysis_id).await.unwrap().len(), 2);
    store
        .set_publish_external_id(tasks[0].id, "4000000001#1")
        .await
        .unwrap();
    store
        .finish_publish_attempt(tasks[0].id, PublishState::Done, None)
        .await
        .unwrap();
    let task = store.get_publish_task(tasks[0].id).await.unwrap().unwrap();
    assert_eq!(
        (task.state, task.attempts, task.external_id.as_deref()),
        (PublishState::Done, 1, Some("4000000001#1"))
    );

    let base = store
        .ensure_base_analysis(1, &"b".repeat(40))
        .await
        .unwrap();
    assert_eq!(base.trigger, Trigger::Base);
    assert_eq!(
        store
            .ensure_base_analysis(1, &"b".repeat(40))
            .await
            .unwrap()
            .id,
        base.id
    );
    // A base analysis left running (its worker died) does not block a real trigger.
    let push = Event::Analyse(AnalysisRequest {
        sha: "b".repeat(40),
        trigger: Trigger::Push,
        pr_number: None,
        ..analysis_request("x", false)
    });
    let outcome = store
        .accept_delivery("p1", "push", None, &push, LIMITS)
        .await
        .unwrap();
    assert!(
        matches!(outcome, Accepted::Enqueued { analysis_id, .. } if analysis_id == base.id),
        "{outcome:?}"
    );
    let failure = Failure {
        conclusion: "failure".into(),
        title: "no tools".into(),
        summary: "the tools are not installed".into(),
    };
    store
        .fail_analysis(base.id, &failure, &[Sink::CheckRun], 3)
        .await
        .unwrap();
    let failed = store.get_analysis(base.id).await.unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.error.as_deref()),
        (AnalysisStatus::Failed, Some("no tools"))
    );
    assert_eq!(
        store.analysis_details(base.id).await.unwrap().failure,
        Some(failure)
    );
    assert_eq!(store.publish_tasks(base.id).await.unwrap().len(), 1);
    assert_eq!(store.list_analyses(1).await.unwrap().len(), 2);
}

/// The two engines' migrations give the same tables and columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_engines_have_the_same_schema() {
    let pg = harness::db::TestDb::postgres().await;
    let lite = harness::db::TestDb::sqlite().await;
    let (a, b) = (
        pg.store.schema().await.unwrap(),
        lite.store.schema().await.unwrap(),
    );
    pg.cleanup().await;
    lite.cleanup().await;
    assert!(a.len() >= 7, "{a:?}");
    assert_eq!(a, b, "PostgreSQL and SQLite schemas differ");
}

on_both_engines!(
    migrations_are_idempotent,
    a_delivery_is_recorded_once,
    a_rerun_of_a_completed_analysis_enqueues_again,
    bookkeeping_events_update_installations_and_projects,
    a_suspension_cancels_queued_work_and_the_unsuspension_resumes_it,
    one_instance_reconciles_at_a_time,
    jobs_are_leased_renewed_retried_and_taken_over,
    concurrent_workers_claim_each_job_once,
    analyses_and_findings_round_trip,
);
