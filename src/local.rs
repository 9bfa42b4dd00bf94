//! `flext-quality analyze`: the engine on a local checkout, with no GitHub and no database.
//!
//! Exit codes: 0 the gate passed, 1 it failed, 2 a usage, configuration or backend error.

use crate::analysis::backends::sarif;
use crate::analysis::backends::{ConfigFiles, LocalFiles};
use crate::analysis::engine::{
    AnalysisInput, BackendReport, BackendStatus, Engine, Progress, TreeAnalysis,
};
use crate::analysis::repo_config::{load_repo_config, parse_repo_config, ConfigSource, RepoConfig};
use crate::domain::diffmap::DiffMap;
use crate::domain::gate::{GateConfig, Verdict};
use crate::domain::judgement::{self, Applicability, Baseline, GateScope, JudgementInput};
use crate::publish::local::{self, LocalReport};
use anyhow::{Context, Result};
use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Sarif,
    Markdown,
}

pub struct LocalOptions {
    pub path: PathBuf,
    pub base: Option<String>,
    pub format: Format,
    pub config: Option<PathBuf>,
    pub sarif: Vec<PathBuf>,
    /// List every finding even with a base.
    pub all: bool,
}

/// The engine for a local analysis: the configured tools in a jail made with `sandbox`, the
/// result cache, and MyPy's cache kept per checkout (the user runs their own code).
pub async fn local_engine(
    settings: &crate::config::AnalysisSettings,
    sandbox: crate::analysis::jail::SandboxSetting,
    root: &Path,
) -> Engine {
    let jail = crate::server::jail(settings, sandbox).await;
    let key: String = root
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let tool_cache = settings.cache_dir.join("tools").join(key);
    let mut engine = crate::server::engine(settings, jail, Some(tool_cache));
    // No server here: the policy file's rule overrides apply directly.
    engine.policy = settings.policy.rules.clone();
    engine
}

/// A failure that is the user's to fix (exit code 2), told in one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn load_config(options: &LocalOptions) -> Result<RepoConfig> {
    if let Some(file) = &options.config {
        let text = std::fs::read_to_string(file)
            .map_err(|e| UsageError(format!("--config {}: {e}", file.display())))?;
        let source = if file.file_name().is_some_and(|n| n == "pyproject.toml") {
            ConfigSource::PyProject
        } else {
            ConfigSource::FlextToml
        };
        return parse_repo_config(&text, source).map_err(|e| UsageError(e.to_string()).into());
    }
    let root = options.path.clone();
    match load_repo_config(|name| std::fs::read_to_string(root.join(name)).ok()) {
        Ok(Some((config, _))) => Ok(config),
        Ok(None) => Ok(RepoConfig::default()),
        Err(e) => Err(UsageError(e.to_string()).into()),
    }
}

fn import_sarif(
    files: &[PathBuf],
    root: &Path,
) -> Result<Vec<(BackendReport, crate::analysis::backends::ParseOutput)>> {
    files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file)
                .map_err(|e| UsageError(format!("--sarif {}: {e}", file.display())))?;
            let log = sarif::parse_log(&text, root, usize::MAX)
                .map_err(|e| UsageError(format!("--sarif {}: {e}", file.display())))?;
            let parsed = log.output;
            let name = parsed
                .findings
                .first()
                .map(|f| f.backend.clone())
                .unwrap_or_else(|| "sarif".into());
            let mut report = BackendReport::new(&name);
            report.version = Some(format!("imported from {}", file.display()));
            report.dropped = parsed.dropped.clone();
            report.tool_errors = parsed.tool_errors.clone();
            if !log.failed.is_empty() {
                report.status = BackendStatus::Failed(log.failed.join("; "));
            }
            Ok((report, parsed))
        })
        .collect()
}

