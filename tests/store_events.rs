//! The store's outgoing-events functions against both engines, each test on a fresh database:
//! hooks registered (sealed, audited by host only), listed and removed; deliveries recorded in
//! the save transaction with one publish task; the delivery log and its pages; and the sync of
//! `FLEXT_QUALITY_EVENT_HOOKS`.

mod harness;
mod support;

use flext_quality::config::EventHookSetting;
use flext_quality::domain::events::{AnalysisRequest, Event, Project};
use flext_quality::domain::gate::Verdict;
use flext_quality::domain::outgoing::{announce, Announcement};
use flext_quality::domain::status::{HookEvent, Sink, Trigger};
use flext_quality::publish::events::{register_hook, sync_env_hooks, SyncReport};
use flext_quality::secret_box::SecretBox;
use flext_quality::store::*;
use secrecy::SecretString;

const LIMITS: JobLimits = JobLimits {
    max_attempts: 3,
    deadline_ms: 600_000,
};

fn secrets() -> SecretBox {
    SecretBox::new(
        &SecretString::from("a test server's secret key".to_owned()),
        "test",
    )
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A running pull request analysis of `sha`; its id.
async fn analysis(store: &Store, sha: &str, pr: i64) -> i64 {
    let request = Event::Analyse(AnalysisRequest {
        project: Project {
            id: 1,
            installation_id: Some(9),
            full_name: "acme/repo".into(),
            default_branch: "main".into(),
            clone_url: "https://github.com/acme/repo.git".into(),
        },
        sha: sha.into(),
        trigger: Trigger::PullRequest,
        head_ref: Some(format!("refs/pull/{pr}/head")),
        base_ref: Some("refs/heads/main".into()),
        base_sha: Some("b".repeat(40)),
        pr_number: Some(pr),
        force: false,
        requested_by: None,
    });
    let Accepted::Enqueued { analysis_id, .. } = store
        .accept_delivery(sha, "pull_request", Some("opened"), &request, LIMITS)
        .await
        .unwrap()
    else {
        panic!("not enqueued")
    };
    store.mark_analysis_running(analysis_id).await.unwrap();
    analysis_id
}

fn result(verdict: Verdict, events: Announcement) -> AnalysisResult {
    AnalysisResult {
        compared_sha: None,
        config_key: "k".into(),
        tool_versions: Default::default(),
        ncloc: 10,
        score: None,
        verdict,
        new_count: 0,
        details: AnalysisDetails::default(),
        findings: Vec::new(),
        fixed: Vec::new(),
        notify: None,
        events,
    }
}

async fn hooks_are_registered_listed_removed_and_audited(store: Store) {
    let b = secrets();
    let url = "https://bot:pw@hooks.example.com:8443/in/T0KEN?token=canary";
    let id = register_hook(
        &store,
        &b,
        "alice",
        url,
        "canary-secret",
        &strings(&["gate.changed", "analysis.completed"]),
    )
    .await
    .unwrap();
    for (bad_url, events) in [
        ("ftp://hooks.example.com/canary", vec!["gate.changed"]),
        ("https://hooks.example.com/canary", vec!["deploy"]),
        ("https://hooks.example.com/canary", vec![]),
    ] {
        let err = register_hook(&store, &b, "alice", bad_url, "s", &strings(&events))
            .await
            .unwrap_err();
        assert!(!format!("{err:#}").contains("canary"), "{err:#}");
    }
    let hooks = store.list_event_hooks().await.unwrap();
    assert_eq!(hooks.len(), 1);
    let h = &hooks[0];
    assert_eq!(
        (h.id, h.url_host.as_str(), h.created_by.as_str(), h.active),
        (id, "hooks.example.com:8443", "alice", true)
    );
    assert_eq!(h.events, ["analysis.completed", "gate.changed"]);
    let listed = serde_json::to_string(&hooks).unwrap();
    assert!(
        !listed.contains("canary") && !listed.contains("T0KEN"),
        "{listed}"
    );

    assert!(store.remove_event_hook("bob", id).await.unwrap());
    assert!(!store.remove_event_hook("bob", id).await.unwrap());
    assert!(!store.remove_event_hook("bob", 999).await.unwrap());
    assert!(!store.list_event_hooks().await.unwrap()[0].active);

    let audit = store.list_audit(None, 10).await.unwrap();
    let entries: Vec<_> = audit
        .iter()
        .map(|e| {
            (
                e.actor.as_str(),
                e.action.as_str(),
                e.target.clone(),
                e.before.as_deref(),
                e.after.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            (
                "bob",
                "event_hook.remove",
                id.to_string(),
                Some("active (hooks.example.com:8443)"),
                Some("removed")
            ),
            (
                "alice",
                "event_hook.create",
                id.to_string(),
                None,
                Some("hooks.example.com:8443 (analysis.completed, gate.changed)")
            ),
        ]
    );
}

async fn deliveries_are_recorded_with_the_analysis_and_logged(store: Store) {
    let b = secrets();
    let both = strings(&["analysis.completed", "gate.changed"]);
    let all = register_hook(&store, &b, "a", "https://one.example.com/x", "s1", &both)
        .await
        .unwrap();
    let gate = register_hook(
        &store,
        &b,
        "a",
        "https://two.example.com/x?token=canary",
        "s2",
        &strings(&["gate.changed"]),
    )
    .await
    .unwrap();
    let removed = register_hook(&store, &b, "a", "https://three.example.com", "s3", &both)
        .await
        .unwrap();
    store.remove_event_hook("a", removed).await.unwrap();

    // The gate changed: the first hook hears both events, the second only the change.
    let first = analysis(&store, &"1".repeat(40), 4).await;
    let changed = announce(Some(Verdict::Success), Verdict::Failure);
    store
        .save_analysis(
            first,
            &result(Verdict::Failure, changed.clone()),
            &[Sink::CheckRun],
            3,
        )
        .await
        .unwrap();
    let sinks: Vec<Sink> = store
        .publish_tasks(first)
        .await
        .unwrap()
        .iter()
        .map(|t| t.sink)
        .collect();
    assert_eq!(sinks, [Sink::CheckRun, Sink::Events]);
    let pending = store.pending_event_deliveries(first).await.unwrap();
    let seen: Vec<_> = pending
        .iter()
        .map(|d| (d.hook_id, d.event, d.previous_verdict, d.url_host.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (all, HookEvent::AnalysisCompleted, None, "one.example.com"),
            (
                all,
                HookEvent::GateChanged,
                Some(Verdict::Success),
                "one.example.com"
            ),
            (
                gate,
                HookEvent::GateChanged,
                Some(Verdict::Success),
                "two.example.com"
            ),
        ]
    );
    assert!(pending.iter().all(|d| !d.sealed_url.contains("canary")));

    // Attempts are recorded; a delivered one is pending no more.
    let d = pending[0].id;
    store
        .record_event_attempt(d, Some(500), Some("one.example.com answered 500"), false)
        .await
        .unwrap();
    store
        .record_event_attempt(d, Some(200), None, true)
        .await
        .unwrap();
    let rest = store.pending_event_deliveries(first).await.unwrap();
    assert_eq!(rest.len(), 2);
    assert_eq!((rest[0].attempts, rest[0].status_code), (0, None));
    let log = store.list_event_deliveries(None, None, 10).await.unwrap();
    let row = log.iter().find(|r| r.id == d).unwrap();
    assert_eq!(
        (
            row.attempts,
            row.status_code,
            row.error.as_deref(),
            row.analysis_id
        ),
        (2, Some(200), None, first)
    );
    assert!(row.delivered_at.is_some());

    // Saved again (a re-run of the same analysis): nothing is told twice, no task is queued.
    let tasks_before = store.publish_tasks(first).await.unwrap();
    store
        .save_analysis(first, &result(Verdict::Failure, changed), &[], 3)
        .await
        .unwrap();
    assert_eq!(
        store
            .list_event_deliveries(None, None, 10)
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(store.publish_tasks(first).await.unwrap(), tasks_before);

    // No change of the gate: only the first hook hears the completion.
    let second = analysis(&store, &"2".repeat(40), 4).await;
    assert_eq!(
        store.previous_pr_verdict(1, 4, second).await.unwrap(),
        Some(Verdict::Failure)
    );
    assert_eq!(store.previous_pr_verdict(1, 5, second).await.unwrap(), None);
    let same = announce(Some(Verdict::Failure), Verdict::Failure);
    store
        .save_analysis(second, &result(Verdict::Failure, same), &[], 3)
        .await
        .unwrap();
    let pending = store.pending_event_deliveries(second).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].hook_id, pending[0].event),
        (all, HookEvent::AnalysisCompleted)
    );

    // Nothing to announce (a base analysis): no delivery, no Events task.
    let third = analysis(&store, &"3".repeat(40), 6).await;
    store
        .save_analysis(
            third,
            &result(Verdict::Success, Announcement::default()),
            &[],
            3,
        )
        .await
        .unwrap();
    assert!(store.publish_tasks(third).await.unwrap().is_empty());

    // The log, newest first, in pages, of all hooks or one.
    let page = store.list_event_deliveries(None, None, 2).await.unwrap();
    assert_eq!(page.len(), 2);
    assert!(page[0].id > page[1].id);
    let next = store
        .list_event_deliveries(None, Some(page[1].id), 2)
        .await
        .unwrap();
    assert_eq!(next.len(), 2);
    assert!(next[0].id < page[1].id);
    let gate_log = store
        .list_event_deliveries(Some(gate), None, 10)
        .await
        .unwrap();
    assert_eq!(gate_log.len(), 1);
    assert_eq!(
        (gate_log[0].event.as_str(), gate_log[0].hook_id),
        ("gate.changed", gate)
    );
    // A hook removed after its deliveries were recorded gets none of them.
    store.remove_event_hook("a", gate).await.unwrap();
    assert_eq!(
        store.pending_event_deliveries(first).await.unwrap().len(),
        1
    );
}

