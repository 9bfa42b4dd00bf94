//! The finding builder every backend parser uses, and the path rules all of them share.
//!
//! Parsers are pure functions of a tool's output (plus the file system, only to refuse paths
//! that escape the repository). They never panic on malformed output: the tools are
//! third-party programs run on untrusted code, so their output is untrusted input too.

use crate::domain::finding::{default_effort_minutes, Category, RawFinding, Severity};
use std::path::{Component, Path, PathBuf};

/// Findings parsed from one tool run, plus notes on anything that did not become a finding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseOutput {
    pub findings: Vec<RawFinding>,
    /// One line per finding that was dropped and why (e.g. its path leaves the repository).
    pub dropped: Vec<String>,
    /// Problems the tool itself reported that did not stop it: a rule that did not load, a
    /// warning about one file. Worth showing, since they mean the analysis saw less than all.
    pub tool_errors: Vec<String>,
    /// Findings past the per-backend limit, counted but not kept.
    pub over_limit: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("{tool} output is not valid JSON: {detail}")]
    Json { tool: &'static str, detail: String },
    #[error("{tool} output has an unexpected shape: {detail}")]
    Shape { tool: &'static str, detail: String },
}

/// A finding as a parser reads it from a tool: positions as the tool gave them (1-based,
/// possibly absent or nonsense), the path as the tool wrote it.
#[derive(Debug, Clone)]
pub struct Draft {
    pub rule: String,
    pub category: Category,
    pub severity: Severity,
    pub message: String,
    /// Absolute, or relative to the repository root.
    pub path: String,
    pub start_line: Option<i64>,
    pub end_line: Option<i64>,
    pub start_column: Option<i64>,
    pub end_column: Option<i64>,
    pub help_url: Option<String>,
}

/// Builds [`RawFinding`]s from [`Draft`]s: paths made repository-relative (or the finding
/// dropped, with the reason), positions made sane, effort from the severity, and at most
/// `limit` findings kept (the rest counted).
pub struct FindingBuilder<'a> {
    backend: &'a str,
    root: &'a Path,
    limit: usize,
    out: ParseOutput,
}

impl<'a> FindingBuilder<'a> {
    pub fn new(backend: &'a str, root: &'a Path, limit: usize) -> Self {
        FindingBuilder {
            backend,
            root,
            limit,
            out: ParseOutput::default(),
        }
    }

    /// Adds a finding; returns false when it was dropped or is over the limit.
    pub fn push(&mut self, d: Draft) -> bool {
        let path = match relative_path(&d.path, self.root) {
            Ok(p) => p,
            Err(why) => {
                self.out
                    .dropped
                    .push(format!("{} {}: {why}", self.backend, d.rule));
                return false;
            }
        };
        if self.out.findings.len() >= self.limit {
            self.out.over_limit += 1;
            return false;
        }
        let start_line = position(d.start_line).unwrap_or(1);
        let end_line = position(d.end_line).unwrap_or(start_line).max(start_line);
        self.out.findings.push(RawFinding {
            backend: self.backend.to_owned(),
            rule: d.rule,
            category: d.category,
            severity: d.severity,
            message: d.message,
            path,
            start_line,
            end_line,
            start_column: position(d.start_column),
            end_column: position(d.end_column),
            help_url: d.help_url,
            effort_minutes: default_effort_minutes(d.severity),
        });
        true
    }

    /// Notes a problem the tool reported that is not a finding.
    pub fn tool_error(&mut self, message: impl Into<String>) {
        self.out.tool_errors.push(message.into());
    }

    /// Notes a finding that could not be placed in the repository.
    pub fn dropped(&mut self, why: impl Into<String>) {
        self.out.dropped.push(why.into());
    }

    /// How many findings are kept so far.
    pub fn len(&self) -> usize {
        self.out.findings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.out.findings.is_empty()
    }

    /// The last finding kept (to merge duplicates or amend it).
    pub fn last_mut(&mut self) -> Option<&mut RawFinding> {
        self.out.findings.last_mut()
    }

    pub fn finish(self) -> ParseOutput {
        self.out
    }
}

