//! Group commit of webhook deliveries, on both engines: a batch written in one transaction
//! leaves exactly what its deliveries accepted one after another would; many concurrent
//! deliveries (duplicates among them) are each recorded once and enqueue as before; a batch
//! the database refuses writes nothing, and over HTTP only the delivery at fault gets a 503.

mod harness;
mod support;

use flext_quality::domain::events::{AnalysisRequest, Event, Project};
use flext_quality::domain::status::Trigger;
use flext_quality::store::{Accepted, Dialect, IncomingDelivery, JobLimits, Store};
use harness::db::TestDb;
use harness::dsl::{run_test, Options};
use std::collections::{BTreeSet, HashMap};

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

fn sha(n: u32) -> String {
    format!("{n:040x}")
}

fn analyse(project_id: i64, sha: &str, pr: Option<i64>, force: bool) -> Event {
    Event::Analyse(AnalysisRequest {
        project: project(project_id),
        sha: sha.into(),
        trigger: if pr.is_some() {
            Trigger::PullRequest
        } else {
            Trigger::Push
        },
        head_ref: pr.map(|n| format!("refs/pull/{n}/head")),
        base_ref: pr.map(|_| "refs/heads/main".into()),
        base_sha: Some("b".repeat(40)),
        pr_number: pr,
        force,
        requested_by: Some("octocat".into()),
    })
}

fn delivery(id: &str, event: Event) -> IncomingDelivery {
    IncomingDelivery {
        delivery_id: id.into(),
        event_name: "pull_request".into(),
        action: Some("opened".into()),
        event,
        limits: LIMITS,
        traceparent: None,
    }
}

/// A day of deliveries in one burst: bookkeeping, pull requests whose heads move, the same
/// commit asked for by several events, re-runs, redeliveries (also of a delivery of the same
/// batch), an uninstall and a reinstall.
fn script() -> Vec<IncomingDelivery> {
    let installed = Event::InstallationCreated {
        id: 9,
        account_login: "acme".into(),
        repositories: vec![project(1), project(2)],
    };
    let renamed = Project {
        full_name: "acme/renamed".into(),
        ..project(2)
    };
    vec![
        delivery("a01", installed.clone()),
        delivery("a02", analyse(1, &sha(1), Some(3), false)),
        delivery("a03", analyse(1, &sha(1), None, false)),
        delivery("a02", analyse(1, &sha(1), Some(3), false)),
        delivery("a04", analyse(1, &sha(1), Some(3), false)),
        delivery("a05", analyse(1, &sha(2), Some(3), false)),
        delivery("a06", analyse(1, &sha(1), Some(3), true)),
        delivery("a07", analyse(2, &sha(3), None, false)),
        delivery("a08", analyse(2, &sha(3), Some(4), false)),
        delivery("a09", Event::ProjectRenamed(renamed.clone())),
        delivery(
            "a10",
            Event::RerunRequested {
                project: renamed,
                pr_number: 4,
                user: "octocat".into(),
            },
        ),
        delivery("a11", Event::Ignored("a label".into())),
        delivery(
            "a12",
            Event::InstallationSuspended {
                id: 9,
                suspended: true,
            },
        ),
        delivery("a13", analyse(1, &sha(2), Some(3), false)),
        delivery(
            "a14",
            Event::InstallationSuspended {
                id: 9,
                suspended: false,
            },
        ),
        delivery("a15", analyse(1, &sha(2), Some(3), false)),
        delivery(
            "a16",
            Event::RepositoriesRemoved {
                installation_id: 9,
                repository_ids: vec![2],
            },
        ),
        delivery("a17", analyse(2, &sha(3), Some(4), true)),
        delivery("a01", installed),
        delivery("a18", Event::InstallationDeleted { id: 9 }),
        delivery("a19", analyse(1, &sha(4), Some(5), false)),
        delivery("a19", analyse(1, &sha(4), Some(5), false)),
    ]
}

