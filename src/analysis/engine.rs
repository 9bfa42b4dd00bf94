//! Runs the applicable backends concurrently over a work tree and turns their output into
//! fingerprinted findings, with a report per backend (version, time, status) and the code size.
//!
//! One backend failing or timing out is reported as such; the others still count.

use super::backends::{Kind, SarifTool, TreeFacts};
use super::cache::ResultCache;
use super::glob::GlobSet;
use super::parse::ParseOutput;
use super::repo_config::RepoConfig;
use super::runner::{run, RunSpec};
use crate::domain::finding::{Finding, RawFinding};
use crate::domain::fingerprint;
use crate::domain::policy::RuleOverrides;
use crate::domain::score::ncloc;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum BackendStatus {
    Ok,
    Failed(String),
    TimedOut,
    NotApplicable(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendReport {
    pub name: String,
    pub version: Option<String>,
    pub status: BackendStatus,
    pub elapsed_ms: u64,
    pub findings: usize,
    /// Files answered from the cache rather than by running the tool.
    pub cached_files: usize,
    pub dropped: Vec<String>,
    pub tool_errors: Vec<String>,
}

impl BackendReport {
    pub fn new(name: &str) -> BackendReport {
        BackendReport {
            name: name.into(),
            version: None,
            status: BackendStatus::Ok,
            elapsed_ms: 0,
            findings: 0,
            cached_files: 0,
            dropped: Vec::new(),
            tool_errors: Vec::new(),
        }
    }
}

/// Progress of a running analysis, for a live display.
#[derive(Debug, Clone)]
pub enum Progress {
    Started(String),
    Finished(BackendReport),
}

#[derive(Debug, Clone)]
pub struct TreeAnalysis {
    pub findings: Vec<Finding>,
    pub ncloc: u64,
    pub reports: Vec<BackendReport>,
}

impl TreeAnalysis {
    /// True when at least one backend produced a result.
    pub fn any_backend_ran(&self) -> bool {
        self.reports.iter().any(|r| r.status == BackendStatus::Ok)
    }

    pub fn tool_versions(&self) -> HashMap<String, String> {
        self.reports
            .iter()
            .filter_map(|r| r.version.clone().map(|v| (r.name.clone(), v)))
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct Engine {
    pub tools_dir: PathBuf,
    pub timeout: Duration,
    /// Result cache and MyPy caches live here; `None` disables caching.
    pub cache_dir: Option<PathBuf>,
    /// Run Clippy (which runs build scripts) even without the network sandbox.
    pub trusted_build_scripts: bool,
    /// Server policy's rule overrides, applied before the repository's.
    pub policy: RuleOverrides,
    /// Extra SARIF-producing tools the operator configured.
    pub sarif_tools: Vec<SarifTool>,
}

/// Directories never analysed: version control, virtual environments, dependencies, builds.
const SKIPPED_DIRS: [&str; 9] = [
    ".git",
    ".hg",
    ".venv",
    "venv",
    "node_modules",
    "__pycache__",
    ".tox",
    "target",
    ".mypy_cache",
];

/// Python source files under `root`, relative, sorted.
pub fn python_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&rel)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let child = rel.join(&name);
            if kind.is_dir() {
                if !SKIPPED_DIRS.contains(&name.as_str()) {
                    stack.push(child);
                }
            } else if kind.is_file() && (name.ends_with(".py") || name.ends_with(".pyi")) {
                out.push(child.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

/// `tool --version`, asked once per tool per process.
async fn tool_version(tool: &Path, kind: Kind) -> Option<String> {
    static VERSIONS: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    let versions = VERSIONS.get_or_init(Default::default);
    if let Some(v) = versions.lock().ok()?.get(tool) {
        return Some(v.clone());
    }
    let mut spec = RunSpec::new(tool, std::env::temp_dir());
    spec.args = if kind == Kind::Clippy {
        vec!["clippy".into(), "--version".into()]
    } else {
        vec!["--version".into()]
    };
    spec.timeout = Duration::from_secs(60);
    // Semgrep looks for a newer version before printing its own, unless told not to.
    spec.env = kind.env(&std::env::temp_dir());
    let out = run(&spec).await.ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .lines()
        .next()?
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()) && w.contains('.'))?
        .to_owned();
    versions
        .lock()
        .ok()?
        .insert(tool.to_path_buf(), version.clone());
    Some(version)
}

impl Engine {
    /// Analyses the files under `root` with `config`. `project_key` names the MyPy cache, so
    /// repeated analyses of one project reuse it.
    pub async fn analyse(
        &self,
        root: &Path,
        config: &RepoConfig,
        project_key: &str,
        progress: Option<tokio::sync::mpsc::UnboundedSender<Progress>>,
    ) -> Result<TreeAnalysis> {
        self.analyse_with_imports(root, config, project_key, progress, Vec::new())
            .await
    }

    /// Like [`Engine::analyse`], plus findings imported from reports made elsewhere (SARIF
    /// files given to `analyze --sarif`), each with the report that describes it.
    pub async fn analyse_with_imports(
        &self,
        root: &Path,
        config: &RepoConfig,
        project_key: &str,
        progress: Option<tokio::sync::mpsc::UnboundedSender<Progress>>,
        imports: Vec<(BackendReport, ParseOutput)>,
    ) -> Result<TreeAnalysis> {
        let excludes = GlobSet::new(&config.paths.exclude)
            .map_err(anyhow::Error::msg)
            .context("paths.exclude")?;
        let facts = TreeFacts {
            python_files: python_files(root)
                .into_iter()
                .filter(|f| !excludes.is_match(f))
                .collect(),
            has_cargo_toml: root.join("Cargo.toml").is_file(),
        };
        let facts = Arc::new(facts);
        let mut tasks = tokio::task::JoinSet::new();
        let mut reports = Vec::new();
        for kind in Kind::ALL {
            if let Some(why) = kind.not_applicable(config, &facts, self.trusted_build_scripts) {
                let mut r = BackendReport::new(kind.name());
                r.status = BackendStatus::NotApplicable(why);
                reports.push((kind, r, ParseOutput::default()));
                continue;
            }
            let (engine, root, config, facts, progress) = (
                self.clone(),
                root.to_path_buf(),
                config.clone(),
                facts.clone(),
                progress.clone(),
            );
            let key = project_key.to_owned();
            tasks.spawn(async move {
                if let Some(p) = &progress {
                    let _ = p.send(Progress::Started(kind.name().into()));
                }
                let (report, parsed) = engine.run_backend(kind, &root, &config, &facts, &key).await;
                if let Some(p) = &progress {
                    let _ = p.send(Progress::Finished(report.clone()));
                }
                (kind, report, parsed)
            });
        }
        let mut sarif_tasks = tokio::task::JoinSet::new();
        for tool in &self.sarif_tools {
            let (engine, root, tool, progress) = (
                self.clone(),
                root.to_path_buf(),
                tool.clone(),
                progress.clone(),
            );
            sarif_tasks.spawn(async move {
                if let Some(p) = &progress {
                    let _ = p.send(Progress::Started(tool.name.clone()));
                }
                let done = engine.run_sarif_tool(&tool, &root).await;
                if let Some(p) = &progress {
                    let _ = p.send(Progress::Finished(done.0.clone()));
                }
                done
            });
        }
        while let Some(done) = tasks.join_next().await {
            reports.push(done.context("a backend task panicked")?);
        }
        reports.sort_by_key(|(kind, _, _)| *kind);
        let mut imports = imports;
        while let Some(done) = sarif_tasks.join_next().await {
            let (report, parsed) = done.context("a SARIF tool task panicked")?;
            if report.status == BackendStatus::Ok {
                imports.push((report, parsed));
            } else {
                imports.push((report, ParseOutput::default()));
            }
        }

        let mut raw: Vec<RawFinding> = Vec::new();
        for (_, report, parsed) in &reports {
            if report.status == BackendStatus::Ok {
                raw.extend(parsed.findings.iter().cloned());
            }
        }
        let mut imported_reports = Vec::new();
        for (report, parsed) in imports {
            raw.extend(parsed.findings);
            imported_reports.push(report);
        }
        raw.retain(|f| !excludes.is_match(&f.path));
        for f in &mut raw {
            self.policy.apply(f);
            config.rules.apply(f);
        }
        let mut contents: HashMap<String, Option<String>> = HashMap::new();
        let mut total_ncloc = 0;
        for f in &facts.python_files {
            let text = std::fs::read_to_string(root.join(f)).ok();
            total_ncloc += text.as_deref().map(ncloc).unwrap_or(0);
            contents.insert(f.clone(), text);
        }
        let findings = fingerprint::assign(raw, |path, line| {
            let text = contents
                .entry(path.to_owned())
                .or_insert_with(|| std::fs::read_to_string(root.join(path)).ok());
            text.as_deref()
                .and_then(|t| t.lines().nth(line.saturating_sub(1) as usize))
                .map(str::to_owned)
        });
        let mut reports: Vec<BackendReport> = reports.into_iter().map(|(_, r, _)| r).collect();
        reports.extend(imported_reports);
        for r in &mut reports {
            r.findings = findings.iter().filter(|f| f.backend == r.name).count();
        }
        Ok(TreeAnalysis {
            findings,
            ncloc: total_ncloc,
            reports,
        })
    }

    async fn run_backend(
        &self,
        kind: Kind,
        root: &Path,
        config: &RepoConfig,
        facts: &TreeFacts,
        key: &str,
    ) -> (BackendReport, ParseOutput) {
        let started = Instant::now();
        let mut report = BackendReport::new(kind.name());
        let Some(tool) = kind.find(&self.tools_dir) else {
            report.status = BackendStatus::Failed(format!(
                "{} is not installed (looked in {}/venv/bin and on PATH; run `flext-quality tools install`)",
                kind.name(),
                self.tools_dir.display()
            ));
            return (report, ParseOutput::default());
        };
        report.version = tool_version(&tool, kind).await;
        if kind == Kind::Semgrep {
            if let Err(why) = semgrep_rules_inside(root, config) {
                report.status = BackendStatus::Failed(why);
                return (report, ParseOutput::default());
            }
        }
        let result = if kind.per_file() {
            self.run_per_file(kind, &tool, root, config, facts, &mut report)
                .await
        } else {
            let files = if kind == Kind::Mypy {
                facts.python_files.clone()
            } else {
                Vec::new()
            };
            self.run_once(kind, &tool, root, config, &files, key).await
        };
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(parsed) => {
                report.dropped = parsed.dropped.clone();
                report.tool_errors = parsed.tool_errors.clone();
                (report, parsed)
            }
            Err(status) => {
                report.status = status;
                (report, ParseOutput::default())
            }
        }
    }

    /// Runs an operator-configured tool and reads its standard output as SARIF; its findings
    /// carry the configured name as their backend.
    async fn run_sarif_tool(&self, tool: &SarifTool, root: &Path) -> (BackendReport, ParseOutput) {
        let mut report = BackendReport::new(&tool.name);
        let program = Path::new(&tool.command[0]);
        let resolved = if program.is_absolute() {
            Some(program.to_path_buf())
        } else {
            super::runner::find_tool(&self.tools_dir, &tool.command[0])
        };
        let Some(program) = resolved else {
            report.status = BackendStatus::Failed(format!("{} is not installed", tool.command[0]));
            return (report, ParseOutput::default());
        };
        let mut spec = RunSpec::new(program, root);
        spec.args = tool.command[1..].iter().map(Into::into).collect();
        spec.timeout = self.timeout;
        let output = match run(&spec).await {
            Ok(o) => o,
            Err(e) => {
                report.status = BackendStatus::Failed(format!("{e:#}"));
                return (report, ParseOutput::default());
            }
        };
        report.elapsed_ms = output.elapsed.as_millis() as u64;
        if output.timed_out {
            report.status = BackendStatus::TimedOut;
            return (report, ParseOutput::default());
        }
        // Many SARIF tools exit non-zero when they find something: the output decides.
        match super::sarif::parse(&String::from_utf8_lossy(&output.stdout), root) {
            Ok(mut parsed) => {
                for f in &mut parsed.findings {
                    f.backend = tool.name.clone();
                }
                report.dropped = parsed.dropped.clone();
                report.tool_errors = parsed.tool_errors.clone();
                (report, parsed)
            }
            Err(e) => {
                report.status = BackendStatus::Failed(format!(
                    "{e} (exit {:?}: {})",
                    output.exit_code,
                    output.stderr_tail()
                ));
                (report, ParseOutput::default())
            }
        }
    }

    /// One run of the tool; its output parsed.
    async fn run_once(
        &self,
        kind: Kind,
        tool: &Path,
        root: &Path,
        config: &RepoConfig,
        files: &[String],
        key: &str,
    ) -> Result<ParseOutput, BackendStatus> {
        let scratch =
            tempfile::tempdir().map_err(|e| BackendStatus::Failed(format!("scratch dir: {e}")))?;
        let mypy_cache = match &self.cache_dir {
            Some(dir) => dir.join("mypy").join(sanitise(key)),
            None => scratch.path().join("mypy"),
        };
        let mut spec = RunSpec::new(tool, root);
        spec.args = kind
            .args(config, files, &mypy_cache)
            .into_iter()
            .map(Into::into)
            .collect();
        spec.env = kind.env(scratch.path());
        spec.timeout = self.timeout;
        if kind == Kind::Clippy {
            if let Some(bin) = tool.parent() {
                spec.path_prefix.push(bin.to_path_buf());
            }
        }
        let output = run(&spec)
            .await
            .map_err(|e| BackendStatus::Failed(format!("{e:#}")))?;
        if output.timed_out {
            return Err(BackendStatus::TimedOut);
        }
        if output.truncated {
            return Err(BackendStatus::Failed("output exceeded the size cap".into()));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let parsed = kind.parse(&text, root);
        let count = parsed.as_ref().map(|p| p.findings.len()).unwrap_or(0);
        if !kind.ran(output.exit_code, count) {
            return Err(BackendStatus::Failed(format!(
                "exited with {}: {}",
                output
                    .exit_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "a signal".into()),
                output.stderr_tail()
            )));
        }
        parsed.map_err(|e| BackendStatus::Failed(e.to_string()))
    }

    /// Runs a per-file backend on the files the cache cannot answer, and caches their results.
    async fn run_per_file(
        &self,
        kind: Kind,
        tool: &Path,
        root: &Path,
        config: &RepoConfig,
        facts: &TreeFacts,
        report: &mut BackendReport,
    ) -> Result<ParseOutput, BackendStatus> {
        let cache = self
            .cache_dir
            .as_ref()
            .map(|d| ResultCache::new(d.join("results")));
        let version = report.version.clone().unwrap_or_default();
        // Besides the file itself, Ruff's verdict on a file depends on which other files exist
        // (isort's first-party detection), so the tree's file list is part of its key.
        let mut effective = kind.effective_config(config);
        if kind == Kind::Ruff {
            let listing = facts.python_files.join("\n");
            let digest = openssl::sha::sha256(listing.as_bytes());
            effective.push_str(
                &digest
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>(),
            );
        }
        let mut out = ParseOutput::default();
        let mut to_run: Vec<String> = Vec::new();
        let mut keys: BTreeMap<String, String> = BTreeMap::new();
        for file in &facts.python_files {
            let Some(cache) = &cache else {
                to_run.push(file.clone());
                continue;
            };
            let mut content = std::fs::read(root.join(file)).unwrap_or_default();
            // The executable bit matters too (Ruff's EXE rules): it is part of what is keyed.
            content.push(u8::from(is_executable(&root.join(file))));
            let key = ResultCache::key(kind.name(), &version, &effective, file, &content);
            match cache.get(&key) {
                Some(findings) => {
                    out.findings.extend(findings);
                    report.cached_files += 1;
                }
                None => {
                    to_run.push(file.clone());
                    keys.insert(file.clone(), key);
                }
            }
        }
        if !to_run.is_empty() {
            let fresh = self.run_once(kind, tool, root, config, &to_run, "").await?;
            if let Some(cache) = &cache {
                let mut by_file: BTreeMap<&str, Vec<RawFinding>> = BTreeMap::new();
                for f in &fresh.findings {
                    by_file.entry(f.path.as_str()).or_default().push(f.clone());
                }
                // A file with a tool error may be judged incompletely: do not cache anything
                // from a run that reported errors.
                if fresh.tool_errors.is_empty() {
                    for (file, key) in &keys {
                        cache.put(
                            key,
                            by_file.get(file.as_str()).map(Vec::as_slice).unwrap_or(&[]),
                        );
                    }
                }
            }
            out.findings.extend(fresh.findings);
            out.dropped.extend(fresh.dropped);
            out.tool_errors.extend(fresh.tool_errors);
        }
        Ok(out)
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// Semgrep reads its rule paths itself: each must resolve inside the tree, so a symbolic link
/// in the repository cannot make it load files from elsewhere on the server.
fn semgrep_rules_inside(root: &Path, config: &RepoConfig) -> Result<(), String> {
    let canonical_root = root.canonicalize().map_err(|e| e.to_string())?;
    for rule_path in config.backends.semgrep.iter().flat_map(|s| s.config.iter()) {
        match root.join(rule_path).canonicalize() {
            Ok(real) if real.starts_with(&canonical_root) => {}
            Ok(_) => {
                return Err(format!(
                    "rule path `{rule_path}` resolves outside the repository"
                ))
            }
            Err(e) => return Err(format!("rule path `{rule_path}`: {e}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

fn sanitise(key: &str) -> String {
    let s: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "default".into()
    } else {
        s
    }
}
