//! Runs the applicable backends concurrently over a work tree, each in the jail, and turns
//! their output into fingerprinted findings, with a report per backend (version, time, status)
//! and the code size.
//!
//! One backend failing or timing out is reported as such; the others still count.

use super::backends::{
    self, sarif::SarifTool, Backend, ConfigFiles, Granularity, Parallelism, ParseOutput, Prepare,
    Scratch, ToolRun, TreeFacts,
};
use super::cache::ResultCache;
use super::glob::GlobSet;
use super::jail::{Jail, RunError, RunSpec};
use super::repo_config::RepoConfig;
use super::tree::{copy_tree, fingerprint_and_measure, links, python_files, source_files};
use crate::domain::finding::{Finding, RawFinding};
use crate::domain::policy::RuleOverrides;
use crate::domain::test_code::{self, TestCodeCount};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum BackendStatus {
    Ok,
    Failed(String),
    TimedOut,
    NotApplicable(String),
}

impl BackendStatus {
    /// The backend applied but produced no usable result.
    pub fn is_failure(&self) -> bool {
        matches!(self, BackendStatus::Failed(_) | BackendStatus::TimedOut)
    }
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
    /// Findings past `FLEXT_QUALITY_MAX_FINDINGS_PER_BACKEND`, counted but not kept.
    #[serde(default)]
    pub over_limit: usize,
    /// How the tool was configured (the project's MyPy settings, say).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// Whether any backend produced a result: without one there is nothing to score or grade.
pub fn any_ran(backends: &[BackendReport]) -> bool {
    backends.iter().any(|b| b.status == BackendStatus::Ok)
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
            over_limit: 0,
            notes: Vec::new(),
        }
    }

    fn absorb(&mut self, parsed: &ParseOutput) {
        self.dropped.extend(parsed.dropped.iter().cloned());
        self.tool_errors.extend(parsed.tool_errors.iter().cloned());
        self.over_limit += parsed.over_limit;
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
    /// What the repository's test-code policy did.
    pub test_code: TestCodeCount,
}

impl TreeAnalysis {
    /// True when at least one backend produced a result.
    pub fn any_backend_ran(&self) -> bool {
        self.reports.iter().any(|r| r.status == BackendStatus::Ok)
    }

    /// True when some backend applied to the tree (ran, failed or timed out).
    pub fn any_backend_applied(&self) -> bool {
        self.reports
            .iter()
            .any(|r| !matches!(r.status, BackendStatus::NotApplicable(_)))
    }

    /// Backends that applied but failed, as "name: reason".
    pub fn failed_backends(&self) -> Vec<String> {
        self.reports
            .iter()
            .filter_map(|r| match &r.status {
                BackendStatus::Failed(why) => Some(format!("{}: {why}", r.name)),
                BackendStatus::TimedOut => Some(format!("{}: timed out", r.name)),
                _ => None,
            })
            .collect()
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
    pub jail: Jail,
    /// Wall-clock limit of one tool run (the whole jail is killed at it).
    pub timeout: Duration,
    /// Per-file results of per-file backends, keyed by content; read and written only by
    /// flext-quality, never by a tool. `None` disables it.
    pub result_cache: Option<PathBuf>,
    /// A cache the tools write themselves (MyPy's), kept between runs. Analysed code could
    /// poison it, so only for trusted code (the local `analyze`); `None` gives each run its own.
    pub tool_cache: Option<PathBuf>,
    /// Server policy's rule overrides, applied before the repository's.
    pub policy: RuleOverrides,
    /// Extra SARIF-producing tools the operator configured.
    pub sarif_tools: Vec<SarifTool>,
    /// Findings kept per backend; the rest are counted.
    pub max_findings: usize,
    /// Tool runs started by this engine (and its clones), for metrics.
    pub runs: Arc<std::sync::atomic::AtomicU64>,
}

impl Engine {
    /// How many tool runs this engine has started.
    pub fn tool_runs(&self) -> u64 {
        self.runs.load(std::sync::atomic::Ordering::Relaxed)
    }
}

pub const DEFAULT_MAX_FINDINGS: usize = 20_000;

/// Everything one analysis reads: the tree, the configuration and where it came from.
#[derive(Clone)]
pub struct AnalysisInput {
    pub root: PathBuf,
    pub config: RepoConfig,
    /// Files of the config commit (rules, the project's MyPy settings).
    pub config_files: Arc<dyn ConfigFiles>,
}

impl Engine {
    /// Analyses the tree with its config.
    pub async fn analyse(
        &self,
        input: &AnalysisInput,
        progress: Option<tokio::sync::mpsc::UnboundedSender<Progress>>,
    ) -> Result<TreeAnalysis> {
        self.analyse_with_imports(input, progress, Vec::new()).await
    }

