//! The command line of each backend, whether it applies to a tree, and which exit codes mean
//! "ran" (most tools exit non-zero when they find something).

use super::parse::{ParseError, ParseOutput};
use super::repo_config::{BanditLevel, RepoConfig};
use super::runner::{find_tool, network_isolation_available};
use super::{bandit, clippy, mypy, ruff, semgrep};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Ruff,
    Mypy,
    Bandit,
    Semgrep,
    Clippy,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Ruff,
        Kind::Mypy,
        Kind::Bandit,
        Kind::Semgrep,
        Kind::Clippy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Ruff => ruff::NAME,
            Kind::Mypy => mypy::NAME,
            Kind::Bandit => bandit::NAME,
            Kind::Semgrep => semgrep::NAME,
            Kind::Clippy => clippy::NAME,
        }
    }

    /// Per-file backends judge each file on its own, so their results can be cached per file.
    pub fn per_file(self) -> bool {
        matches!(self, Kind::Ruff | Kind::Bandit)
    }

    fn executable(self) -> &'static str {
        match self {
            Kind::Clippy => "cargo",
            other => other.name(),
        }
    }

    pub fn parse(self, output: &str, root: &Path) -> Result<ParseOutput, ParseError> {
        match self {
            Kind::Ruff => ruff::parse(output, root),
            Kind::Mypy => mypy::parse(output, root),
            Kind::Bandit => bandit::parse(output, root),
            Kind::Semgrep => semgrep::parse(output, root),
            Kind::Clippy => clippy::parse(output, root),
        }
    }

    /// Exit codes after which the output is a result, not a crash.
    pub fn ran(self, code: Option<i32>, parsed_findings: usize) -> bool {
        match (self, code) {
            (Kind::Ruff | Kind::Semgrep, Some(0)) => true,
            (Kind::Bandit, Some(0 | 1)) => true,
            (Kind::Mypy, Some(0 | 1)) => true,
            // MyPy stops at a syntax error with exit 2 but still reports it.
            (Kind::Mypy, Some(2)) => parsed_findings > 0,
            // Compile errors end `cargo clippy` with 101; they are findings (blockers).
            (Kind::Clippy, Some(0 | 101)) => true,
            _ => false,
        }
    }

    /// Why the backend does not run on this tree, or `None` when it does.
    pub fn not_applicable(
        self,
        config: &RepoConfig,
        tree: &TreeFacts,
        trusted_build_scripts: bool,
    ) -> Option<String> {
        let b = &config.backends;
        let enabled = match self {
            Kind::Ruff => b.ruff.is_some(),
            Kind::Mypy => b.mypy.is_some(),
            Kind::Bandit => b.bandit.is_some(),
            Kind::Semgrep => b.semgrep.is_some(),
            Kind::Clippy => b.clippy.is_some(),
        };
        if !enabled {
            return Some("not enabled in the repository config".into());
        }
        match self {
            Kind::Ruff | Kind::Mypy | Kind::Bandit if tree.python_files.is_empty() => Some("no Python files".into()),
            Kind::Semgrep if b.semgrep.as_ref().is_none_or(|s| s.config.is_empty()) => {
                Some("no local rules configured (`semgrep = { config = [...] }`)".into())
            }
            Kind::Clippy if !tree.has_cargo_toml => Some("no Cargo.toml".into()),
            Kind::Clippy if !network_isolation_available() && !trusted_build_scripts => Some(
                "Clippy runs build scripts: it needs the network sandbox (unavailable here) or FLEXT_QUALITY_TRUST_BUILD_SCRIPTS=1"
                    .into(),
            ),
            _ => None,
        }
    }

    pub fn find(self, tools_dir: &Path) -> Option<PathBuf> {
        find_tool(tools_dir, self.executable())
    }

    /// The backend's effective configuration, serialised deterministically (part of cache keys
    /// and of what an analysis records).
    pub fn effective_config(self, config: &RepoConfig) -> String {
        let b = &config.backends;
        let value = match self {
            Kind::Ruff => serde_json::to_value(&b.ruff),
            Kind::Mypy => serde_json::to_value(&b.mypy),
            Kind::Bandit => serde_json::to_value(&b.bandit),
            Kind::Semgrep => serde_json::to_value(&b.semgrep),
            Kind::Clippy => serde_json::to_value(&b.clippy),
        };
        value.map(|v| v.to_string()).unwrap_or_default()
    }

    /// Arguments for a run over `files` (per-file backends) or the whole tree.
    pub fn args(self, config: &RepoConfig, files: &[String], mypy_cache: &Path) -> Vec<String> {
        let b = &config.backends;
        let mut a: Vec<String> = Vec::new();
        let mut push = |s: &str| a.push(s.to_owned());
        match self {
            Kind::Ruff => {
                for s in [
                    "check",
                    "--output-format=json",
                    "--exit-zero",
                    "--isolated",
                    "--no-cache",
                    "--quiet",
                ] {
                    push(s);
                }
                if let Some(o) = &b.ruff {
                    if let Some(select) = &o.select {
                        a.push(format!("--select={}", select.join(",")));
                    }
                    if !o.ignore.is_empty() {
                        a.push(format!("--ignore={}", o.ignore.join(",")));
                    }
                    if let Some(n) = o.line_length {
                        a.push(format!("--line-length={n}"));
                    }
                }
                a.push("--".into());
                a.extend(files.iter().cloned());
            }
            Kind::Bandit => {
                for s in ["-f", "json", "-q"] {
                    push(s);
                }
                if let Some(o) = &b.bandit {
                    if !o.skip.is_empty() {
                        a.push(format!("--skip={}", o.skip.join(",")));
                    }
                    match o.severity {
                        Some(BanditLevel::Low) | None => {}
                        Some(BanditLevel::Medium) => a.push("-ll".into()),
                        Some(BanditLevel::High) => a.push("-lll".into()),
                    }
                }
                a.push("--".into());
                a.extend(files.iter().cloned());
            }
            Kind::Mypy => {
                for s in [
                    "--output",
                    "json",
                    "--no-error-summary",
                    "--show-column-numbers",
                    "--hide-error-context",
                    "--no-color-output",
                    "--no-pretty",
                    "--cache-dir",
                ] {
                    push(s);
                }
                a.push(mypy_cache.display().to_string());
                if let Some(o) = &b.mypy {
                    if o.strict {
                        a.push("--strict".into());
                    }
                    if o.ignore_missing_imports {
                        a.push("--ignore-missing-imports".into());
                    }
                }
                a.push("--".into());
                a.extend(files.iter().cloned());
            }
            Kind::Semgrep => {
                for s in [
                    "scan",
                    "--json",
                    "--metrics=off",
                    "--disable-version-check",
                    "--quiet",
                ] {
                    push(s);
                }
                for c in b.semgrep.iter().flat_map(|s| s.config.iter()) {
                    a.push(format!("--config={c}"));
                }
                a.push(".".into());
            }
            Kind::Clippy => {
                for s in [
                    "clippy",
                    "--message-format=json",
                    "--quiet",
                    "--offline",
                    "--all-targets",
                ] {
                    push(s);
                }
            }
        }
        a
    }

    /// Extra environment (never secrets) the backend needs.
    pub fn env(self, scratch: &Path) -> Vec<(String, String)> {
        match self {
            Kind::Semgrep => vec![
                ("SEMGREP_ENABLE_VERSION_CHECK".into(), "0".into()),
                ("SEMGREP_SEND_METRICS".into(), "off".into()),
            ],
            Kind::Clippy => {
                // Cargo and rustup must find the toolchain; the build writes to a scratch dir.
                let mut env = vec![(
                    "CARGO_TARGET_DIR".into(),
                    scratch.join("target").display().to_string(),
                )];
                for k in ["CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN"] {
                    if let Ok(v) = std::env::var(k) {
                        env.push((k.into(), v));
                    }
                }
                if std::env::var("RUSTUP_HOME").is_err() {
                    if let Ok(home) = std::env::var("HOME") {
                        env.push(("RUSTUP_HOME".into(), format!("{home}/.rustup")));
                        env.push(("CARGO_HOME".into(), format!("{home}/.cargo")));
                    }
                }
                env
            }
            _ => Vec::new(),
        }
    }
}

