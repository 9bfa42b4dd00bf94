//! One interface for every analysis tool: what it is called, when it applies, how it is run,
//! what its output means. Each tool is one module; the engine knows them only through
//! [`Backend`].
//!
//! Adding a tool: write `backends/<tool>.rs` with a type that implements [`Backend`], and add
//! it to [`builtin`]. Its options in `.flext-quality.toml` (`[backends.<tool>]`), its default
//! severity mapping and its exit-status rules all live in that one file.

pub mod bandit;
pub mod builder;
pub mod clippy;
pub mod mypy;
pub mod mypy_config;
pub mod ruff;
pub mod sarif;
pub mod semgrep;
#[cfg(test)]
pub mod testutil;

pub use builder::{
    help_url, position, relative_path, Draft, FindingBuilder, ParseError, ParseOutput,
};

use crate::analysis::repo_config::{ConfigError, OptionsTable};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What the engine learned about a tree before running anything.
#[derive(Debug, Clone, Default)]
pub struct TreeFacts {
    /// Python files, relative, sorted, after the config's excludes.
    pub python_files: Vec<String>,
    /// Rust files, relative, sorted, after the config's excludes.
    pub rust_files: Vec<String>,
    /// Symbolic links in the tree, relative, sorted. In the jail they lead nowhere outside the
    /// tree; tools that discover files themselves are told to leave them alone.
    pub links: Vec<String>,
    pub has_cargo_toml: bool,
    /// The digest of each Python file's content and executable bit, read once for every
    /// per-file backend's result cache; empty when there is no cache.
    pub python_digests: std::collections::HashMap<String, [u8; 32]>,
}

/// Files of the commit the configuration comes from: for a pull request its base, never its
/// head, so a pull request cannot change the rules it is judged by.
pub trait ConfigFiles: Send + Sync {
    /// The bytes of a file, `Ok(None)` when there is none. A symbolic link is an error.
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, String>;
    /// The files at or under `path` (a file, or a directory walked recursively), relative to
    /// the repository root. Missing paths and symbolic links are errors.
    fn list(&self, path: &str) -> Result<Vec<String>, String>;
}

/// A run's own directories, removed afterwards.
pub struct Scratch {
    /// Writable: the tool's HOME, caches, build output.
    pub home: PathBuf,
    /// Read-only for the tool: configuration flext-quality wrote for it.
    pub config: PathBuf,
    /// Writable: a copy of the tree, for tools that must write next to the sources.
    pub work: PathBuf,
    _dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> std::io::Result<Scratch> {
        let dir = tempfile::Builder::new()
            .prefix("flext-quality-scratch-")
            .tempdir()?;
        let path = |name: &str| -> std::io::Result<PathBuf> {
            let p = dir.path().join(name);
            std::fs::create_dir(&p)?;
            Ok(p)
        };
        Ok(Scratch {
            home: path("home")?,
            config: path("config")?,
            work: path("work")?,
            _dir: dir,
        })
    }
}

/// Everything a backend needs to build its command line.
pub struct Prepare<'a> {
    /// The tree as the tool sees it (the work tree, or its writable copy).
    pub root: &'a Path,
    /// The files to analyse: every relevant file, or for per-file backends those the cache
    /// could not answer.
    pub files: &'a [String],
    pub facts: &'a TreeFacts,
    /// This backend's options from the repository config.
    pub options: &'a Value,
    pub scratch: &'a Scratch,
    pub config_files: &'a dyn ConfigFiles,
    /// A cache directory kept between runs, writable by the tool: only for trusted code.
    pub tool_cache: Option<&'a Path>,
    /// The cores this run was given: a [`Parallelism::Threads`] tool is told to use that many.
    pub cores: usize,
}

/// How to run the tool: arguments after the program, and extra environment (never secrets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// What the report should say about how the tool was configured.
    pub notes: Vec<String>,
}

/// What a run produced, for the parser.
pub struct ToolRun<'a> {
    pub exit_code: Option<i32>,
    pub stdout: &'a str,
    pub stderr_tail: &'a str,
    /// The tree the tool ran in (paths in its output are relative to it).
    pub root: &'a Path,
    pub scratch: &'a Scratch,
    /// Findings kept at most; the rest are counted in [`ParseOutput::over_limit`].
    pub max_findings: usize,
}

impl ToolRun<'_> {
    /// "exited with 2: <the end of stderr>", for failures.
    pub fn exit_failure(&self) -> String {
        let code = self
            .exit_code
            .map(|c| c.to_string())
            .unwrap_or_else(|| "a signal".into());
        if self.stderr_tail.is_empty() {
            format!("exited with {code}")
        } else {
            format!("exited with {code}: {}", self.stderr_tail)
        }
    }
}

/// Whether results can be cached per file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// The tool judges the tree as a whole (types across modules, a crate).
    Tree,
    /// The tool judges each file on its own, so its result per file can be cached.
    PerFile,
}