    /// Like [`Engine::analyse`], plus findings imported from reports made elsewhere (SARIF
    /// files given to `analyze --sarif`), each with the report that describes it.
    pub async fn analyse_with_imports(
        &self,
        input: &AnalysisInput,
        progress: Option<tokio::sync::mpsc::UnboundedSender<Progress>>,
        imports: Vec<(BackendReport, ParseOutput)>,
    ) -> Result<TreeAnalysis> {
        let config = &input.config;
        let root = &input.root;
        let excludes = GlobSet::new(&config.paths.exclude)
            .map_err(anyhow::Error::msg)
            .context("paths.exclude")?;
        let tests = GlobSet::new(&config.paths.tests)
            .map_err(anyhow::Error::msg)
            .context("paths.tests")?;
        let keep = |files: Vec<String>| -> Vec<String> {
            files
                .into_iter()
                .filter(|f| !excludes.is_match(f))
                .collect()
        };
        let mut facts = TreeFacts {
            python_files: keep(python_files(root)),
            rust_files: keep(source_files(root, &[".rs"])),
            links: links(root),
            has_cargo_toml: root.join("Cargo.toml").is_file(),
            python_digests: HashMap::new(),
        };

        // Built-in backends the config enables, then the operator's tools.
        let mut planned: Vec<(Arc<dyn Backend>, Value)> = Vec::new();
        let mut reports: Vec<(usize, BackendReport, ParseOutput)> = Vec::new();
        for (i, b) in backends::builtin().iter().enumerate() {
            let Some(options) = config.backends.options(b.name()) else {
                let mut r = BackendReport::new(b.name());
                r.status =
                    BackendStatus::NotApplicable("not enabled in the repository config".into());
                reports.push((i, r, ParseOutput::default()));
                continue;
            };
            if let Err(why) = b.applies(&facts, options) {
                let mut r = BackendReport::new(b.name());
                r.status = BackendStatus::NotApplicable(why);
                reports.push((i, r, ParseOutput::default()));
                continue;
            }
            planned.push((Arc::new(Builtin(*b)), options.clone()));
        }
        for tool in &self.sarif_tools {
            planned.push((Arc::new(tool.clone()), Value::Null));
        }
        // Every per-file backend's cache keys hash the files: read once, on every core.
        if self.result_cache.is_some()
            && planned
                .iter()
                .any(|(b, _)| b.granularity() == Granularity::PerFile)
        {
            facts.python_digests =
                cached::digests(root, &facts.python_files, self.jail.cpu().cores());
        }
        let facts = Arc::new(facts);
        let builtin_count = backends::builtin().len();
        let mut tasks = tokio::task::JoinSet::new();
        for (backend, options) in planned {
            let order = backends::builtin()
                .iter()
                .position(|b| b.name() == backend.name())
                .unwrap_or(builtin_count);
            let (engine, input, facts, progress) =
                (self.clone(), input.clone(), facts.clone(), progress.clone());
            tasks.spawn(async move {
                let name = backend.name().to_owned();
                if let Some(p) = &progress {
                    let _ = p.send(Progress::Started(name));
                }
                let (report, parsed) = engine
                    .run_backend(backend.as_ref(), &options, &input, &facts)
                    .await;
                if let Some(p) = &progress {
                    let _ = p.send(Progress::Finished(report.clone()));
                }
                (order, report, parsed)
            });
        }
        while let Some(done) = tasks.join_next().await {
            reports.push(done.context("a backend task panicked")?);
        }
        reports.sort_by(|a, b| (a.0, &a.1.name).cmp(&(b.0, &b.1.name)));
        let mut reports: Vec<(BackendReport, ParseOutput)> =
            reports.into_iter().map(|(_, r, p)| (r, p)).collect();
        reports.extend(imports);

        let mut raw: Vec<RawFinding> = Vec::new();
        for (report, parsed) in &mut reports {
            if report.status == BackendStatus::Ok {
                raw.append(&mut parsed.findings);
            }
        }
        // Globs are matched once per path, not per finding: a tree has many findings a file.
        let mut excluded: HashMap<String, bool> = HashMap::new();
        raw.retain(|f| match excluded.get(f.path.as_str()) {
            Some(out) => !out,
            None => {
                let out = excludes.is_match(&f.path);
                excluded.insert(f.path.clone(), out);
                !out
            }
        });
        for f in &mut raw {
            self.policy.apply(f);
            config.rules.apply(f);
        }
        let test_paths: HashSet<String> = {
            let paths: HashSet<&str> = facts
                .python_files
                .iter()
                .chain(&facts.rust_files)
                .map(String::as_str)
                .chain(raw.iter().map(|f| f.path.as_str()))
                .collect();
            paths
                .into_iter()
                .filter(|p| tests.is_match(p))
                .map(str::to_owned)
                .collect()
        };
        let mut test_code = test_code::apply(&config.tests, &mut raw, |p| test_paths.contains(p));
        test_code.files = facts
            .python_files
            .iter()
            .chain(&facts.rust_files)
            .filter(|f| test_paths.contains(f.as_str()))
            .count();
        let (mut findings, ncloc) = fingerprint_and_measure(root, raw, &facts, &reports);
        for f in &mut findings {
            f.in_tests = test_paths.contains(&f.path);
        }
        let mut reports: Vec<BackendReport> = reports.into_iter().map(|(r, _)| r).collect();
        for r in &mut reports {
            r.findings = findings.iter().filter(|f| f.backend == r.name).count();
        }
        Ok(TreeAnalysis {
            findings,
            ncloc,
            reports,
            test_code,
        })
    }