/// Turns a path reported by a tool (absolute, or relative to the repository root) into a
/// repository-relative path with `/` separators.
///
/// Refuses paths that leave the repository, lexically (`..`, another absolute root) or through
/// a symbolic link that points outside it, so a finding can never name a file elsewhere. The
/// link check also covers files that do not exist (any more): the deepest existing ancestor
/// is resolved instead.
pub fn relative_path(tool_path: &str, repo_root: &Path) -> Result<String, String> {
    if tool_path.is_empty() {
        return Err("empty path".to_owned());
    }
    let p = Path::new(tool_path);
    let joined: PathBuf = if p.is_absolute() {
        p.to_path_buf()
    } else {
        repo_root.join(p)
    };
    let root = repo_root
        .canonicalize()
        .map_err(|e| format!("repository root unreadable: {e}"))?;
    // Lexical check first: works for files that no longer exist.
    let mut normal = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                if !normal.pop() {
                    return Err(format!("{tool_path}: leaves the repository"));
                }
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    let lexical_rel = normal
        .strip_prefix(repo_root)
        .or_else(|_| normal.strip_prefix(&root))
        .map_err(|_| format!("{tool_path}: outside the repository"))?
        .to_path_buf();
    // Then through the file system: a symlink inside the tree may point out of it.
    let mut probe = root.join(&lexical_rel);
    loop {
        if let Ok(real) = probe.canonicalize() {
            if !real.starts_with(&root) {
                return Err(format!(
                    "{tool_path}: resolves through a symbolic link to outside the repository"
                ));
            }
            break;
        }
        if !probe.pop() || !probe.starts_with(&root) {
            break;
        }
    }
    let parts: Vec<String> = lexical_rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.is_empty() {
        return Err(format!(
            "{tool_path}: names the repository root, not a file"
        ));
    }
    Ok(parts.join("/"))
}

/// A tool's line or column number (1-based) as `u32`; absent, zero, negative or absurd
/// values become `None` rather than a wrong location.
pub fn position(v: Option<i64>) -> Option<u32> {
    v.filter(|v| *v >= 1).and_then(|v| u32::try_from(v).ok())
}

/// Keeps a tool-provided URL only when it is one a browser can open safely from a check run.
pub fn help_url(url: Option<&str>) -> Option<String> {
    let url = url?.trim();
    (url.starts_with("https://") || url.starts_with("http://"))
        .then(|| url.to_owned())
        .filter(|u| u.len() <= 2048 && !u.chars().any(char::is_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_inside_are_made_relative_and_outside_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("pkg")).unwrap();
        std::fs::write(root.join("pkg/a.py"), "x").unwrap();
        let abs = root.join("pkg/a.py");
        assert_eq!(
            relative_path(abs.to_str().unwrap(), root).unwrap(),
            "pkg/a.py"
        );
        assert_eq!(relative_path("pkg/a.py", root).unwrap(), "pkg/a.py");
        assert_eq!(
            relative_path("./pkg/../pkg/a.py", root).unwrap(),
            "pkg/a.py"
        );
        assert_eq!(relative_path("pkg/gone.py", root).unwrap(), "pkg/gone.py");
        assert!(relative_path("../etc/passwd", root).is_err());
        assert!(relative_path("pkg/../../x", root).is_err());
        assert!(relative_path("/etc/passwd", root).is_err());
        assert!(relative_path("", root).is_err());
        assert!(relative_path(".", root).is_err());
        std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
        let err = relative_path("escape/passwd", root).unwrap_err();
        assert!(err.contains("symbolic link"), "{err}");
        // A file that does not exist behind the link is refused too.
        let err = relative_path("escape/no-such-file", root).unwrap_err();
        assert!(err.contains("symbolic link"), "{err}");
        // A link that stays inside is fine and keeps the name the tool used.
        std::os::unix::fs::symlink(root.join("pkg"), root.join("alias")).unwrap();
        assert_eq!(relative_path("alias/a.py", root).unwrap(), "alias/a.py");
    }

    #[test]
    fn canonical_and_non_canonical_roots_agree() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir_all(real.join("src")).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        let via_link = dir.path().join("link");
        let canonical_file = real.canonicalize().unwrap().join("src/x.rs");
        let p = canonical_file.to_str().unwrap();
        assert_eq!(relative_path(p, &via_link).unwrap(), "src/x.rs");
        assert_eq!(relative_path("src/x.rs", &via_link).unwrap(), "src/x.rs");
    }
}
