//! The jail every process that reads repository content runs in.
//!
//! Analysed code is hostile: a pull request controls its files, its tool configs and its build
//! scripts. Each tool run is a bubblewrap (`bwrap`) sandbox with new user, PID, network, IPC,
//! UTS and mount namespaces and an unprivileged uid. Inside, only the system's programs
//! (`/usr`), a few files of `/etc`, the tools and toolchains (read-only), the work tree
//! (read-only) and the run's own scratch directories exist; `/tmp` and `/proc` are private.
//! The data dir, mirrors, caches, keys, `.env`, the server's environment and processes, and the
//! network are not there. The sandbox dies whole: when the tool exits, times out, or the
//! server goes away, every process inside is killed (daemons included).
//!
//! Where bubblewrap cannot run, the jail *fails closed*: every run is refused with the reason,
//! unless the operator turned it off (`FLEXT_QUALITY_SANDBOX=off`, trusted code only) or the
//! local `analyze` command runs the user's own code without it.

use super::cpu::{available_cores, CpuBudget};
use super::toolchain::Toolchain;
use anyhow::{Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the operator wants tools to be run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxSetting {
    /// In the jail or not at all (the server's default).
    Required,
    /// In the jail when it can be made, otherwise unjailed with a warning (local `analyze`).
    Auto,
    /// Never in the jail: only for trusted code.
    Off,
}

impl std::str::FromStr for SandboxSetting {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "required" | "on" => Ok(SandboxSetting::Required),
            "auto" => Ok(SandboxSetting::Auto),
            "off" => Ok(SandboxSetting::Off),
            other => Err(format!("`{other}` (expected required, auto or off)")),
        }
    }
}

/// What a run's isolation is, for start-up logs, `/readyz` and every check run's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JailState {
    /// Tools run in the bubblewrap jail.
    Jailed,
    /// The operator turned the jail off.
    Off,
    /// The jail could not be made; tools run without it because the setting allows that.
    Unjailed(String),
    /// The jail could not be made and the setting requires it: nothing runs.
    Unavailable(String),
}

impl JailState {
    pub fn describe(&self) -> String {
        match self {
            JailState::Jailed => "tools run in a bubblewrap jail".into(),
            JailState::Off => {
                "FLEXT_QUALITY_SANDBOX=off: tools run WITHOUT a jail (trusted code only)".into()
            }
            JailState::Unjailed(why) => format!("tools run WITHOUT a jail: {why}"),
            JailState::Unavailable(why) => {
                format!("the analysis jail is unavailable, so no tool runs: {why}")
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub cpu_seconds: u64,
    pub address_space_bytes: u64,
    /// Largest file a tool may write (also bounds its standard output).
    pub file_size_bytes: u64,
    pub processes: u64,
    /// Standard output kept; a run that writes more is marked truncated.
    pub output_bytes: u64,
    /// Size of the private `/tmp`.
    pub tmp_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_seconds: 1800,
            address_space_bytes: 16 << 30,
            file_size_bytes: 1 << 30,
            processes: 4096,
            output_bytes: 256 << 20,
            tmp_bytes: 1 << 30,
        }
    }
}

/// One program to run, and what of the machine it may see besides the tools.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    /// Variables set for the program (never secrets). PATH, HOME, TMPDIR and the locale are
    /// set by the jail.
    pub env: Vec<(String, String)>,
    /// Visible read-only, at the same path: the work tree, configuration we wrote.
    pub read_only: Vec<PathBuf>,
    /// Visible read-write, at the same path: the run's scratch directories.
    pub writable: Vec<PathBuf>,
    /// `HOME` for the program; must be one of `writable` (a fresh one is made when `None`).
    pub home: Option<PathBuf>,
    pub timeout: Duration,
    pub limits: Limits,
}

