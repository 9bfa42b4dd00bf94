//! Runs the applicable backends over a work tree and turns their output into fingerprinted
//! findings, with a report per backend (version, time, status) and the size of the code.

use super::parse::ParseOutput;
use super::ruff;
use super::runner::{find_tool, run, RunSpec};
use crate::domain::finding::Finding;
use crate::domain::fingerprint;
use crate::domain::score::ncloc;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum BackendStatus {
    Ok,
    Failed(String),
    TimedOut,
    NotApplicable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendReport {
    pub name: String,
    pub version: Option<String>,
    pub status: BackendStatus,
    pub elapsed_ms: u64,
    pub findings: usize,
    pub dropped: Vec<String>,
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
}

/// Directories never analysed: version control, virtual environments, dependencies.
const SKIPPED_DIRS: [&str; 8] = [
    ".git",
    ".hg",
    ".venv",
    "venv",
    "node_modules",
    "__pycache__",
    ".tox",
    "target",
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

impl Engine {
    pub async fn tool_version(&self, tool: &Path) -> Option<String> {
        let spec = RunSpec {
            timeout: Duration::from_secs(30),
            ..RunSpec::new(tool, std::env::temp_dir()).arg("--version")
        };
        let out = run(&spec).await.ok()?;
        ruff::parse_version(&String::from_utf8_lossy(&out.stdout))
    }

    async fn run_ruff(&self, root: &Path) -> (BackendReport, ParseOutput) {
        let mut report = BackendReport {
            name: ruff::NAME.into(),
            version: None,
            status: BackendStatus::Ok,
            elapsed_ms: 0,
            findings: 0,
            dropped: Vec::new(),
        };
        let Some(tool) = find_tool(&self.tools_dir, "ruff") else {
            report.status = BackendStatus::Failed(format!(
                "ruff is not installed (looked in {}/venv/bin and on PATH; run `flext-quality tools install`)",
                self.tools_dir.display()
            ));
            return (report, ParseOutput::default());
        };
        report.version = self.tool_version(&tool).await;
        let mut spec = RunSpec::new(&tool, root).args(ruff::check_args());
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
        if output.truncated {
            report.status = BackendStatus::Failed("output exceeded the size cap".into());
            return (report, ParseOutput::default());
        }
        if output.exit_code != Some(0) {
            report.status = BackendStatus::Failed(format!(
                "exited with {:?}: {}",
                output.exit_code,
                output.stderr_tail()
            ));
            return (report, ParseOutput::default());
        }
        match ruff::parse(&String::from_utf8_lossy(&output.stdout), root) {
            Ok(parsed) => {
                report.findings = parsed.findings.len();
                report.dropped = parsed.dropped.clone();
                (report, parsed)
            }
            Err(e) => {
                report.status = BackendStatus::Failed(e.to_string());
                (report, ParseOutput::default())
            }
        }
    }

    /// Analyses the files under `root`.
    pub async fn analyse(&self, root: &Path) -> Result<TreeAnalysis> {
        let files = python_files(root);
        let mut reports = Vec::new();
        let mut raw = Vec::new();
        if files.is_empty() {
            reports.push(BackendReport {
                name: ruff::NAME.into(),
                version: None,
                status: BackendStatus::NotApplicable,
                elapsed_ms: 0,
                findings: 0,
                dropped: Vec::new(),
            });
        } else {
            let (report, parsed) = self.run_ruff(root).await;
            reports.push(report);
            raw.extend(parsed.findings);
        }
        let mut contents: HashMap<String, Option<String>> = HashMap::new();
        let mut total_ncloc = 0;
        for f in &files {
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
        Ok(TreeAnalysis {
            findings,
            ncloc: total_ncloc,
            reports,
        })
    }
}
