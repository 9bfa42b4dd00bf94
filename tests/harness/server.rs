//! The real `flext-quality serve` as an operator starts it: from a working directory, with
//! nothing of flext-quality's environment but what the test gives, its own TMPDIR, stopped
//! with SIGTERM like Fly.io and systemd do (or killed with SIGKILL, like a crash).

use super::dsl::SECRET;
use secrecy::SecretString;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_flext-quality");

/// The binary with nothing of flext-quality's environment, from `cwd`.
pub fn command(cwd: &Path, args: &[&str]) -> Command {
    wrapped_command(&[], cwd, args)
}

/// [`command`] started through `wrapper` (a program and its arguments, to which the binary's
/// path and `args` are appended), e.g. `unshare … sh -c '…; exec "$0" "$@"'`.
pub fn wrapped_command(wrapper: &[&str], cwd: &Path, args: &[&str]) -> Command {
    let mut c = match wrapper.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(BIN);
            c
        }
        None => Command::new(BIN),
    };
    c.args(args).current_dir(cwd);
    for (k, _) in std::env::vars() {
        if k.starts_with("FLEXT_QUALITY_")
            || k.starts_with("GITHUB_")
            || k == "DATABASE_URL"
            || k == "PORT"
            || k == "PUBLIC_URL"
            || k == "FLY_APP_NAME"
        {
            c.env_remove(k);
        }
    }
    c.env("RUST_LOG", "info");
    c
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `serve` with its own TMPDIR; stopped with SIGTERM (as Fly.io and systemd do) when
/// dropped.
pub struct Server {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
    tmp: tempfile::TempDir,
}

impl Server {
    pub fn start(cwd: &Path, envs: &[(&str, String)]) -> Server {
        Server::start_on(free_port(), cwd, envs)
    }

    /// On a port chosen beforehand (to give the server its own URL as `PUBLIC_URL`).
    pub fn start_on(port: u16, cwd: &Path, envs: &[(&str, String)]) -> Server {
        Server::start_wrapped(&[], port, cwd, envs)
    }

    /// Started through `wrapper` (see [`wrapped_command`]).
    pub fn start_wrapped(
        wrapper: &[&str],
        port: u16,
        cwd: &Path,
        envs: &[(&str, String)],
    ) -> Server {
        let log = cwd.join("serve.log");
        let tmp = tempfile::tempdir().unwrap();
        let mut c = wrapped_command(wrapper, cwd, &["serve"]);
        c.env("PORT", port.to_string())
            .env("TMPDIR", tmp.path())
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(std::fs::File::create(cwd.join("serve.out")).unwrap())
            .stderr(std::fs::File::create(&log).unwrap());
        Server {
            child: c.spawn().expect("starting flext-quality serve"),
            port,
            log,
            tmp,
        }
    }

    /// SIGTERM, then up to 30 s to finish; true when it exited by itself.
    pub fn stop(&mut self) -> bool {
        if self.child.try_wait().ok().flatten().is_some() {
            return true;
        }
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }

    /// Sends SIGTERM and returns at once.
    pub fn terminate(&self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
    }

    /// Waits up to `limit` for the process to exit; its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGKILL, as a crash or an out-of-memory kill would: no cleanup runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What the server left in its TMPDIR.
    pub fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// The process id (of the wrapper, which `exec`s the binary when it is a shell).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What the server printed on standard output (the sign-in link, say).
    pub fn printed(&self) -> String {
        std::fs::read_to_string(self.log.with_file_name("serve.out")).unwrap_or_default()
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn wait_ready(&self) {
        let started = Instant::now();
        let http = reqwest::Client::new();
        loop {
            if let Ok(r) = http.get(format!("{}/healthz", self.url())).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "serve did not answer within 60 s:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn webhook(&self, event: &str, body: &[u8]) -> (u16, String) {
        let signature =
            flext_quality::github::signature::sign(&SecretString::from(SECRET.to_owned()), body);
        let r = reqwest::Client::new()
            .post(format!("{}/webhooks/github", self.url()))
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", "first-run-1")
            .header("X-Hub-Signature-256", signature)
            .header("Content-Type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .expect("serve answers");
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
