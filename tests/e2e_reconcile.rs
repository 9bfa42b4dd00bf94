//! End to end, no lost webhooks: a delivery GitHub recorded as failed (or that never reached
//! us) is found in the App's delivery list — read back page by page to the checkpoint — and
//! redelivered once, then analysed once; deliveries we recorded are left alone. Both databases.

mod harness;
mod support;

use harness::dsl::{run_test, Options};

async fn missed_deliveries_are_redelivered_once(options: Options) {
    run_test(options, |t| async move {
        let repo = t.repo("acme/missed");
        let sha = repo.commit("main", &[("a.py", "X = 1\n")]);
        // GitHub tried to deliver this push, and we answered 502 (or never saw it).
        let lost =
            t.github()
                .record_delivery("push", "lost-push-1", &repo.push_payload(None, &sha), 502);
        // Then more than a page of deliveries that did reach us.
        for i in 0..120 {
            let guid = format!("ping-{i}");
            let ping = repo.payload("ping", "payload.json");
            let (status, _) = t.webhook_as("ping", &guid, &ping).await;
            assert_eq!(status, 202);
            t.github().record_delivery("ping", &guid, &ping, 202);
        }

        let done = flext_quality::jobs::reconcile::reconcile(t.ctx())
            .await
            .unwrap();
        assert_eq!((done.looked_at, done.redelivered), (121, 1));
        assert_eq!(t.github().redelivery_requests(), [lost]);
        let run = t.expect_check_run(&sha).await;
        assert_eq!(
            run.conclusion.as_deref(),
            Some("success"),
            "{:?}",
            run.summary
        );

        // The next run starts at the checkpoint: nothing to redeliver, nothing analysed twice.
        let again = flext_quality::jobs::reconcile::reconcile(t.ctx())
            .await
            .unwrap();
        assert_eq!(again.redelivered, 0);
        assert_eq!(t.github().redelivery_requests().len(), 1);
        t.wait_idle().await;
        assert_eq!(t.github().check_runs_for(&sha).len(), 1, "analysed once");
    })
    .await;
}

on_both_databases!(missed_deliveries_are_redelivered_once);