fn setting(url: &str, secret: &str, events: &[&str]) -> EventHookSetting {
    EventHookSetting {
        url: SecretString::from(url.to_owned()),
        secret: SecretString::from(secret.to_owned()),
        events: strings(events),
    }
}

async fn the_environments_hooks_are_kept_in_step(store: Store) {
    let b = secrets();
    let a = setting(
        "https://a.example.com/x?token=canary",
        "sa",
        &["gate.changed"],
    );
    let c = setting("https://c.example.com/", "sc", &["analysis.completed"]);
    let report = |kept, added, removed| SyncReport {
        kept,
        added,
        removed,
    };
    let first = sync_env_hooks(&store, Some(&b), &[a.clone(), c.clone()])
        .await
        .unwrap();
    assert_eq!(first, report(0, 2, 0));
    let ids: Vec<i64> = store
        .list_event_hooks()
        .await
        .unwrap()
        .iter()
        .map(|h| h.id)
        .collect();
    // Unchanged: kept as they are (ids and delivery logs with them).
    let again = sync_env_hooks(&store, Some(&b), &[a.clone(), c.clone()])
        .await
        .unwrap();
    assert_eq!(again, report(2, 0, 0));
    let now: Vec<i64> = store
        .list_event_hooks()
        .await
        .unwrap()
        .iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(now, ids);
    // A hook registered through the API is not the environment's to remove.
    let api = register_hook(
        &store,
        &b,
        "admin",
        "https://api.example.com",
        "s",
        &strings(&["gate.changed"]),
    )
    .await
    .unwrap();
    // A changed secret is another hook.
    let c2 = setting("https://c.example.com/", "another", &["analysis.completed"]);
    let changed = sync_env_hooks(&store, Some(&b), &[a.clone(), c2])
        .await
        .unwrap();
    assert_eq!(changed, report(1, 1, 1));
    // Gone from the variable: removed, even without the key to open them.
    let none = sync_env_hooks(&store, None, &[]).await.unwrap();
    assert_eq!(none, report(0, 0, 2));
    let active: Vec<(i64, String)> = store
        .list_event_hooks()
        .await
        .unwrap()
        .into_iter()
        .filter(|h| h.active)
        .map(|h| (h.id, h.created_by))
        .collect();
    assert_eq!(active, [(api, "admin".to_owned())]);
    let err = sync_env_hooks(&store, None, &[a]).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("FLEXT_QUALITY_SECRET_KEY"),
        "{err:#}"
    );
    let audit = serde_json::to_string(&store.list_audit(None, 50).await.unwrap()).unwrap();
    assert!(audit.contains("\"actor\":\"env\""), "{audit}");
    assert!(!audit.contains("canary"), "{audit}");
}

on_both_engines!(
    hooks_are_registered_listed_removed_and_audited,
    deliveries_are_recorded_with_the_analysis_and_logged,
    the_environments_hooks_are_kept_in_step,
);