impl RunSpec {
    pub fn new(program: impl Into<PathBuf>, cwd: impl Into<PathBuf>) -> RunSpec {
        let cwd = cwd.into();
        RunSpec {
            program: program.into(),
            args: Vec::new(),
            read_only: vec![cwd.clone()],
            cwd,
            env: Vec::new(),
            writable: Vec::new(),
            home: None,
            timeout: Duration::from_secs(600),
            limits: Limits::default(),
        }
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
    /// The end of standard error (the part that says what went wrong).
    pub stderr: Vec<u8>,
    pub timed_out: bool,
    /// Standard output went over the limit; `stdout` holds only its beginning.
    pub truncated: bool,
    /// How much the program wrote to standard output in all.
    pub stdout_bytes: u64,
    pub elapsed: Duration,
}

impl RunOutput {
    /// The last lines of stderr, for error messages.
    pub fn stderr_tail(&self) -> String {
        let text = String::from_utf8_lossy(&self.stderr);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .rev()
            .take(5)
            .collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Unavailable(String),
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

/// Files of `/etc` a tool may need (dynamic linking, `cc` through the alternatives, TLS roots
/// for libraries that load them at start, time zone). Nothing else of `/etc` is shown.
const ETC_ALLOWED: [&str; 10] = [
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "ssl",
    "ca-certificates",
    "localtime",
    "nsswitch.conf",
    "mime.types",
    "gitconfig",
];

/// Top-level links or directories that hold programs and libraries on usrmerged and classic
/// layouts alike.
const ROOT_ENTRIES: [&str; 6] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// The unprivileged identity inside the jail.
const JAIL_UID: u32 = 65534;

#[derive(Debug)]
struct Bwrap {
    program: PathBuf,
    /// The arguments every run shares (namespaces, system paths, tools).
    base: Vec<OsString>,
    /// `/etc/passwd`, `/etc/group` and `/etc/hosts` written for the jail; kept for its lifetime.
    _files: tempfile::TempDir,
}

#[derive(Debug)]
enum Mode {
    Bwrap(Bwrap),
    Unconfined,
}

/// How tools are run. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Jail {
    mode: Arc<Mode>,
    state: JailState,
    toolchain: Arc<Toolchain>,
    /// The cores the runs in this jail (and its clones) share.
    cpu: CpuBudget,
}

impl Jail {
    /// Makes the jail for `toolchain` and proves it works by running a program in it (and the
    /// tools' interpreter, when installed). Blocking.
    pub fn new(setting: SandboxSetting, toolchain: Toolchain) -> Jail {
        let toolchain = Arc::new(toolchain);
        let cpu = CpuBudget::new(available_cores());
        if setting == SandboxSetting::Off {
            return Jail {
                mode: Arc::new(Mode::Unconfined),
                state: JailState::Off,
                toolchain,
                cpu,
            };
        }
        match Bwrap::prepare(&toolchain).and_then(|b| b.prove(&toolchain).map(|()| b)) {
            Ok(b) => Jail {
                mode: Arc::new(Mode::Bwrap(b)),
                state: JailState::Jailed,
                toolchain,
                cpu,
            },
            Err(e) => {
                let why = format!("{e:#}");
                let state = match setting {
                    SandboxSetting::Auto => JailState::Unjailed(why),
                    _ => JailState::Unavailable(why),
                };
                Jail {
                    mode: Arc::new(Mode::Unconfined),
                    state,
                    toolchain,
                    cpu,
                }
            }
        }
    }

    /// The same jail with its own budget of `cores` (all available ones by default), for a
    /// machine shared with other worker processes.
    pub fn with_cores(mut self, cores: usize) -> Jail {
        self.cpu = CpuBudget::new(cores);
        self
    }

    /// The cores its runs share: the engine takes them before starting a tool.
    pub fn cpu(&self) -> &CpuBudget {
        &self.cpu
    }

    pub fn state(&self) -> &JailState {
        &self.state
    }

    pub fn toolchain(&self) -> &Toolchain {
        &self.toolchain
    }