/// What the engine learned about a tree before running anything.
#[derive(Debug, Clone, Default)]
pub struct TreeFacts {
    /// Python files, relative, sorted, after the config's excludes.
    pub python_files: Vec<String>,
    pub has_cargo_toml: bool,
}

/// An extra tool the operator configured (`FLEXT_QUALITY_SARIF_TOOLS`): run in the sandbox at
/// the tree's root, its standard output read as SARIF. Only the operator can name programs;
/// a repository never can.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SarifTool {
    /// The backend name its findings carry (`gitleaks`).
    pub name: String,
    /// Program and arguments; the program is looked up in the tools' environment, then PATH.
    pub command: Vec<String>,
}

impl SarifTool {
    /// Parses the JSON list in `FLEXT_QUALITY_SARIF_TOOLS`.
    pub fn parse_list(json: &str) -> Result<Vec<SarifTool>, String> {
        let tools: Vec<SarifTool> = serde_json::from_str(json).map_err(|e| e.to_string())?;
        for t in &tools {
            if t.name.trim().is_empty() || t.command.is_empty() {
                return Err(format!("tool `{}` needs a name and a command", t.name));
            }
            if Kind::ALL.iter().any(|k| k.name() == t.name) {
                return Err(format!("`{}` is a built-in backend's name", t.name));
            }
        }
        Ok(tools)
    }
}