/// How a tool uses the machine's cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parallelism {
    /// One process on one core. A [`Granularity::PerFile`] tool is then run as several
    /// processes at once, each on a slice of the files (Bandit).
    SingleCore,
    /// The tool spreads its work over the cores itself (Ruff's threads); it is given as many
    /// as are free ([`Prepare::cores`]) and told to use that many.
    Threads,
}

/// A tool flext-quality runs.
pub trait Backend: Send + Sync {
    /// The name findings carry and config tables use (`ruff`).
    fn name(&self) -> &str;
    /// The program to look up in the toolchain (`ruff`, `cargo`).
    fn program(&self) -> &str;
    /// Arguments that make the program print its version on the first line.
    fn version_args(&self) -> Vec<String> {
        vec!["--version".into()]
    }
    /// Environment every run of the program needs, the version probe included.
    fn base_env(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// The default severity mapping, in words (for the README and summaries).
    fn default_mapping(&self) -> &'static str;
    /// Reads and validates `[backends.<name>]`; `None` gives the defaults. The value is what
    /// [`Backend::prepare`] receives as options and what cache keys include.
    fn options(&self, table: Option<OptionsTable<'_>>) -> Result<Value, ConfigError>;
    /// `Err(why)` when the backend has nothing to do on this tree.
    fn applies(&self, facts: &TreeFacts, options: &Value) -> Result<(), String>;
    fn granularity(&self) -> Granularity {
        Granularity::Tree
    }
    fn parallelism(&self) -> Parallelism {
        Parallelism::SingleCore
    }
    /// True when the tool must write inside the tree (cargo writes `Cargo.lock`): it then
    /// runs in a private copy, so nothing it writes reaches the other tools.
    fn writes_in_tree(&self) -> bool {
        false
    }
    /// The command line for one run. `Err` fails the backend with that reason.
    fn prepare(&self, p: &Prepare<'_>) -> Result<Invocation, String>;
    /// Reads a run's output. `Err` fails the backend with the tool's own message: a crash, a
    /// blocking error, output that is not what the tool promises.
    fn parse(&self, run: &ToolRun<'_>) -> Result<ParseOutput, String>;
}

/// The built-in backends, in the order reports list them.
pub fn builtin() -> &'static [&'static dyn Backend] {
    &[
        &ruff::Ruff,
        &mypy::Mypy,
        &bandit::Bandit,
        &semgrep::Semgrep,
        &clippy::Clippy,
    ]
}

/// A built-in backend by name.
pub fn find(name: &str) -> Option<&'static dyn Backend> {
    builtin().iter().copied().find(|b| b.name() == name)
}

/// Deserialises a backend's options value (as written by its own [`Backend::options`]).
pub fn typed_options<T: serde::de::DeserializeOwned + Default>(value: &Value) -> T {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

/// The configuration files of a local checkout (for `analyze`, where the user runs their own
/// code): the tree itself, without following symbolic links.
pub struct LocalFiles {
    pub root: PathBuf,
}

impl ConfigFiles for LocalFiles {
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        let full = self.root.join(path);
        match std::fs::symlink_metadata(&full) {
            Err(_) => Ok(None),
            Ok(m) if m.file_type().is_symlink() => Err(format!("`{path}` is a symbolic link")),
            Ok(m) if m.is_file() => std::fs::read(&full)
                .map(Some)
                .map_err(|e| format!("`{path}`: {e}")),
            Ok(_) => Ok(None),
        }
    }

    fn list(&self, path: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        let mut stack = vec![path.trim_end_matches('/').to_owned()];
        while let Some(rel) = stack.pop() {
            let full = self.root.join(&rel);
            let meta =
                std::fs::symlink_metadata(&full).map_err(|_| format!("`{rel}` does not exist"))?;
            if meta.file_type().is_symlink() {
                return Err(format!("`{rel}` is a symbolic link"));
            }
            if meta.is_file() {
                out.push(rel);
            } else if meta.is_dir() {
                let entries = std::fs::read_dir(&full).map_err(|e| format!("`{rel}`: {e}"))?;
                for e in entries.flatten() {
                    stack.push(format!("{rel}/{}", e.file_name().to_string_lossy()));
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Writes the files of `paths` (files or directories of the config commit) under `dest`,
/// keeping their relative paths. Symbolic links anywhere are refused.
pub fn copy_config_files(
    files: &dyn ConfigFiles,
    paths: &[String],
    dest: &Path,
) -> Result<(), String> {
    for path in paths {
        for file in files.list(path)? {
            let bytes = files
                .read(&file)?
                .ok_or_else(|| format!("`{file}` vanished"))?;
            if file.split('/').any(|s| s == ".." || s.is_empty()) || file.starts_with('/') {
                return Err(format!(
                    "`{file}` is not a plain path inside the repository"
                ));
            }
            let target = dest.join(&file);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            std::fs::write(&target, bytes).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