    /// Runs the program to completion or timeout. When this future is dropped (a cancelled
    /// job), the jail is killed whole.
    pub async fn run(&self, spec: &RunSpec) -> Result<RunOutput, RunError> {
        if let JailState::Unavailable(why) = &self.state {
            return Err(RunError::Unavailable(why.clone()));
        }
        self.run_inner(spec).await.map_err(RunError::Failed)
    }

    async fn run_inner(&self, spec: &RunSpec) -> Result<RunOutput> {
        let private = tempfile::Builder::new()
            .prefix("flext-quality-run-")
            .tempdir()
            .context("creating the run's private directory")?;
        let home = match &spec.home {
            Some(h) => h.clone(),
            None => {
                let h = private.path().join("home");
                std::fs::create_dir(&h)?;
                h
            }
        };
        // Output goes to files outside the jail: nothing a tool leaves running can hold a pipe
        // open and keep us reading.
        let stdout_path = private.path().join("stdout");
        let stderr_path = private.path().join("stderr");
        let stdout = std::fs::File::create(&stdout_path)?;
        let stderr = std::fs::File::create(&stderr_path)?;

        let path = std::env::join_paths(self.toolchain.path_dirs(&spec.program))
            .context("building PATH")?;
        let mut env: Vec<(OsString, OsString)> = vec![
            ("PATH".into(), path),
            ("HOME".into(), home.clone().into()),
            ("LANG".into(), "C.UTF-8".into()),
            ("LC_ALL".into(), "C.UTF-8".into()),
        ];
        let mut command = match &*self.mode {
            Mode::Bwrap(b) => {
                env.push(("TMPDIR".into(), "/tmp".into()));
                let mut c = tokio::process::Command::new(&b.program);
                c.args(&b.base);
                c.args(b.run_args(spec, &home, &self.toolchain));
                c.arg("--").arg(&spec.program).args(&spec.args);
                c
            }
            Mode::Unconfined => {
                let tmp = private.path().join("tmp");
                std::fs::create_dir(&tmp)?;
                env.push(("TMPDIR".into(), tmp.into()));
                let mut c = tokio::process::Command::new(&spec.program);
                c.args(&spec.args).current_dir(&spec.cwd);
                c
            }
        };
        command
            .env_clear()
            .envs(env)
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            .process_group(0);
        let limits = spec.limits.clone();
        let unconfined = matches!(&*self.mode, Mode::Unconfined);
        // SAFETY: only async-signal-safe calls (setrlimit, prctl, unshare) run between fork and
        // exec.
        unsafe {
            command.pre_exec(move || {
                set_limit(libc::RLIMIT_CPU, limits.cpu_seconds)?;
                set_limit(libc::RLIMIT_AS, limits.address_space_bytes)?;
                set_limit(libc::RLIMIT_FSIZE, limits.file_size_bytes)?;
                set_limit(libc::RLIMIT_NPROC, limits.processes)?;
                set_limit(libc::RLIMIT_CORE, 0)?;
                // If the server dies, so does the run (bwrap then takes the sandbox with it).
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if unconfined {
                    // Without the jail, at least no network where the kernel allows it.
                    let _ = enter_network_namespace();
                }
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", spec.program.display()))?;
        let guard = GroupGuard(child.id().map(|p| p as i32));
        let (exit_code, timed_out) = match tokio::time::timeout(spec.timeout, child.wait()).await {
            Ok(status) => (status.context("waiting for the tool")?.code(), false),
            Err(_) => {
                guard.kill();
                let _ = child.wait().await;
                (None, true)
            }
        };
        // In the jail, the sandbox is gone with its first process; without it, the group is
        // killed so nothing started by the tool lingers.
        guard.kill();
        let elapsed = started.elapsed();
        let stdout_bytes = std::fs::metadata(&stdout_path).map(|m| m.len())?;
        let stdout = read_head(&stdout_path, spec.limits.output_bytes)?;
        let stderr = read_tail(&stderr_path, 64 * 1024)?;
        Ok(RunOutput {
            exit_code,
            truncated: stdout_bytes > spec.limits.output_bytes,
            stdout,
            stderr,
            timed_out,
            stdout_bytes,
            elapsed,
        })
    }
}

impl Bwrap {
    /// Finds `bwrap` and builds the arguments every run shares.
    fn prepare(toolchain: &Toolchain) -> Result<Bwrap> {
        let program = super::toolchain::find_on_path("bwrap")
            .or_else(|| Some(PathBuf::from("/usr/bin/bwrap")).filter(|p| p.is_file()))
            .context(
                "bubblewrap (`bwrap`) is not installed; install the Debian package `bubblewrap`",
            )?;
        let help = std::process::Command::new(&program)
            .arg("--help")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let files = tempfile::Builder::new()
            .prefix("flext-quality-jail-")
            .tempdir()
            .context("creating the jail's /etc files")?;
        let etc = |name: &str, text: &str| -> Result<PathBuf> {
            let p = files.path().join(name);
            std::fs::write(&p, text)?;
            Ok(p)
        };
        let passwd = etc(
            "passwd",
            &format!("jail:x:{JAIL_UID}:{JAIL_UID}:jail:/nonexistent:/usr/sbin/nologin\n"),
        )?;
        let group = etc("group", &format!("jail:x:{JAIL_UID}:\n"))?;
        let hosts = etc("hosts", "127.0.0.1 localhost\n::1 localhost\n")?;

        let mut a: Vec<OsString> = Vec::new();
        let mut push = |parts: &[&dyn AsRef<std::ffi::OsStr>]| {
            a.extend(parts.iter().map(|p| p.as_ref().to_os_string()));
        };
        push(&[
            &"--unshare-all",
            &"--unshare-user",
            &"--die-with-parent",
            &"--new-session",
            &"--cap-drop",
            &"ALL",
            &"--uid",
            &JAIL_UID.to_string(),
            &"--gid",
            &JAIL_UID.to_string(),
            &"--hostname",
            &"flext-quality-jail",
        ]);
        if help.contains("--disable-userns") {
            push(&[&"--disable-userns"]);
        }
        push(&[&"--proc", &"/proc", &"--dev", &"/dev"]);
        if help.contains("--size") {
            push(&[&"--size", &Limits::default().tmp_bytes.to_string()]);
        }
        push(&[&"--tmpfs", &"/tmp"]);
        for dir in super::toolchain::SYSTEM_DIRS {
            push(&[&"--ro-bind", &dir, &dir]);
        }
        for entry in ROOT_ENTRIES {
            let host = Path::new("/").join(entry);
            match std::fs::symlink_metadata(&host) {
                Ok(m) if m.file_type().is_symlink() => {
                    let target = std::fs::read_link(&host)?;
                    push(&[&"--symlink", &target, &host]);
                }
                Ok(m) if m.is_dir() => push(&[&"--ro-bind", &host, &host]),
                _ => {}
            }
        }
        for name in ETC_ALLOWED {
            let host = Path::new("/etc").join(name);
            if host.exists() {
                push(&[&"--ro-bind", &host, &host]);
            }
        }
        push(&[&"--ro-bind", &passwd, &"/etc/passwd"]);
        push(&[&"--ro-bind", &group, &"/etc/group"]);
        push(&[&"--ro-bind", &hosts, &"/etc/hosts"]);
        for dir in toolchain.read_only_dirs() {
            if dir.exists() {
                push(&[&"--ro-bind", &dir, &dir]);
            }
        }
        Ok(Bwrap {
            program,
            base: a,
            _files: files,
        })
    }

    /// The per-run arguments: what this run may see, and where it starts.
    fn run_args(&self, spec: &RunSpec, home: &Path, toolchain: &Toolchain) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        for dir in &spec.read_only {
            a.extend(["--ro-bind".into(), dir.into(), dir.into()]);
        }
        let mut writable = spec.writable.clone();
        if !writable.iter().any(|w| home.starts_with(w)) {
            writable.push(home.to_path_buf());
        }
        for dir in &writable {
            a.extend(["--bind".into(), dir.into(), dir.into()]);
        }
        // A program of the Rust toolchain (Clippy's cargo) sees the toolchain; nothing else does.
        let shared = toolchain.read_only_dirs();
        for dir in toolchain.read_only_dirs_for(&spec.program) {
            if !shared.contains(&dir) && dir.exists() {
                a.extend(["--ro-bind".into(), dir.clone().into(), dir.into()]);
            }
        }
        // A program outside the tools (an operator's SARIF tool) needs its own directory.
        if let Some(parent) = spec.program.parent() {
            let tools = toolchain.read_only_dirs_for(&spec.program);
            let covered = super::toolchain::SYSTEM_DIRS
                .iter()
                .map(Path::new)
                .chain(tools.iter().map(PathBuf::as_path))
                .chain(spec.read_only.iter().map(PathBuf::as_path))
                .chain(writable.iter().map(PathBuf::as_path))
                .any(|d| parent.starts_with(d));
            if !covered && parent.is_absolute() {
                a.extend(["--ro-bind".into(), parent.into(), parent.into()]);
            }
        }
        a.extend(["--chdir".into(), spec.cwd.clone().into()]);
        a
    }

    /// Runs `true`, and the tools' interpreter when it is installed, inside the jail.
    fn prove(&self, toolchain: &Toolchain) -> Result<()> {
        let mut probes: Vec<Vec<OsString>> = vec![vec!["/bin/true".into()]];
        let python = toolchain.venv.join("bin").join("python3");
        if python.exists() {
            probes.push(vec![python.into(), "-I".into(), "-c".into(), "pass".into()]);
        }
        // `/` always exists in the jail; TMPDIR may be hidden by the jail's own /tmp.
        let cwd = Path::new("/");
        // Started together, then awaited in order: the start-up pays for the slowest only.
        let mut running = Vec::new();
        for probe in probes {
            let child = std::process::Command::new(&self.program)
                .args(&self.base)
                .args(["--chdir".as_ref(), cwd.as_os_str()])
                .arg("--")
                .args(&probe)
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .with_context(|| format!("starting {}", self.program.display()))?;
            running.push((probe, child));
        }
        let finished: Vec<_> = running
            .into_iter()
            .map(|(probe, child)| (probe, child.wait_with_output()))
            .collect();
        for (probe, out) in finished {
            let out = out.with_context(|| format!("running {}", self.program.display()))?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                anyhow::bail!(
                    "bubblewrap cannot run {} here: {}",
                    Path::new(&probe[0]).display(),
                    err.lines().last().unwrap_or("no message").trim()
                );
            }
        }
        Ok(())
    }
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: value as libc::rlim_t,
        rlim_max: value as libc::rlim_t,
    };
    // SAFETY: setrlimit is async-signal-safe and only reads `limit`.
    if unsafe { libc::setrlimit(resource, &limit) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn enter_network_namespace() -> std::io::Result<()> {
    // SAFETY: plain syscalls in the forked child.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNET) == 0
            || libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) == 0
        {
            return Ok(());
        }
    }
    Err(std::io::Error::last_os_error())
}

/// Kills the run's process group when dropped, so a cancelled analysis leaves nothing behind.
struct GroupGuard(Option<i32>);

impl GroupGuard {
    fn kill(&self) {
        if let Some(pgid) = self.0 {
            // SAFETY: signalling the process group we created for this run.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read_head(path: &Path, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    std::fs::File::open(path)?.take(max).read_to_end(&mut out)?;
    Ok(out)
}

fn read_tail(path: &Path, max: u64) -> Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(max)))?;
    let mut out = Vec::new();
    f.read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests;
