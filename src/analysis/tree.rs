//! The analysed tree as files: which sources and links it has (skipping version control,
//! virtual environments and builds), its lines of code per language, the fingerprints of the
//! findings on its lines, and a private copy for tools that must write next to the sources.

use super::backends::{self, ParseOutput, TreeFacts};
use super::engine::{BackendReport, BackendStatus};
use crate::domain::finding::{Finding, RawFinding};
use crate::domain::fingerprint;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

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

/// Symbolic links under `root` (outside the skipped directories), relative, sorted.
pub fn links(root: &Path) -> Vec<String> {
    walk(root, &mut |_, kind| kind.is_symlink())
}

/// Source files under `root` whose names end with one of `extensions`, relative, sorted.
pub fn source_files(root: &Path, extensions: &[&str]) -> Vec<String> {
    walk(root, &mut |name, kind| {
        kind.is_file() && extensions.iter().any(|e| name.ends_with(e))
    })
}

/// Entries under `root` that `wanted(name, type)` picks, relative, sorted; skipped directories
/// and links are not entered.
fn walk(root: &Path, wanted: &mut dyn FnMut(&str, std::fs::FileType) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&rel)) else {
            continue;
        };
        for entry in entries.flatten() {
            // A name that is not UTF-8 cannot be named in a finding, a tool's file list or
            // the database (a lossy copy would name a file that is not there): left alone.
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let child = rel.join(&name);
            if kind.is_dir() && !SKIPPED_DIRS.contains(&name.as_str()) {
                stack.push(child.clone());
            }
            // Components are joined with `/`; a `\` is part of a name (`x\y.py` is one file,
            // not `y.py` in `x`).
            if wanted(&name, kind) {
                out.push(child.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// Python source files under `root`, relative, sorted.
pub fn python_files(root: &Path) -> Vec<String> {
    source_files(root, &[".py", ".pyi"])
}

/// Fingerprints the findings (from the lines they point at) and counts the lines of code of
/// every analysed language: Python when a Python backend applied, Rust when Clippy did, and
/// every file a finding names.
pub fn fingerprint_and_measure(
    root: &Path,
    raw: Vec<RawFinding>,
    facts: &TreeFacts,
    reports: &[(BackendReport, ParseOutput)],
) -> (Vec<Finding>, u64) {
    let applied = |names: &[&str]| {
        reports.iter().any(|(r, _)| {
            names.contains(&r.name.as_str()) && !matches!(r.status, BackendStatus::NotApplicable(_))
        })
    };
    let mut counted: BTreeSet<String> = BTreeSet::new();
    if applied(&[
        backends::ruff::NAME,
        backends::mypy::NAME,
        backends::bandit::NAME,
    ]) {
        counted.extend(facts.python_files.iter().cloned());
    }
    if applied(&[backends::clippy::NAME]) {
        counted.extend(facts.rust_files.iter().cloned());
    }
    counted.extend(raw.iter().map(|f| f.path.clone()));
    let mut contents: HashMap<String, Option<String>> = HashMap::new();
    let mut total = 0;
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let root = root.as_path();
    for f in &counted {
        let text = read_inside(root, f);
        total += text
            .as_deref()
            .map(|t| crate::domain::score::ncloc(f, t))
            .unwrap_or(0);
        contents.insert(f.clone(), text);
    }
    let findings = fingerprint::assign(raw, |path, line| {
        let text = contents
            .entry(path.to_owned())
            .or_insert_with(|| read_inside(root, path));
        text.as_deref()
            .and_then(|t| t.lines().nth(line.saturating_sub(1) as usize))
            .map(str::to_owned)
    });
    (findings, total)
}

/// A file of the tree (`root` already canonical), unless it is (or sits behind) a link out of
/// the tree.
fn read_inside(root: &Path, rel: &str) -> Option<String> {
    let full = root.join(rel);
    let real = full.canonicalize().ok()?;
    if !real.starts_with(root) {
        return None;
    }
    std::fs::read_to_string(real).ok()
}

pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// Copies a tree without following symbolic links (a link is copied as a link, so it points
/// wherever it pointed: inside the jail, at nothing of the server).
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else if kind.is_dir() {
            std::fs::create_dir(&target)?;
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
