//! A tool's version, asked once per installed program: `tool --version` in the jail costs as
//! much as analysing a file (Bandit imports all of itself to print it), so the answer is kept in
//! memory for the process and, beside the result cache, on disk for the next process.
//!
//! The on-disk answer is keyed by the program's identity on disk (its resolved path, inode,
//! size, and modification and change times): installing another version replaces the file, so
//! the key changes with it. Only flext-quality writes there; no tool sees the directory.

use super::Engine;
use crate::analysis::backends::Backend;
use crate::analysis::jail::RunSpec;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

impl Engine {
    /// `tool --version` of `program`: from memory, from disk, or asked in the jail.
    pub(super) async fn tool_version(
        &self,
        backend: &dyn Backend,
        program: &Path,
    ) -> Option<String> {
        static VERSIONS: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
        let versions = VERSIONS.get_or_init(Default::default);
        if let Some(v) = versions.lock().ok()?.get(program) {
            return Some(v.clone());
        }
        let stored = self
            .result_cache
            .as_deref()
            .and_then(|dir| Some(dir.join("versions").join(identity(program)?)));
        let known = stored
            .as_deref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .filter(|v| is_version(v));
        let version = match known {
            Some(v) => v,
            None => {
                let v = self.ask_version(backend, program).await?;
                if let Some(path) = &stored {
                    store(path, &v);
                }
                v
            }
        };
        versions
            .lock()
            .ok()?
            .insert(program.to_path_buf(), version.clone());
        Some(version)
    }

    async fn ask_version(&self, backend: &dyn Backend, program: &Path) -> Option<String> {
        let empty = tempfile::tempdir().ok()?;
        let mut spec = RunSpec::new(program, empty.path());
        spec.args = backend.version_args().into_iter().map(Into::into).collect();
        spec.env = backend.base_env();
        spec.timeout = Duration::from_secs(60);
        let out = self.jail.run(&spec).await.ok()?;
        version_in(&String::from_utf8_lossy(&out.stdout))
    }
}

/// The first word of the first line that looks like a version (`ruff 0.6.9` → `0.6.9`).
fn version_in(text: &str) -> Option<String> {
    text.lines()
        .next()?
        .split_whitespace()
        .find(|w| is_version(w))
        .map(str::to_owned)
}

fn is_version(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_digit())
        && word.contains('.')
        && word.len() <= 64
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
}

/// A name for the program as installed now; `None` when it cannot be read.
fn identity(program: &Path) -> Option<String> {
    let resolved = program.canonicalize().ok()?;
    let m = std::fs::metadata(&resolved).ok()?;
    let material = format!(
        "{}\0{}\0{}\0{}.{}\0{}.{}",
        resolved.display(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    );
    Some(crate::domain::fingerprint::digest_hex(material.as_bytes()))
}

/// Writes the answer atomically; failing only costs asking again next time.
fn store(path: &Path, version: &str) {
    let write = || -> std::io::Result<()> {
        let parent = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)?;
        let mut tmp = tempfile::NamedTempFile::new_in(parent)?;
        std::io::Write::write_all(&mut tmp, version.as_bytes())?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    };
    if let Err(e) = write() {
        tracing::debug!(error = %e, "could not keep a tool's version");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_the_first_line() {
        for (text, want) in [
            ("ruff 0.6.9\n", Some("0.6.9")),
            ("bandit 1.7.10\n  python version = 3.11\n", Some("1.7.10")),
            ("mypy 1.11.2 (compiled: yes)\n", Some("1.11.2")),
            ("clippy 0.1.82 (f6e511e 2024-10-15)\n", Some("0.1.82")),
            ("no version here\n1.2.3\n", None),
            ("", None),
            ("tool 1.2/../../x\n", None),
        ] {
            assert_eq!(version_in(text).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn a_replaced_program_has_another_identity() {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("tool");
        std::fs::write(&program, "#!/bin/sh\necho tool 1.0\n").unwrap();
        let first = identity(&program).unwrap();
        assert_eq!(identity(&program).unwrap(), first, "stable while unchanged");
        // What an upgrade does: a new file put in the old one's place.
        let next = dir.path().join("tool.new");
        std::fs::write(&next, "#!/bin/sh\necho tool 2.0\n").unwrap();
        std::fs::rename(&next, &program).unwrap();
        assert_ne!(identity(&program).unwrap(), first);
        assert_eq!(identity(&dir.path().join("missing")), None);
    }
}
