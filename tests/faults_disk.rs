//! The data dir's disk full (issue 13, faults): the real `flext-quality serve`, its data dir
//! (mirrors, work trees, caches) on a small tmpfs of its own mount namespace, its database
//! elsewhere. Once the server has analysed a first commit, the disk is filled to the last byte.
//! Then an analysis fails, after its retry, with the reason on its check run; the server keeps
//! serving (webhooks recorded, health and readiness answered); and once space is freed, the
//! next commit is analysed as usual.
//!
//! The tmpfs is made with `unshare --user --map-root-user --mount` (no privilege needed; the
//! jail nests inside), and the test fills it through `/proc/<pid>/root`.

mod harness;
mod support;

use harness::db::TestDb;
use harness::pull::app_env;
use harness::server::{free_port, Server};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::{shared_app_key, FakeGitHub};

const REPO_ID: u64 = 7007;
const APP_PY: &str = "import os\n\nprint(os.sep)\n";

/// A mount namespace of its own with a `size` tmpfs on `$FLEXT_QUALITY_DATA_DIR`, then the
/// binary (`"$0" "$@"`).
fn on_a_small_disk(size: &str) -> Vec<String> {
    [
        "unshare",
        "--user",
        "--map-root-user",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!(
        "mount -t tmpfs -o size={size} flext-quality-data \"$FLEXT_QUALITY_DATA_DIR\" && exec \"$0\" \"$@\""
    )])
    .collect()
}

/// Writes zeros into `path` until the disk is full; the bytes written.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path)
        .unwrap_or_else(|e| panic!("creating the filler {}: {e}", path.display()));
    let chunk = vec![0u8; 1 << 20];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => panic!("the disk took no more and said nothing"),
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => return written,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
}

/// The `push` of `after` onto `main` (replacing `before`).
fn push_body(github: &FakeGitHub, before: Option<&str>, after: &str) -> Vec<u8> {
    let mut p = harness::dsl::fixture("push", "with-new-branch.payload.json");
    p["ref"] = "refs/heads/main".into();
    p["before"] = before.map_or_else(|| "0".repeat(40), str::to_owned).into();
    p["after"] = after.into();
    p["created"] = before.is_none().into();
    p["deleted"] = false.into();
    p["repository"]["id"] = REPO_ID.into();
    p["repository"]["full_name"] = "acme/disk".into();
    p["repository"]["clone_url"] = github.clone_url("acme", "disk").into();
    p["repository"]["default_branch"] = "main".into();
    p["installation"] = serde_json::json!({ "id": harness::dsl::INSTALLATION, "node_id": "MDIz" });
    serde_json::to_vec(&p).unwrap()
}

async fn send_push(server: &Server, github: &FakeGitHub, before: Option<&str>, after: &str) {
    let (status, text) = webhook(server, "push", &push_body(github, before, after)).await;
    assert_eq!(status, 202, "{text}\n{}", server.logs());
}

