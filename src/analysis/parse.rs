//! What every backend parser returns, and the path rules all of them share.

use crate::domain::finding::RawFinding;
use std::path::{Component, Path, PathBuf};

/// Findings parsed from one tool run, plus notes on anything dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseOutput {
    pub findings: Vec<RawFinding>,
    /// One line per finding that was dropped and why (e.g. its path leaves the repository).
    pub dropped: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("{tool} output is not valid JSON: {detail}")]
    Json { tool: &'static str, detail: String },
    #[error("{tool} output has an unexpected shape: {detail}")]
    Shape { tool: &'static str, detail: String },
}

/// Turns a path reported by a tool (absolute, or relative to the repository root) into a
/// repository-relative path with `/` separators.
///
/// Refuses paths that leave the repository, lexically (`..`, another absolute root) or through
/// a symbolic link that points outside it, so a finding can never name a file elsewhere.
pub fn relative_path(tool_path: &str, repo_root: &Path) -> Result<String, String> {
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
    if let Ok(real) = root.join(&lexical_rel).canonicalize() {
        if !real.starts_with(&root) {
            return Err(format!(
                "{tool_path}: resolves through a symbolic link to outside the repository"
            ));
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
        assert!(relative_path("../etc/passwd", root).is_err());
        assert!(relative_path("/etc/passwd", root).is_err());
        std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
        let err = relative_path("escape/passwd", root).unwrap_err();
        assert!(err.contains("symbolic link"), "{err}");
    }
}
