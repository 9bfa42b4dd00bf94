//! What every backend parser returns, and the path rules all of them share.
//!
//! Parsers are pure functions of a tool's output (plus the file system, only to refuse paths
//! that escape the repository). They never panic on malformed output: the tools are
//! third-party programs run on untrusted code, so their output is untrusted input too.

use crate::domain::finding::RawFinding;
use std::path::{Component, Path, PathBuf};

/// Findings parsed from one tool run, plus notes on anything that did not become a finding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseOutput {
    pub findings: Vec<RawFinding>,
    /// One line per finding that was dropped and why (e.g. its path leaves the repository).
    pub dropped: Vec<String>,
    /// Problems the tool itself reported that are not findings: a file it could not parse, a
    /// rule that did not load. Worth showing, since they mean the analysis saw less than all.
    pub tool_errors: Vec<String>,
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

/// Helpers shared by the parsers' tests: a deterministic input mutator for the no-panic
/// property tests, and the location of the real tools.
#[cfg(test)]
pub mod testutil {
    use std::path::PathBuf;

    /// xorshift64*: deterministic, so a failing iteration can be reproduced from its number.
    pub struct XorShift(u64);

    impl XorShift {
        pub fn new(seed: u64) -> Self {
            XorShift(seed.max(1))
        }
        pub fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        pub fn below(&mut self, n: usize) -> usize {
            if n == 0 {
                0
            } else {
                (self.next_u64() % n as u64) as usize
            }
        }
    }

    /// Bytes that matter to JSON and TOML parsers, so mutations reach deep code paths.
    const INTERESTING: &[u8] = b"{}[]\",:0123456789-.eE \n\\/=#'tfnul";

    /// One mutated variant of `sample`: truncated, bytes flipped, inserted, duplicated or
    /// replaced with random ones; or pure random bytes. Always valid UTF-8 (lossy).
    pub fn mutate(rng: &mut XorShift, sample: &str) -> String {
        let mut bytes = sample.as_bytes().to_vec();
        match rng.below(6) {
            0 => bytes.truncate(rng.below(bytes.len() + 1)),
            1 => {
                return String::from_utf8_lossy(
                    &(0..rng.below(200))
                        .map(|_| rng.next_u64() as u8)
                        .collect::<Vec<u8>>(),
                )
                .into_owned()
            }
            2 if !bytes.is_empty() => {
                // Copy a slice somewhere else: duplicates keys, nests brackets.
                let a = rng.below(bytes.len());
                let b = a + rng.below(bytes.len() - a);
                let chunk = bytes[a..b].to_vec();
                let at = rng.below(bytes.len());
                bytes.splice(at..at, chunk);
            }
            _ => {
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(bytes.len() + 1);
                    let c = INTERESTING[rng.below(INTERESTING.len())];
                    if at < bytes.len() && rng.below(2) == 0 {
                        bytes[at] = c;
                    } else {
                        bytes.insert(at, c);
                    }
                }
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Runs `f` on thousands of mutations of the samples; a panic fails the test with the
    /// iteration number and input.
    pub fn no_panic(samples: &[&str], iterations: usize, f: impl Fn(&str)) {
        let mut rng = XorShift::new(0x5eed_f1e7);
        for i in 0..iterations {
            let sample = samples[i % samples.len()];
            let input = mutate(&mut rng, sample);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&input)));
            assert!(r.is_ok(), "iteration {i} panicked on input {input:?}");
        }
    }

    /// The real tool, found as the engine finds it: `FLEXT_QUALITY_TOOLS_DIR` (default
    /// `.data/tools` in the crate) `/venv/bin`, then PATH. Missing tools fail the test: the test
    /// script installs them, so absence is a setup bug, not a reason to skip.
    pub fn tool(name: &str) -> PathBuf {
        let dir = std::env::var("FLEXT_QUALITY_TOOLS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".data/tools"));
        crate::analysis::runner::find_tool(&dir, name).unwrap_or_else(|| {
            panic!(
                "{name} is not installed in {}/venv/bin or on PATH: run scripts/test.sh (it installs the pinned tools)",
                dir.display()
            )
        })
    }

    /// Writes `files` into a fresh temporary directory and returns it.
    pub fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }
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
