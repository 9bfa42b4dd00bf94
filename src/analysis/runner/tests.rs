use super::*;

fn sh(script: &str) -> RunSpec {
    RunSpec::new("/bin/sh", std::env::temp_dir()).args(["-c", script])
}

#[tokio::test]
async fn the_environment_is_scrubbed() {
    std::env::set_var("GITHUB_PRIVATE_KEY", "secret-key-material");
    let out = run(&sh("env")).await.unwrap();
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(!env.contains("secret-key-material"), "{env}");
    assert!(
        env.lines()
            .any(|l| l.starts_with("HOME=") && l.contains("flext-quality-home-")),
        "{env}"
    );
    assert_eq!(out.exit_code, Some(0));
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let marker = tempfile::tempdir().unwrap();
    let pidfile = marker.path().join("pid");
    let mut spec = sh(&format!("sleep 60 & echo $! > {}; wait", pidfile.display()));
    spec.timeout = Duration::from_millis(500);
    let out = run(&spec).await.unwrap();
    assert!(out.timed_out);
    assert!(out.elapsed < Duration::from_secs(10));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The background grandchild is gone too (kill(pid, 0) fails once it is reaped or dead).
    let mut alive = true;
    for _ in 0..50 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // A zombie (state Z) is dead; it waits only for its reaper.
        if status.is_empty() || status.split_whitespace().nth(2) == Some("Z") {
            alive = false;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!alive, "grandchild {pid} survived the timeout");
}

#[tokio::test]
async fn output_is_capped() {
    let mut spec = sh("head -c 300000 /dev/zero");
    spec.limits.output_bytes = 1000;
    let out = run(&spec).await.unwrap();
    assert_eq!(out.stdout.len(), 1000);
    assert!(out.truncated);
}

#[tokio::test]
async fn resource_limits_apply() {
    let mut spec = sh("ulimit -t; ulimit -f");
    spec.limits.cpu_seconds = 77;
    spec.limits.file_size_bytes = 1024 * 512;
    let out = run(&spec).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, ["77", "1024"], "{text}");
}

#[tokio::test]
async fn no_network_when_the_kernel_allows_it() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = run(&RunSpec::new("python3", std::env::temp_dir()).args([
        "-c",
        &format!("import socket\ntry:\n socket.create_connection(('127.0.0.1', {port}), 2); print('connected')\nexcept OSError: print('refused')"),
    ]))
    .await
    .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if network_isolation_available() {
        assert_eq!(said, "refused");
    } else {
        // Documented fallback: this kernel or container allows no new network namespace.
        assert_eq!(said, "connected");
    }
}