/// Draws one live line per backend on stderr while the analysis runs.
fn spawn_progress(
    live: bool,
) -> (
    tokio::sync::mpsc::UnboundedSender<Progress>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let handle = tokio::spawn(async move {
        let mut rows: Vec<(String, Instant, Option<BackendReport>)> = Vec::new();
        let mut drawn = 0usize;
        let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
        let mut tick = 0usize;
        loop {
            let event = if live {
                match tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
                    Ok(None) => break,
                    Ok(Some(e)) => Some(e),
                    Err(_) => None,
                }
            } else {
                match rx.recv().await {
                    None => break,
                    Some(e) => Some(e),
                }
            };
            match event {
                Some(Progress::Started(name)) => {
                    // With --base, each backend runs twice; the second row says which is which.
                    let label = if rows.iter().any(|r| r.0 == name) {
                        format!("{name} (base)")
                    } else {
                        name
                    };
                    rows.push((label, Instant::now(), None));
                }
                Some(Progress::Finished(report)) => {
                    if !live {
                        eprintln!(
                            "{} {} in {:.1}s",
                            report.name,
                            status_word(&report.status),
                            report.elapsed_ms as f64 / 1000.0
                        );
                    }
                    if let Some(row) = rows.iter_mut().find(|r| {
                        r.2.is_none()
                            && (r.0 == report.name || r.0 == format!("{} (base)", report.name))
                    }) {
                        row.2 = Some(report);
                    }
                }
                None => {}
            }
            if live {
                tick += 1;
                let mut err = std::io::stderr().lock();
                if drawn > 0 {
                    let _ = write!(err, "\x1b[{drawn}A");
                }
                for (name, started, done) in &rows {
                    let line = match done {
                        None => format!(
                            "{} {name:<8} {:>6.1}s",
                            frames[tick % frames.len()],
                            started.elapsed().as_secs_f64()
                        ),
                        Some(r) => format!(
                            "{} {name:<8} {:>6.1}s {}",
                            if r.status == BackendStatus::Ok {
                                '✓'
                            } else {
                                '✗'
                            },
                            r.elapsed_ms as f64 / 1000.0,
                            status_word(&r.status)
                        ),
                    };
                    let _ = writeln!(err, "\x1b[2K{line}");
                }
                drawn = rows.len();
            }
        }
    });
    (tx, handle)
}

fn status_word(s: &BackendStatus) -> String {
    match s {
        BackendStatus::Ok => "done".into(),
        BackendStatus::Failed(why) => format!("failed: {why}"),
        BackendStatus::TimedOut => "timed out".into(),
        BackendStatus::NotApplicable(why) => format!("skipped ({why})"),
    }
}

/// Writes `rev`'s tree to a temporary directory (for `--base`).
fn materialise_rev(path: &Path, rev: &str) -> Result<tempfile::TempDir> {
    let repo = git2::Repository::open(path).map_err(|_| {
        UsageError(format!(
            "--base needs {} to be the root of a git work tree",
            path.display()
        ))
    })?;
    let object = repo
        .revparse_single(rev)
        .map_err(|e| UsageError(format!("--base {rev}: {}", e.message())))?;
    let commit = object
        .peel_to_commit()
        .map_err(|_| UsageError(format!("--base {rev} is not a commit")))?;
    let dir = tempfile::Builder::new()
        .prefix("flext-quality-base-")
        .tempdir()?;
    let mut checkout = git2::build::CheckoutBuilder::new();
    checkout.target_dir(dir.path()).force().update_index(false);
    repo.checkout_tree(commit.as_object(), Some(&mut checkout))
        .context("checking out the base")?;
    Ok(dir)
}

/// What the working directory changed against `rev`: the suppressions it added, and how it
/// moved the base's lines.
fn what_changed(
    path: &Path,
    rev: &str,
) -> Result<(Vec<crate::domain::suppression::Suppression>, DiffMap)> {
    let repo = git2::Repository::open(path).context("opening the repository")?;
    let tree = repo
        .revparse_single(rev)
        .and_then(|o| o.peel_to_tree())
        .map_err(|e| UsageError(format!("--base {rev}: {}", e.message())))?;
    let lines = crate::git::diff::added_lines_in_workdir(&repo, &tree)?;
    let diff = crate::git::diff::diff_map_to_workdir(&repo, &tree)?;
    Ok((crate::domain::suppression::added(&lines), diff))
}

/// Checks what the user typed — the path, `--config`, `--base`, `--sarif` — before any tool
/// runs, so a typo is reported in a second, not after the analysis.
pub fn check_options(options: &LocalOptions) -> Result<()> {
    let path = &options.path;
    match std::fs::metadata(path) {
        Err(_) => {
            return Err(UsageError(format!("{} does not exist", path.display())).into());
        }
        Ok(m) if !m.is_dir() => {
            return Err(UsageError(format!("{} is not a directory", path.display())).into());
        }
        Ok(_) => {}
    }
    load_config(options)?;
    if let Some(rev) = &options.base {
        let repo = git2::Repository::open(path).map_err(|_| {
            UsageError(format!(
                "--base needs {} to be the root of a git work tree",
                path.display()
            ))
        })?;
        repo.revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .map_err(|e| UsageError(format!("--base {rev}: {}", e.message())))?;
    }
    for file in &options.sarif {
        if !file.is_file() {
            return Err(UsageError(format!("--sarif {}: no such file", file.display())).into());
        }
    }
    Ok(())
}

