//! Clippy backend parser: `cargo clippy --message-format=json` writes one JSON object per
//! line (cargo's messages); the diagnostics are those with `reason == "compiler-message"`.
//!
//! Measured with Rust 1.95: span columns are 1-based, the end exclusive; `file_name` is
//! relative to the workspace root; with `--all-targets` the library and its unit-test build
//! report the same diagnostic twice, so identical findings are merged. Rustc's own lints and
//! errors come along (`unused_variables`, `E0425`): they are findings of this backend too.

use super::parse::{help_url, position, relative_path, ParseError, ParseOutput};
use crate::domain::finding::{default_effort_minutes, RawFinding};
use crate::domain::mapping::{clippy_default, is_error_code, is_rustc_deny_by_default};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;

pub const NAME: &str = "clippy";

#[derive(Deserialize)]
struct CargoMessage {
    reason: String,
    message: Option<Diagnostic>,
}

#[derive(Deserialize)]
struct Diagnostic {
    message: String,
    code: Option<Code>,
    level: String,
    #[serde(default)]
    spans: Vec<Span>,
    #[serde(default)]
    children: Vec<Diagnostic>,
}

#[derive(Deserialize)]
struct Code {
    code: String,
}

#[derive(Deserialize)]
struct Span {
    file_name: String,
    line_start: Option<i64>,
    line_end: Option<i64>,
    column_start: Option<i64>,
    column_end: Option<i64>,
    #[serde(default)]
    is_primary: bool,
    expansion: Option<Box<Expansion>>,
}

#[derive(Deserialize)]
struct Expansion {
    span: Span,
}

/// Parses cargo's JSON messages when cargo ran in the repository root's workspace.
pub fn parse(output: &str, repo_root: &Path) -> Result<ParseOutput, ParseError> {
    parse_in_workspace(output, repo_root, repo_root)
}

/// Parses cargo's JSON messages when the workspace (where cargo ran) is `workspace_root`, a
/// directory inside the repository; paths are still made relative to `repo_root`.
pub fn parse_in_workspace(
    output: &str,
    repo_root: &Path,
    workspace_root: &Path,
) -> Result<ParseOutput, ParseError> {
    let mut out = ParseOutput::default();
    let mut seen = HashSet::new();
    for (n, line) in output.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if !line.starts_with('{') {
            out.tool_errors.push(format!("cargo: {line}"));
            continue;
        }
        let msg: CargoMessage = serde_json::from_str(line).map_err(|e| ParseError::Json {
            tool: NAME,
            detail: format!("line {}: {e}", n + 1),
        })?;
        let Some(d) = msg.message.filter(|_| msg.reason == "compiler-message") else {
            continue;
        };
        if !(d.level == "warning" || d.level.starts_with("error")) {
            continue; // top-level notes and "failure-note" summaries
        }
        if d.message.starts_with("aborting due to") {
            continue;
        }
        let code = d.code.as_ref().map(|c| c.code.as_str());
        let Some(primary) = d.spans.iter().find(|s| s.is_primary) else {
            // Crate-level problems (a missing dependency, a linker error) have no place in the
            // code but explain why there are no other findings.
            if d.level.starts_with("error") {
                out.tool_errors
                    .push(format!("clippy: {}: {}", d.level, d.message));
            }
            continue;
        };
        let Some((path, span)) = locate(primary, repo_root, workspace_root) else {
            out.dropped.push(format!(
                "clippy {}: {}: no location inside the repository",
                code.unwrap_or(&d.level),
                primary.file_name
            ));
            continue;
        };
        let rule = match code {
            Some(c) => c.to_owned(),
            None if d.level.starts_with("error") => "compiler-error".to_owned(),
            None => "compiler-warning".to_owned(),
        };
        let (category, severity) = clippy_default(&d.level, code);
        let start_line = position(span.line_start).unwrap_or(1);
        let end_line = position(span.line_end)
            .unwrap_or(start_line)
            .max(start_line);
        let finding = RawFinding {
            backend: NAME.into(),
            help_url: rule_url(&rule, &d),
            rule,
            category,
            severity,
            message: d.message,
            path,
            start_line,
            end_line,
            start_column: position(span.column_start),
            end_column: position(span.column_end),
            effort_minutes: default_effort_minutes(severity),
        };
        let key = (
            finding.rule.clone(),
            finding.path.clone(),
            finding.start_line,
            finding.start_column,
            finding.end_line,
            finding.end_column,
            finding.message.clone(),
        );
        if seen.insert(key) {
            out.findings.push(finding);
        }
    }
    Ok(out)
}

/// The primary span, or, when it lies outside the repository (inside a macro from the
/// standard library or a dependency), the nearest macro call site that lies inside.
fn locate<'a>(primary: &'a Span, repo_root: &Path, workspace: &Path) -> Option<(String, &'a Span)> {
    let mut span = primary;
    for _ in 0..64 {
        // `<…>` names are synthetic sources (proc-macro output, command-line code).
        if !span.file_name.starts_with('<') {
            let full = workspace.join(&span.file_name);
            if let Ok(path) = relative_path(&full.to_string_lossy(), repo_root) {
                return Some((path, span));
            }
        }
        span = &span.expansion.as_ref()?.span;
    }
    None
}

fn rule_url(rule: &str, d: &Diagnostic) -> Option<String> {
    if let Some(lint) = rule.strip_prefix("clippy::") {
        // Clippy links the documentation of its own version; prefer that to `master`.
        let versioned = d.children.iter().find_map(|c| {
            c.message
                .strip_prefix("for further information visit ")
                .and_then(|u| help_url(Some(u)))
        });
        return versioned.or_else(|| {
            help_url(Some(&format!(
                "https://rust-lang.github.io/rust-clippy/master/index.html#{lint}"
            )))
        });
    }
    if is_error_code(rule) {
        return Some(format!("https://doc.rust-lang.org/error_codes/{rule}.html"));
    }
    if rule.starts_with("compiler-")
        || !rule
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
    {
        return None;
    }
    let page = if is_rustc_deny_by_default(rule) {
        "deny-by-default"
    } else {
        "warn-by-default"
    };
    Some(format!(
        "https://doc.rust-lang.org/rustc/lints/listing/{page}.html#{}",
        rule.replace('_', "-")
    ))
}

#[cfg(test)]
#[path = "clippy/tests.rs"]
mod tests;