/// What a store holds after ingress, without the times (two runs differ in those).
async fn state(store: &Store) -> String {
    let deliveries: Vec<_> = store
        .deliveries()
        .await
        .unwrap()
        .into_iter()
        .map(|(id, outcome, job, _)| (id, outcome, job))
        .collect();
    let mut analyses = Vec::new();
    for p in [1, 2] {
        for a in store.list_analyses(p).await.unwrap() {
            analyses.push(format!(
                "{} {} {} {:?} {:?} {:?} {:?} {:?}",
                a.id, a.project_id, a.sha, a.trigger, a.status, a.pr_number, a.head_ref, a.error,
            ));
        }
    }
    analyses.sort();
    let projects = (
        store.get_project(1).await.unwrap(),
        store.get_project(2).await.unwrap(),
        store.project_archived_at(2).await.unwrap().is_some(),
        store.installation_active(9).await.unwrap(),
    );
    format!(
        "deliveries {deliveries:#?}\njobs {:#?}\nanalyses {analyses:#?}\nprojects {projects:#?}",
        store.all_jobs().await.unwrap()
    )
}

async fn a_batch_leaves_what_its_deliveries_one_by_one_leave(dialect: Dialect) {
    let (batched, one_by_one) = (TestDb::new(dialect).await, TestDb::new(dialect).await);
    let script = script();
    // Seen before the batch: its redelivery inside the batch is a duplicate.
    let before = &script[..2];
    let mut all = batched.store.accept_deliveries(before).await.unwrap();
    all.extend(batched.store.accept_deliveries(&script[2..]).await.unwrap());
    let mut expected = Vec::new();
    for d in &script {
        expected.push(
            one_by_one
                .store
                .accept_delivery(
                    &d.delivery_id,
                    &d.event_name,
                    d.action.as_deref(),
                    &d.event,
                    d.limits,
                )
                .await
                .unwrap(),
        );
    }
    assert_eq!(all, expected, "the batch's answers differ from one by one");
    assert_eq!(
        all[2..]
            .iter()
            .filter(|a| **a == Accepted::Duplicate)
            .count(),
        3,
        "a01 and a02 (seen before the batch) and a19 (twice in it) are duplicates: {all:?}"
    );
    let (a, b) = (state(&batched.store).await, state(&one_by_one.store).await);
    assert_eq!(a, b, "the batch left another state than one by one");
    assert!(a.contains("cancelled"), "a moved head was superseded: {a}");
    batched.cleanup().await;
    one_by_one.cleanup().await;
}

async fn concurrent_deliveries_are_each_recorded_once(dialect: Dialect) {
    let db = TestDb::new(dialect).await;
    let store = db.store.clone();
    // 150 delivery ids, each sent twice at once; 50 commits over 3 projects, 3 deliveries each.
    let mut tasks = Vec::new();
    for round in 0..2 {
        for i in 0..150u32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let commit = i % 50;
                let event = analyse(
                    1 + i64::from(commit % 3),
                    &sha(commit),
                    Some(i64::from(commit)),
                    false,
                );
                let id = format!("d{i:03}");
                let accepted = store
                    .accept_delivery(&id, "pull_request", Some("opened"), &event, LIMITS)
                    .await
                    .unwrap();
                (round, id, accepted)
            }));
        }
    }
    let mut by_id: HashMap<String, Vec<Accepted>> = HashMap::new();
    for task in tasks {
        let (_, id, accepted) = task.await.unwrap();
        by_id.entry(id).or_default().push(accepted);
    }
    let mut enqueued = BTreeSet::new();
    let mut reused = 0;
    for (id, answers) in &by_id {
        let recorded: Vec<_> = answers
            .iter()
            .filter(|a| **a != Accepted::Duplicate)
            .collect();
        assert_eq!(recorded.len(), 1, "{id} recorded once: {answers:?}");
        match recorded[0] {
            Accepted::Enqueued { analysis_id, .. } => assert!(enqueued.insert(*analysis_id)),
            Accepted::Reused { .. } => reused += 1,
            other => panic!("{id}: {other:?}"),
        }
    }
    assert_eq!((enqueued.len(), reused), (50, 100), "one job per commit");
    let deliveries = store.deliveries().await.unwrap();
    assert_eq!(deliveries.len(), 150);
    let jobs = store.all_jobs().await.unwrap();
    assert_eq!(jobs.len(), 50, "{jobs:?}");
    assert!(jobs.iter().all(|(_, _, state, _)| state == "queued"));
    let analyses: BTreeSet<i64> = jobs.iter().filter_map(|j| j.3).collect();
    assert_eq!(analyses, enqueued, "each analysis has its one job");
    // Deliveries written together share their batch's time: fewer times than deliveries shows
    // they were grouped (all 300 were queued before the first commit could finish).
    let batches: BTreeSet<i64> = deliveries.iter().map(|d| d.3).collect();
    assert!(
        batches.len() < deliveries.len() / 2,
        "{} batches for {} deliveries: not grouped",
        batches.len(),
        deliveries.len()
    );
    db.cleanup().await;
}

