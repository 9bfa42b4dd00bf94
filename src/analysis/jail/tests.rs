//! The jail, tried as an attacker would: every test runs real programs in the real bubblewrap
//! sandbox. A machine without bubblewrap fails these tests (the test script installs it).

use super::*;

fn jail() -> Jail {
    crate::analysis::backends::testutil::jail()
}

fn sh(dir: &Path, script: &str) -> RunSpec {
    RunSpec::new("/bin/sh", dir).args(["-c", script])
}

fn stdout(out: &RunOutput) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Host processes whose command line contains `needle`.
fn host_processes(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(needle) {
            found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

/// A copy of `sleep` under a unique name, so the test can look for survivors by name.
fn sleeper(dir: &Path) -> (PathBuf, String) {
    let mut id = [0u8; 6];
    openssl::rand::rand_bytes(&mut id).unwrap();
    let name: String = format!(
        "sleeper-{}",
        id.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let path = dir.join(&name);
    std::fs::copy("/usr/bin/sleep", &path).unwrap();
    (path, name)
}

#[tokio::test]
async fn the_servers_environment_and_files_are_not_there() {
    let jail = jail();
    std::env::set_var("FLEXT_TEST_CANARY_SECRET", "canary-value-31337");
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("flext-quality.db"), "secret rows").unwrap();
    let tree = tempfile::tempdir().unwrap();
    let script = format!(
        "env; echo ---; cat {db} 2>&1; echo ---; ls /proc | grep -c '^[0-9]'; cat /proc/{me}/environ 2>&1; echo ---; ls /etc; echo ---; ls /; ls {data} 2>&1; id -u",
        data = data.path().display(),
        db = data.path().join("flext-quality.db").display(),
        me = std::process::id()
    );
    let out = jail.run(&sh(tree.path(), &script)).await.unwrap();
    let text = stdout(&out);
    let parts: Vec<&str> = text.split("---\n").collect();
    assert_eq!(parts.len(), 5, "{text}");
    assert!(!text.contains("canary-value-31337"), "{text}");
    assert!(!text.contains("secret rows"), "{text}");
    assert!(parts[1].contains("No such file"), "{}", parts[1]);
    // Our own PID namespace: a handful of processes, none of the server's.
    let pids: usize = parts[2].lines().next().unwrap().trim().parse().unwrap();
    assert!(pids < 10, "{}", parts[2]);
    assert!(!parts[2].contains("FLEXT_TEST"), "{}", parts[2]);
    for absent in ["shadow", "postgresql", "environment", "hostname"] {
        assert!(
            !parts[3].lines().any(|l| l == absent),
            "/etc/{absent} is visible"
        );
    }
    for absent in ["root", "home", "var", "work", "srv", "opt"] {
        let visible = parts[4].lines().any(|l| l == absent);
        // Only as the way to the tools (a venv under /work, an interpreter under /root).
        let allowed = jail
            .toolchain()
            .read_only_dirs()
            .iter()
            .any(|d| d.starts_with(format!("/{absent}")));
        assert!(!visible || allowed, "/{absent} is visible: {}", parts[4]);
    }
    assert!(
        parts[4].contains("No such file"),
        "the data dir is not there: {}",
        parts[4]
    );
    assert_eq!(parts[4].lines().last(), Some("65534"));
}

#[tokio::test]
async fn the_tree_is_read_only_and_the_scratch_writable() {
    let jail = jail();
    let tree = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut spec = sh(
        tree.path(),
        &format!(
            "touch ./x 2>/dev/null && echo tree-writable; touch {s}/y && echo scratch-ok; touch /tmp/z && echo tmp-ok; echo $HOME",
            s = scratch.path().display()
        ),
    );
    spec.writable.push(scratch.path().to_path_buf());
    let out = jail.run(&spec).await.unwrap();
    let text = stdout(&out);
    assert!(!text.contains("tree-writable"), "{text}");
    assert!(
        text.contains("scratch-ok") && text.contains("tmp-ok"),
        "{text}"
    );
    assert!(scratch.path().join("y").exists());
    assert!(!tree.path().join("x").exists());
}

#[tokio::test]
async fn no_connection_reaches_the_host() {
    let jail = jail();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let tree = tempfile::tempdir().unwrap();
    let python = jail.toolchain().venv.join("bin/python3");
    let spec = RunSpec::new(python, tree.path()).args([
        "-c",
        &format!("import socket\ntry:\n socket.create_connection(('127.0.0.1', {port}), 2); print('connected')\nexcept OSError as e: print('refused', e)"),
    ]);
    let out = jail.run(&spec).await.unwrap();
    assert!(stdout(&out).starts_with("refused"), "{out:?}");
    assert!(
        listener.accept().is_err(),
        "a connection reached the host listener"
    );
}

#[tokio::test]
async fn a_daemon_does_not_survive_the_run() {
    let jail = jail();
    let tree = tempfile::tempdir().unwrap();
    let (sleeper, name) = sleeper(tree.path());
    // The tool detaches a daemon in a new session and exits at once.
    let script = format!(
        "setsid {} 1000 >/dev/null 2>&1 < /dev/null & exit 0",
        sleeper.display()
    );
    let started = Instant::now();
    let out = jail.run(&sh(tree.path(), &script)).await.unwrap();
    assert_eq!(out.exit_code, Some(0));
    assert!(started.elapsed() < Duration::from_secs(10));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(host_processes(&name), Vec::<String>::new());
}

#[tokio::test]
async fn a_timeout_kills_the_whole_jail_within_its_limit() {
    let jail = jail();
    let tree = tempfile::tempdir().unwrap();
    let (sleeper, name) = sleeper(tree.path());
    let script = format!(
        "setsid {s} 1000 & {s} 1000 & exec {s} 1000",
        s = sleeper.display()
    );
    let mut spec = sh(tree.path(), &script);
    spec.timeout = Duration::from_millis(800);
    let started = Instant::now();
    let out = jail.run(&spec).await.unwrap();
    assert!(out.timed_out);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(host_processes(&name), Vec::<String>::new());
}

#[tokio::test]
async fn dropping_the_run_kills_the_jail() {
    let jail = jail();
    let tree = tempfile::tempdir().unwrap();
    let (sleeper, name) = sleeper(tree.path());
    let spec = sh(
        tree.path(),
        &format!("setsid {} 1000 & wait", sleeper.display()),
    );
    let run = jail.run(&spec);
    // A cancelled job drops its future.
    assert!(tokio::time::timeout(Duration::from_millis(700), run)
        .await
        .is_err());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(host_processes(&name), Vec::<String>::new());
}

#[tokio::test]
async fn output_over_the_limit_is_cut_and_said() {
    let jail = jail();
    let tree = tempfile::tempdir().unwrap();
    let mut spec = sh(tree.path(), "head -c 300000 /dev/zero; echo oops >&2");
    spec.limits.output_bytes = 1000;
    let out = jail.run(&spec).await.unwrap();
    assert_eq!(out.stdout.len(), 1000);
    assert_eq!(out.stdout_bytes, 300_000);
    assert!(out.truncated);
    assert_eq!(out.stderr_tail(), "oops");
}

#[tokio::test]
async fn resource_limits_apply() {
    let jail = jail();
    let tree = tempfile::tempdir().unwrap();
    let mut spec = sh(tree.path(), "ulimit -t; ulimit -f");
    spec.limits.cpu_seconds = 77;
    spec.limits.file_size_bytes = 1024 * 512;
    let out = jail.run(&spec).await.unwrap();
    let text = stdout(&out);
    assert_eq!(text.lines().collect::<Vec<_>>(), ["77", "1024"], "{text}");
}

#[tokio::test]
async fn off_runs_unjailed_but_still_scrubbed() {
    let tools = crate::analysis::backends::testutil::tools_dir();
    let jail = Jail::new(SandboxSetting::Off, Toolchain::resolve(&tools));
    assert_eq!(jail.state(), &JailState::Off);
    std::env::set_var("FLEXT_TEST_CANARY_OFF", "canary-off-1");
    let tree = tempfile::tempdir().unwrap();
    let out = jail.run(&sh(tree.path(), "env; pwd")).await.unwrap();
    let text = stdout(&out);
    assert!(!text.contains("canary-off-1"), "{text}");
    assert!(
        text.contains(&*tree.path().to_string_lossy()),
        "starts in the tree: {text}"
    );
}

#[tokio::test]
async fn an_unavailable_jail_runs_nothing() {
    let jail = Jail {
        mode: Arc::new(Mode::Unconfined),
        state: JailState::Unavailable("no bubblewrap here".into()),
        toolchain: Arc::new(Toolchain::resolve(Path::new("/nonexistent"))),
        cpu: crate::analysis::cpu::CpuBudget::new(1),
    };
    let tree = tempfile::tempdir().unwrap();
    let marker = tree.path().join("ran");
    let spec = sh(tree.path(), &format!("touch {}", marker.display()));
    match jail.run(&spec).await {
        Err(RunError::Unavailable(why)) => assert_eq!(why, "no bubblewrap here"),
        other => panic!("ran anyway: {other:?}"),
    }
    assert!(!marker.exists());
}