    async fn run_backend(
        &self,
        backend: &dyn Backend,
        options: &Value,
        input: &AnalysisInput,
        facts: &TreeFacts,
    ) -> (BackendReport, ParseOutput) {
        let started = Instant::now();
        let mut report = BackendReport::new(backend.name());
        let result = self
            .run_backend_inner(backend, options, input, facts, &mut report)
            .await;
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(parsed) => {
                report.absorb(&parsed);
                (report, parsed)
            }
            Err(status) => {
                report.status = status;
                (report, ParseOutput::default())
            }
        }
    }

    async fn run_backend_inner(
        &self,
        backend: &dyn Backend,
        options: &Value,
        input: &AnalysisInput,
        facts: &TreeFacts,
        report: &mut BackendReport,
    ) -> Result<ParseOutput, BackendStatus> {
        let toolchain = self.jail.toolchain();
        let program = toolchain.find(backend.program()).ok_or_else(|| {
            BackendStatus::Failed(format!(
                "{} is not installed (looked in {}/bin, the Rust toolchain and PATH; run `flext-quality tools install`)",
                backend.program(),
                toolchain.venv.display()
            ))
        })?;
        report.version = self.tool_version(backend, &program).await;
        let cache = match (backend.granularity(), &self.result_cache) {
            (Granularity::PerFile, Some(dir)) => Some(ResultCache::open(dir).await),
            _ => None,
        };
        let Some(cache) = cache else {
            let out = self
                .run_in_shards(
                    backend,
                    &program,
                    options,
                    input,
                    facts,
                    &facts.python_files,
                    report,
                    None,
                )
                .await?;
            return Ok(self.capped(out));
        };
        let out = self
            .run_through_cache(&cache, backend, &program, options, input, facts, report)
            .await;
        cache.close().await;
        Ok(self.capped(out?))
    }

    /// At most `max_findings` findings; the rest are counted.
    fn capped(&self, mut out: ParseOutput) -> ParseOutput {
        if out.findings.len() > self.max_findings {
            out.over_limit += out.findings.len() - self.max_findings;
            out.findings.truncate(self.max_findings);
        }
        out
    }