/// Makes the database refuse to create an analysis of a commit whose SHA starts with `dead`,
/// as a constraint or a full disk would, in the middle of a batch.
async fn refuse_dead_commits(store: &Store, dialect: Dialect) {
    let statements: &[&str] = match dialect {
        Dialect::Postgres => &[
            "CREATE FUNCTION refuse_dead() RETURNS trigger AS $$ BEGIN
               IF NEW.sha LIKE 'dead%' THEN RAISE EXCEPTION 'refused by the test'; END IF;
               RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_dead BEFORE INSERT ON analyses
               FOR EACH ROW EXECUTE FUNCTION refuse_dead()",
        ],
        Dialect::Sqlite => &["CREATE TRIGGER refuse_dead BEFORE INSERT ON analyses
               WHEN NEW.sha LIKE 'dead%' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"],
    };
    for sql in statements {
        store.execute_admin(sql).await.unwrap();
    }
}

fn dead(n: u32) -> String {
    format!("dead{n:036x}")
}

async fn a_failed_batch_writes_nothing(dialect: Dialect) {
    let db = TestDb::new(dialect).await;
    let store = db.store.clone();
    refuse_dead_commits(&store, dialect).await;
    let batch = vec![
        delivery("ok1", analyse(1, &sha(1), Some(1), false)),
        delivery("ok2", analyse(2, &sha(2), None, false)),
        delivery("bad", analyse(1, &dead(3), Some(3), false)),
        delivery("ok3", analyse(1, &sha(4), None, false)),
    ];
    let e = store.accept_deliveries(&batch).await.unwrap_err();
    assert!(format!("{e:#}").contains("refused by the test"), "{e:#}");
    assert_eq!(store.delivery_count().await.unwrap(), 0, "nothing recorded");
    assert!(store.all_jobs().await.unwrap().is_empty());
    assert!(store.list_analyses(1).await.unwrap().is_empty());
    assert!(store.get_project(1).await.unwrap().is_none());

    // Through the group commit, at once: the refused delivery costs only itself.
    let mut tasks = Vec::new();
    for d in batch.iter().cycle().take(12) {
        let (store, d) = (store.clone(), d.clone());
        tasks.push(tokio::spawn(async move {
            let answer = store
                .accept_delivery(
                    &d.delivery_id,
                    &d.event_name,
                    d.action.as_deref(),
                    &d.event,
                    d.limits,
                )
                .await;
            (d.delivery_id, answer.map_err(|e| format!("{e:#}")))
        }));
    }
    let mut recorded: HashMap<String, usize> = HashMap::new();
    for task in tasks {
        let (id, answer) = task.await.unwrap();
        match (id.as_str(), answer) {
            ("bad", Err(e)) => assert!(e.contains("refused by the test"), "{e}"),
            ("bad", Ok(a)) => panic!("the refused delivery was accepted: {a:?}"),
            (_, Err(e)) => panic!("{id} failed with the refused one: {e}"),
            (_, Ok(Accepted::Duplicate)) => {}
            (_, Ok(_)) => *recorded.entry(id).or_default() += 1,
        }
    }
    assert_eq!(
        recorded,
        HashMap::from([("ok1".into(), 1), ("ok2".into(), 1), ("ok3".into(), 1)])
    );
    let ids: Vec<String> = store
        .deliveries()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.0)
        .collect();
    assert_eq!(ids, ["ok1", "ok2", "ok3"]);
    assert_eq!(store.all_jobs().await.unwrap().len(), 3);
    // Never recorded, so its redelivery is not a duplicate once the database takes it.
    let drop = match dialect {
        Dialect::Postgres => "DROP TRIGGER refuse_dead ON analyses",
        Dialect::Sqlite => "DROP TRIGGER refuse_dead",
    };
    store.execute_admin(drop).await.unwrap();
    let again = store
        .accept_deliveries(&batch[2..3])
        .await
        .unwrap()
        .remove(0);
    assert!(matches!(again, Accepted::Enqueued { .. }), "{again:?}");
    db.cleanup().await;
}

