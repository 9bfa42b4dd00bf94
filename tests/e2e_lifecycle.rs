//! End to end, an installation's life: suspending the App stops its queued work and asks
//! nothing more of GitHub for it, unsuspending resumes that work; uninstalling cancels it for
//! good; removing a repository archives its project with its history; a renamed or transferred
//! repository keeps its history under its numeric id.

mod harness;
mod support;

use flext_quality::domain::status::AnalysisStatus;
use harness::dsl::{fixture, run_test, Options, Repo, Tester, INSTALLATION};
use serde_json::json;

async fn installation_event(t: &Tester, action: &str) {
    let mut p = fixture("installation", "deleted.payload.json");
    p["action"] = action.into();
    p["installation"]["id"] = INSTALLATION.into();
    let (status, body) = t.webhook("installation", &p).await;
    assert_eq!(status, 202, "{body}");
}

async fn pushed(repo: &Repo) -> String {
    let sha = repo.commit("main", &[("a.py", "X = 1\n")]);
    repo.push(None, &sha).await;
    sha
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_suspension_stops_work_without_calling_github_and_unsuspending_resumes_it() {
    let options = Options {
        workers: 0,
        ..Options::default()
    };
    run_test(options, |t| async move {
        let repo = t.repo("acme/paused");
        let sha = pushed(&repo).await;
        installation_event(&t, "suspend").await;
        let before = t.github().api_request_count();
        t.start_workers(1).await;
        t.wait_idle().await;
        assert_eq!(
            t.github().api_request_count(),
            before,
            "nothing asked of GitHub for a suspended installation: {:?}",
            t.github().requests()
        );
        let a = t
            .store()
            .find_analysis(repo.id as i64, &sha)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.status, AnalysisStatus::Cancelled);

        installation_event(&t, "unsuspend").await;
        let run = t.expect_check_run(&sha).await;
        assert_eq!(
            run.conclusion.as_deref(),
            Some("success"),
            "{:?}",
            run.summary
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uninstalling_cancels_queued_work_for_good() {
    let options = Options {
        workers: 0,
        ..Options::default()
    };
    run_test(options, |t| async move {
        let repo = t.repo("acme/gone");
        let sha = pushed(&repo).await;
        installation_event(&t, "deleted").await;
        // A late delivery for it queues work that is never started either.
        let later = repo.commit("main", &[("b.py", "Y = 2\n")]);
        repo.push(Some(&sha), &later).await;
        let before = t.github().api_request_count();
        t.start_workers(1).await;
        t.wait_idle().await;
        assert_eq!(t.github().api_request_count(), before);
        for s in [&sha, &later] {
            let a = t
                .store()
                .find_analysis(repo.id as i64, s)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(a.status, AnalysisStatus::Cancelled, "{a:?}");
            assert_eq!(a.error.as_deref(), Some(flext_quality::store::UNINSTALLED));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn removed_repositories_are_archived_and_renamed_ones_keep_their_history() {
    run_test(Options::default(), |t| async move {
        let repo = t.repo("acme/old-name");
        let sha = pushed(&repo).await;
        t.expect_check_run(&sha).await;
        let id = repo.id as i64;

        // Renamed, then transferred to another owner: one project, its history intact.
        for (action, name) in [
            ("renamed", "acme/new-name"),
            ("transferred", "other/new-name"),
        ] {
            let mut p = repo.payload("repository", "renamed.payload.json");
            p["action"] = action.into();
            p["repository"]["full_name"] = name.into();
            let (status, body) = t.webhook("repository", &p).await;
            assert_eq!(status, 202, "{body}");
            let project = t.store().get_project(id).await.unwrap().unwrap();
            assert_eq!(project.full_name, name);
            assert!(t.store().find_analysis(id, &sha).await.unwrap().is_some());
        }

        let mut p = fixture("installation_repositories", "removed.payload.json");
        p["installation"]["id"] = INSTALLATION.into();
        p["repositories_removed"] = json!([{
            "id": repo.id, "node_id": "R", "name": "new-name",
            "full_name": "other/new-name", "private": false
        }]);
        let (status, body) = t.webhook("installation_repositories", &p).await;
        assert_eq!(status, 202, "{body}");
        assert!(t.store().project_archived_at(id).await.unwrap().is_some());
        assert!(
            t.store().find_analysis(id, &sha).await.unwrap().is_some(),
            "the history stays"
        );
    })
    .await;
}