    /// One run of the tool in the jail, parsed, with the notes on how it was configured. It
    /// starts once it has its cores.
    async fn run_tool(
        &self,
        backend: &dyn Backend,
        program: &Path,
        options: &Value,
        input: &AnalysisInput,
        facts: &TreeFacts,
        files: &[String],
    ) -> Result<(ParseOutput, Vec<String>), BackendStatus> {
        let failed = |e: String| BackendStatus::Failed(e);
        let cpu = self.jail.cpu();
        let grant = match backend.parallelism() {
            Parallelism::SingleCore => cpu.one().await,
            Parallelism::Threads => cpu.up_to(cpu.cores()).await,
        };
        let scratch = Scratch::new().map_err(|e| failed(format!("scratch dir: {e}")))?;
        let root = if backend.writes_in_tree() {
            copy_tree(&input.root, &scratch.work)
                .map_err(|e| failed(format!("copying the tree: {e}")))?;
            scratch.work.clone()
        } else {
            input.root.clone()
        };
        let tool_cache = self.tool_cache.as_deref();
        if let Some(dir) = tool_cache {
            std::fs::create_dir_all(dir).map_err(|e| failed(format!("{}: {e}", dir.display())))?;
        }
        let invocation = backend
            .prepare(&Prepare {
                root: &root,
                files,
                facts,
                options,
                scratch: &scratch,
                config_files: input.config_files.as_ref(),
                tool_cache,
                cores: grant.cores(),
            })
            .map_err(failed)?;
        let mut spec = RunSpec::new(program, &root);
        spec.args = invocation.args.iter().map(Into::into).collect();
        spec.env = backend.base_env();
        spec.env.extend(invocation.env.iter().cloned());
        spec.read_only = vec![input.root.clone(), scratch.config.clone()];
        spec.writable = vec![scratch.home.clone()];
        if root != input.root {
            spec.writable.push(root.clone());
        }
        spec.writable.extend(tool_cache.map(Path::to_path_buf));
        spec.home = Some(scratch.home.clone());
        spec.timeout = self.timeout;
        self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let output = self.jail.run(&spec).await.map_err(|e| match e {
            RunError::Unavailable(why) => failed(format!("not run: {why}")),
            RunError::Failed(e) => failed(format!("{e:#}")),
        })?;
        drop(grant);
        if output.timed_out {
            return Err(BackendStatus::TimedOut);
        }
        if output.truncated {
            return Err(failed(format!(
                "its output ({} MiB) is over the {} MiB limit",
                output.stdout_bytes >> 20,
                spec.limits.output_bytes >> 20
            )));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        backend
            .parse(&ToolRun {
                exit_code: output.exit_code,
                stdout: &stdout,
                stderr_tail: &output.stderr_tail(),
                root: &root,
                scratch: &scratch,
                max_findings: self.max_findings,
            })
            .map(|parsed| (parsed, invocation.notes))
            .map_err(failed)
    }
}

/// A built-in backend behind an `Arc`, so built-ins and operator tools share one path.
struct Builtin(&'static dyn Backend);

impl Backend for Builtin {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn program(&self) -> &str {
        self.0.program()
    }
    fn version_args(&self) -> Vec<String> {
        self.0.version_args()
    }
    fn base_env(&self) -> Vec<(String, String)> {
        self.0.base_env()
    }
    fn default_mapping(&self) -> &'static str {
        self.0.default_mapping()
    }
    fn options(
        &self,
        table: Option<super::repo_config::OptionsTable<'_>>,
    ) -> Result<Value, super::repo_config::ConfigError> {
        self.0.options(table)
    }
    fn applies(&self, facts: &TreeFacts, options: &Value) -> Result<(), String> {
        self.0.applies(facts, options)
    }
    fn granularity(&self) -> Granularity {
        self.0.granularity()
    }
    fn parallelism(&self) -> Parallelism {
        self.0.parallelism()
    }
    fn writes_in_tree(&self) -> bool {
        self.0.writes_in_tree()
    }
    fn prepare(&self, p: &Prepare<'_>) -> Result<backends::Invocation, String> {
        self.0.prepare(p)
    }
    fn parse(&self, run: &ToolRun<'_>) -> Result<ParseOutput, String> {
        self.0.parse(run)
    }
}

mod cached;
mod shards;
#[cfg(test)]
mod tests;
mod versions;