/// Over HTTP: concurrent webhooks (each delivery id twice) all get a 202 and are recorded
/// once; one the database refuses gets a one-line 503 and its neighbours are not affected.
async fn over_http_each_delivery_gets_its_own_answer(dialect: Dialect) {
    let options = Options {
        workers: 0,
        ..Options::on(dialect)
    };
    run_test(options, move |app| async move {
        refuse_dead_commits(app.store(), dialect).await;
        let repo = app.repo("acme/widgets");
        let mut tasks = Vec::new();
        // 40 delivery ids, each sent twice; 20 pull requests; and one the database refuses.
        for i in 0..81u32 {
            let (id, head) = match i {
                80 => ("refused".to_owned(), dead(0)),
                _ => (format!("h{:02}", i % 40), sha(i % 20)),
            };
            let payload = repo.pr_payload("synchronize", u64::from(i % 20) + 1, &head, &sha(999));
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                let (status, text) = app.webhook_as("pull_request", &id, &payload).await;
                (id, status, text)
            }));
        }
        let mut accepted: HashMap<String, Vec<String>> = HashMap::new();
        for task in tasks {
            let (id, status, text) = task.await.unwrap();
            assert_eq!(text.trim().lines().count(), 1, "one line: {text:?}");
            if id == "refused" {
                assert_eq!(status, 503, "{text}");
                assert!(text.contains("redeliver later"), "{text}");
                continue;
            }
            assert_eq!(status, 202, "{id}: {text}");
            accepted.entry(id).or_default().push(text);
        }
        assert_eq!(accepted.len(), 40);
        for (id, texts) in &accepted {
            let recorded = texts
                .iter()
                .filter(|t| !t.contains("duplicate delivery"))
                .count();
            assert_eq!(recorded, 1, "{id}: {texts:?}");
        }
        let deliveries = app.store().deliveries().await.unwrap();
        assert_eq!(deliveries.len(), 40, "{deliveries:?}");
        let queued = app.store().all_jobs().await.unwrap();
        assert_eq!(queued.len(), 20, "one job per commit: {queued:?}");
    })
    .await;
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use flext_quality::store::Dialect;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(Dialect::Postgres).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(Dialect::Sqlite).await;
                }
            }
        )*
    };
}

on_both!(
    a_batch_leaves_what_its_deliveries_one_by_one_leave,
    concurrent_deliveries_are_each_recorded_once,
    a_failed_batch_writes_nothing,
    over_http_each_delivery_gets_its_own_answer,
);