/// Runs `analyze` and returns what to print and the exit code.
pub async fn analyse_local(
    engine: &Engine,
    server_gate: &GateConfig,
    options: &LocalOptions,
) -> Result<(String, u8)> {
    check_options(options)?;
    let root = options.path.canonicalize()?;
    let config = load_config(options)?;
    let gate_config = server_gate.tightened_by(&config.gate);
    let config_files: Arc<dyn ConfigFiles> = Arc::new(LocalFiles { root: root.clone() });
    let live = options.format == Format::Text && std::io::stderr().is_terminal();
    let (progress, drawer) = spawn_progress(live);
    let input = AnalysisInput {
        root: root.clone(),
        config: config.clone(),
        config_files: config_files.clone(),
    };
    let head = engine
        .analyse_with_imports(
            &input,
            Some(progress.clone()),
            import_sarif(&options.sarif, &root)?,
        )
        .await;
    let (mut suppressions, mut diff) = (None, None);
    let base: Option<TreeAnalysis> = match &options.base {
        None => None,
        Some(rev) => {
            let dir = materialise_rev(&root, rev)?;
            let (added, moved) = what_changed(&root, rev)?;
            (suppressions, diff) = (Some(added), Some(moved));
            let input = AnalysisInput {
                root: dir.path().to_path_buf(),
                config: config.clone(),
                config_files,
            };
            Some(engine.analyse(&input, Some(progress.clone())).await?)
        }
    };
    drop(progress);
    let _ = drawer.await;
    let head = head?;

    let failed = head.failed_backends();
    let judged = judgement::judge(&JudgementInput {
        head: &head.findings,
        ncloc: head.ncloc,
        base: base.as_ref().map(|b| Baseline {
            findings: &b.findings,
            ncloc: b.ncloc,
        }),
        diff: diff.as_ref(),
        scope: if base.is_some() {
            GateScope::NewFindings
        } else {
            GateScope::WholeCode
        },
        gate: &gate_config,
        backends: if head.any_backend_applied() {
            Applicability::Ran {
                failed: &failed,
                any_succeeded: crate::analysis::engine::any_ran(&head.reports),
            }
        } else {
            Applicability::NothingApplies {
                why: "no backend applies to this tree",
            }
        },
        suppressions_added: suppressions.as_ref().map(|s: &Vec<_>| s.len() as u64),
    });
    let new: Option<HashSet<String>> = base.as_ref().map(|_| {
        head.findings
            .iter()
            .zip(&judged.new)
            .filter(|(_, n)| **n)
            .map(|(f, _)| f.fingerprint.clone())
            .collect()
    });
    let (s, gate, fixed) = (judged.score, judged.gate, judged.fixed);
    let report = LocalReport {
        findings: &head.findings,
        new: new.as_ref(),
        fixed: &fixed,
        base: options.base.as_deref(),
        score: s.as_ref(),
        gate: &gate,
        backends: &head.reports,
        suppressions: suppressions.as_deref(),
        all: options.all,
        test_code: &head.test_code,
    };
    let text = match options.format {
        Format::Text => local::text(&report, std::io::stdout().is_terminal()),
        Format::Json => serde_json::to_string_pretty(&local::json(&report))?,
        Format::Sarif => serde_json::to_string_pretty(&local::sarif(&report))?,
        Format::Markdown => local::markdown(&report),
    };
    let backend_error = head
        .reports
        .iter()
        .chain(base.iter().flat_map(|b| b.reports.iter()))
        .any(|r| matches!(r.status, BackendStatus::Failed(_) | BackendStatus::TimedOut));
    let code = match gate.verdict {
        _ if backend_error => 2,
        // Nothing to analyse is not an error: there is nothing to fail.
        Verdict::Success | Verdict::Neutral => 0,
        Verdict::Failure => 1,
    };
    Ok((text, code))
}

/// The message and exit code for an error: 2 for everything `analyze` can fail with.
pub fn describe_error(e: &anyhow::Error) -> String {
    match e.downcast_ref::<UsageError>() {
        Some(u) => u.0.clone(),
        None => format!("{e:#}"),
    }
}
