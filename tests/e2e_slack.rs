//! End to end, Slack on changes of state: the default branch starting to fail, recovering and
//! dropping a grade each tell the channel once; a push that keeps the state tells nothing;
//! Slack's 429 is waited out and its refusals recorded; a project can have its own webhook;
//! pull requests only when the repository asks. Both databases for the main story.

mod harness;
mod support;

use harness::dsl::{run_test, Options, Repo, Tester};
use support::fake_slack::SlackMessage;

const CONFIG: &str = "[backends]\nruff = {}\n";

/// Pushes `files` on main after `before` and waits for the check run; the new head.
async fn push(t: &Tester, repo: &Repo, before: &str, files: &[(&str, &str)]) -> String {
    let sha = repo.commit("main", files);
    repo.push(Some(before), &sha).await;
    t.expect_check_run(&sha).await;
    t.wait_idle().await;
    sha
}

fn headers(messages: &[SlackMessage]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m.blocks[0]["text"]["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn state_changes_are_told_once(options: Options) {
    run_test(options, |t| async move {
        let repo = t.repo("acme/mainline");
        let first = repo.commit(
            "main",
            &[("a.py", "X = 1\n"), (".flext-quality.toml", CONFIG)],
        );
        repo.push(None, &first).await;
        t.expect_check_run(&first).await;
        t.wait_idle().await;
        assert!(
            t.slack().take().is_empty(),
            "a first analysis is a baseline, not a change"
        );

        let failing = push(&t, &repo, &first, &[("b.py", "print(missing)\n")]).await;
        let told = t.slack().take();
        assert_eq!(
            headers(&told),
            ["🔴 acme/mainline main: quality gate failed"]
        );
        let all = told[0].all_text();
        assert!(
            all.contains(&failing[..7]) && all.contains("new major findings"),
            "{all}"
        );

        // Still failing (another new major finding): the state did not change.
        let still = push(&t, &repo, &failing, &[("c.py", "print(also_missing)\n")]).await;
        assert!(t.slack().take().is_empty());

        let fixed = push(&t, &repo, &still, &[("d.py", "Y = 2\n")]).await;
        assert_eq!(
            headers(&t.slack().take()),
            ["🟢 acme/mainline main: quality gate passes again"]
        );

        // Twenty-five unused imports: minor, so the gate passes, but the grade drops to B.
        let imports: String = (0..25).map(|i| format!("import os as o{i}\n")).collect();
        push(&t, &repo, &fixed, &[("e.py", &imports)]).await;
        assert_eq!(
            headers(&t.slack().take()),
            ["🟠 acme/mainline main: grade dropped to B"]
        );
    })
    .await;
}

on_both_databases!(state_changes_are_told_once);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slack_rate_limits_are_waited_out_and_refusals_recorded() {
    run_test(Options::default(), |t| async move {
        let repo = t.repo("acme/limits");
        let first = repo.commit(
            "main",
            &[("a.py", "X = 1\n"), (".flext-quality.toml", CONFIG)],
        );
        repo.push(None, &first).await;
        t.expect_check_run(&first).await;

        // 429 with Retry-After, then 200: exactly one message delivered.
        t.slack().fail_next(429, 1, Some(1));
        let attempts = t.slack().attempts();
        let failing = push(&t, &repo, &first, &[("b.py", "print(missing)\n")]).await;
        assert_eq!(t.slack().take().len(), 1);
        assert_eq!(t.slack().attempts() - attempts, 2);
        let id = t
            .store()
            .find_analysis(repo.id as i64, &failing)
            .await
            .unwrap()
            .unwrap()
            .id;
        let note = t.store().notification_of(id).await.unwrap().unwrap();
        assert_eq!(note.state, "sent");

        // Slack refuses for good (the channel is gone): recorded with the reason, tried once.
        t.slack().fail_next(404, 5, None);
        let attempts = t.slack().attempts();
        let recovered = push(&t, &repo, &failing, &[("b.py", "Y = 1\n")]).await;
        assert_eq!(t.slack().attempts() - attempts, 1);
        let id = t
            .store()
            .find_analysis(repo.id as i64, &recovered)
            .await
            .unwrap()
            .unwrap()
            .id;
        let note = t.store().notification_of(id).await.unwrap().unwrap();
        assert_eq!(note.state, "failed");
        assert_eq!(
            note.detail.as_deref(),
            Some("Slack refused the message: 404 no_service")
        );
        assert!(t.slack().take().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_project_can_have_its_own_webhook_and_pull_requests_when_asked() {
    run_test(Options::default(), |t| async move {
        let repo = t.repo("acme/own");
        let config = "[backends]\nruff = {}\n\n[notify]\npull_requests = \"failure\"\n";
        let first = repo.commit(
            "main",
            &[("a.py", "X = 1\n"), (".flext-quality.toml", config)],
        );
        repo.push(None, &first).await;
        t.expect_check_run(&first).await;

        // The operator points this project at another channel, with the real command.
        let own = t.slack().other_webhook_url("acme-own");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_flext-quality"))
            .args(["project", "set-slack", "acme/own", "-"])
            .env("DATABASE_URL", t.database_url())
            .env("FLEXT_QUALITY_SECRET_KEY", "a test server's secret key")
            .env("FLEXT_QUALITY_DATA_DIR", t.settings().data_dir.clone())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(own.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let stored = t
            .store()
            .slack_webhook(repo.id as i64)
            .await
            .unwrap()
            .unwrap();
        assert!(!stored.contains("acme-own"), "stored sealed: {stored}");

        let pr = repo
            .open_pr(1, &first, &[("b.py", "print(missing)\n")])
            .await;
        t.expect_check_run(&pr.head).await;
        t.expect_pr_comment(&pr).await;
        let told = t.slack().take();
        assert_eq!(
            headers(&told),
            ["🔴 acme/own #1: pull request fails its quality gate"]
        );
        // It went to the project's own hook (the fake keeps one list; the path says which).
        assert_eq!(t.slack().messages_to("acme-own"), 1);
    })
    .await;
}