/// POSTs a signed webhook under a fresh delivery id.
async fn webhook(server: &Server, event: &str, body: &[u8]) -> (u16, String) {
    let signature = flext_quality::github::signature::sign(
        &secrecy::SecretString::from(harness::dsl::SECRET.to_owned()),
        body,
    );
    let delivery = format!(
        "disk-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let r = reqwest::Client::new()
        .post(format!("{}/webhooks/github", server.url()))
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", delivery)
        .header("X-Hub-Signature-256", signature)
        .header("Content-Type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .expect("serve answers");
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The completed check run on `sha`, consumed (waits up to 120 s).
async fn completed_run(github: &FakeGitHub, server: &Server, sha: &str) -> support::CheckRun {
    let started = Instant::now();
    loop {
        if let Some(r) = github
            .check_runs_for(sha)
            .into_iter()
            .find(|r| r.status == "completed")
        {
            // Let the publish job that completed it finish.
            tokio::time::sleep(Duration::from_millis(300)).await;
            return github.consume_check_run(r.id).unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no completed check run on {sha} after 120 s:\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get(server: &Server, path: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", server.url()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_data_disk_fails_the_analysis_with_the_reason_and_the_server_goes_on() {
    let (private_pem, public_pem) = shared_app_key();
    let github = FakeGitHub::start(harness::dsl::APP_ID, public_pem).await;
    github.add_installation(harness::dsl::INSTALLATION, &[("acme", "disk", REPO_ID)]);
    github.create_repo("acme", "disk");
    let first = github.commit("acme", "disk", "main", &[("app.py", APP_PY)], "first");

    let db = TestDb::postgres().await;
    let cwd = tempfile::tempdir().unwrap();
    let data: PathBuf = cwd.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let data_text = data.display().to_string();
    let mut env = app_env(
        &github,
        private_pem,
        &[
            ("FLEXT_QUALITY_DATA_DIR", data_text.as_str()),
            // One retry: the job tries again, then fails with the reason.
            ("FLEXT_QUALITY_MAX_ATTEMPTS", "2"),
            ("FLEXT_QUALITY_RECONCILE_SECS", "0"),
        ],
    );
    env.push(("DATABASE_URL", db.url.clone()));
    let wrapper = on_a_small_disk("24m");
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let server = Server::start_wrapped(&wrapper, free_port(), cwd.path(), &env);
    server.wait_ready().await;
    // The data dir the server sees is its own tmpfs, not the directory under it.
    let seen =
        PathBuf::from(format!("/proc/{}/root", server.pid())).join(data.strip_prefix("/").unwrap());

    // A first commit analysed as usual: mirror, work tree and caches written.
    send_push(&server, &github, None, &first).await;
    let run = completed_run(&github, &server, &first).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{:?}\n{}",
        run.summary,
        server.logs()
    );
    assert!(
        seen.join("mirrors").exists(),
        "the mirror is on the small disk: {}",
        seen.display()
    );
    assert!(
        !data.join("mirrors").exists(),
        "the mirror is not under the mount point outside the namespace"
    );

    // The disk fills up.
    let filler = seen.join("filler");
    let filled = fill(&filler);
    println!("filled the data disk with {} MiB", filled >> 20);

    let second = github.commit(
        "acme",
        "disk",
        "main",
        &[("b.py", "import sys\n")],
        "second",
    );
    send_push(&server, &github, Some(&first), &second).await;
    // The server goes on meanwhile: health, readiness (which tells of the full disk), other
    // webhooks.
    let (status, body) = get(&server, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(&server, "/readyz").await;
    assert_eq!(status, 200, "{body}\n{}", server.logs());
    assert!(
        body.contains("the disk of the data dir") && body.contains("is full"),
        "/readyz tells of the full disk: {body}"
    );
    let (status, body) = webhook(
        &server,
        "ping",
        br#"{"zen":"Keep it logically awesome.","hook_id":1}"#,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let run = completed_run(&github, &server, &second).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"), "{run:?}");
    let summary = run.summary.clone().unwrap_or_default();
    assert!(
        summary.to_lowercase().contains("no space left on device"),
        "the check run says why: {summary}\n{}",
        server.logs()
    );
    println!("the check run says: {summary}");
    assert!(
        server.logs().contains("job failed; will retry"),
        "tried again before giving up:\n{}",
        server.logs()
    );
    assert_eq!(github.check_runs_for(&second).len(), 1, "one check run");
    let (status, body) = get(&server, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !server.logs().contains("panicked"),
        "no panic:\n{}",
        server.logs()
    );

    // Space is freed: the next commit is analysed as usual.
    std::fs::remove_file(&filler).unwrap();
    let third = github.commit(
        "acme",
        "disk",
        "main",
        &[("c.py", "import json\n\nprint(json)\n")],
        "third",
    );
    send_push(&server, &github, Some(&second), &third).await;
    let run = completed_run(&github, &server, &third).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{:?}\n{}",
        run.summary,
        server.logs()
    );
    let (status, body) = get(&server, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("is full"), "{body}");

    drop(server);
    db.cleanup().await;
}
