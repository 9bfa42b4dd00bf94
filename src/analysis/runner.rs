//! Runs an analysis tool in a sandbox: its own process group (killed whole on timeout), resource
//! limits, an environment scrubbed to an allowlist with a temporary HOME, no network where the
//! kernel allows a new network namespace, and a cap on captured output.

use anyhow::{Context, Result};
use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

#[derive(Debug, Clone)]
pub struct Limits {
    pub cpu_seconds: u64,
    pub address_space_bytes: u64,
    pub file_size_bytes: u64,
    pub processes: u64,
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_seconds: 900,
            address_space_bytes: 16 << 30,
            file_size_bytes: 1 << 30,
            processes: 4096,
            output_bytes: 64 << 20,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    pub timeout: Duration,
    /// Variables added to the scrubbed environment (never secrets).
    pub env: Vec<(String, String)>,
    /// Directories put first on PATH (the tools' virtual environment).
    pub path_prefix: Vec<PathBuf>,
    pub limits: Limits,
}

impl RunSpec {
    pub fn new(program: impl Into<PathBuf>, cwd: impl Into<PathBuf>) -> RunSpec {
        RunSpec {
            program: program.into(),
            args: Vec::new(),
            cwd: cwd.into(),
            timeout: Duration::from_secs(600),
            env: Vec::new(),
            path_prefix: Vec::new(),
            limits: Limits::default(),
        }
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
}

#[derive(Debug, Clone)]
pub struct RunOutput {
    pub exit_code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub timed_out: bool,
    /// Output went over the cap and was cut.
    pub truncated: bool,
    pub elapsed: Duration,
}

impl RunOutput {
    /// The last lines of stderr, for error messages.
    pub fn stderr_tail(&self) -> String {
        let text = String::from_utf8_lossy(&self.stderr);
        let lines: Vec<&str> = text.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }
}

/// Variables passed through from our environment when set; everything else is dropped, so
/// tokens, keys and database URLs never reach analysed code.
const PASSED_THROUGH: [&str; 3] = ["LANG", "LC_ALL", "TZ"];

/// Whether a child can be put in its own network namespace here (probed once).
pub fn network_isolation_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let mut cmd = std::process::Command::new("true");
        // SAFETY: `unshare` is async-signal-safe and touches only the child.
        unsafe {
            cmd.pre_exec(enter_network_namespace);
        }
        let ok = cmd.status().map(|s| s.success()).unwrap_or(false);
        if !ok {
            tracing::warn!(
                "analysis tools run WITH network access: this kernel or container refuses new network namespaces"
            );
        }
        ok
    })
}

fn enter_network_namespace() -> std::io::Result<()> {
    // As root a new network namespace is enough; otherwise a user namespace makes it allowed.
    // SAFETY: plain syscalls in the forked child.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNET) == 0 {
            return Ok(());
        }
        if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) == 0 {
            return Ok(());
        }
    }
    Err(std::io::Error::last_os_error())
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: value as libc::rlim_t,
        rlim_max: value as libc::rlim_t,
    };
    // SAFETY: setrlimit is async-signal-safe.
    if unsafe { libc::setrlimit(resource, &limit) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Kills the whole process group when dropped, so a cancelled analysis leaves no tool behind.
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            // SAFETY: signalling a process group we created.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}

async fn read_capped<R: tokio::io::AsyncRead + Unpin>(
    mut reader: R,
    cap: usize,
) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let mut truncated = false;
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                if n > room {
                    truncated = true;
                }
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    (kept, truncated)
}

/// Runs the tool to completion or timeout.
pub async fn run(spec: &RunSpec) -> Result<RunOutput> {
    let home = tempfile::Builder::new()
        .prefix("flext-quality-home-")
        .tempdir()
        .context("creating a temporary HOME")?;
    let mut path_entries: Vec<PathBuf> = spec.path_prefix.clone();
    path_entries.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(PathBuf::from));
    let path = std::env::join_paths(&path_entries).context("building PATH")?;

    let mut cmd = tokio::process::Command::new(&spec.program);
    cmd.args(&spec.args)
        .current_dir(&spec.cwd)
        .env_clear()
        .env("PATH", path)
        .env("HOME", home.path())
        .env("TMPDIR", home.path())
        .envs(
            PASSED_THROUGH
                .iter()
                .filter_map(|k| std::env::var(k).ok().map(|v| (*k, v))),
        )
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let limits = spec.limits.clone();
    let isolate = network_isolation_available();
    // SAFETY: only async-signal-safe calls (setrlimit, unshare) run between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            set_limit(libc::RLIMIT_CPU, limits.cpu_seconds)?;
            set_limit(libc::RLIMIT_AS, limits.address_space_bytes)?;
            set_limit(libc::RLIMIT_FSIZE, limits.file_size_bytes)?;
            set_limit(libc::RLIMIT_NPROC, limits.processes)?;
            if isolate {
                enter_network_namespace()?;
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", spec.program.display()))?;
    let mut guard = GroupGuard(child.id().map(|p| p as i32));
    let stdout = child.stdout.take().context("child stdout")?;
    let stderr = child.stderr.take().context("child stderr")?;
    let cap = spec.limits.output_bytes;
    let out_task = tokio::spawn(read_capped(stdout, cap));
    let err_task = tokio::spawn(read_capped(stderr, cap.min(1 << 20)));

    let (exit_code, timed_out) = match tokio::time::timeout(spec.timeout, child.wait()).await {
        Ok(status) => (status.context("waiting for the tool")?.code(), false),
        Err(_) => {
            drop(guard);
            guard = GroupGuard(None);
            let _ = child.wait().await;
            (None, true)
        }
    };
    // Grandchildren may hold the pipes open; the group is killed before reading to the end.
    drop(guard);
    let (stdout, out_truncated) = out_task.await.unwrap_or_default();
    let (stderr, _) = err_task.await.unwrap_or_default();
    Ok(RunOutput {
        exit_code,
        stdout,
        stderr,
        timed_out,
        truncated: out_truncated,
        elapsed: started.elapsed(),
    })
}

/// Finds a tool: first in the tools' virtual environment, then on PATH.
pub fn find_tool(tools_dir: &Path, name: &str) -> Option<PathBuf> {
    let venv = tools_dir.join("venv").join("bin").join(name);
    if venv.is_file() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests;
