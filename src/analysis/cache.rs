//! A result cache for per-file backends: findings keyed by (backend, tool version, effective
//! configuration, path, file content). Re-analysing a tree where one file changed re-runs the
//! tool on that file only.
//!
//! Entries are small JSON files under the cache directory, written atomically (temp file and
//! rename) so concurrent workers never read a half-written entry. A corrupt entry is a miss.

use crate::domain::finding::RawFinding;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ResultCache {
    dir: PathBuf,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ResultCache {
    pub fn new(dir: impl Into<PathBuf>) -> ResultCache {
        ResultCache { dir: dir.into() }
    }

    /// The key of one file's result. `config` is the backend's effective configuration, already
    /// serialised deterministically.
    pub fn key(backend: &str, version: &str, config: &str, path: &str, content: &[u8]) -> String {
        let mut material = Vec::with_capacity(content.len() + 256);
        for part in [backend, version, config, path] {
            material.extend_from_slice(&(part.len() as u64).to_le_bytes());
            material.extend_from_slice(part.as_bytes());
        }
        material.extend_from_slice(&sha256(content));
        hex(&sha256(&material))
    }

    fn entry(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{}.json", &key[2..]))
    }

    pub fn get(&self, key: &str) -> Option<Vec<RawFinding>> {
        let bytes = std::fs::read(self.entry(key)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Stores a result; failures only cost a future miss, so they are logged, not returned.
    pub fn put(&self, key: &str, findings: &[RawFinding]) {
        let path = self.entry(key);
        let write = || -> std::io::Result<()> {
            let parent = path.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(parent)?;
            let mut tmp = tempfile::NamedTempFile::new_in(parent)?;
            serde_json::to_writer(&mut tmp, findings)?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        };
        if let Err(e) = write() {
            tracing::debug!(error = %e, "could not write a cache entry");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::finding::{Category, Severity};

    #[test]
    fn keys_depend_on_every_input() {
        let base = ResultCache::key("ruff", "0.17.6", "{}", "a.py", b"x = 1\n");
        for other in [
            ResultCache::key("bandit", "0.17.6", "{}", "a.py", b"x = 1\n"),
            ResultCache::key("ruff", "0.17.7", "{}", "a.py", b"x = 1\n"),
            ResultCache::key("ruff", "0.17.6", "{\"select\":[\"E\"]}", "a.py", b"x = 1\n"),
            ResultCache::key("ruff", "0.17.6", "{}", "b.py", b"x = 1\n"),
            ResultCache::key("ruff", "0.17.6", "{}", "a.py", b"x = 2\n"),
            ResultCache::key("ruff", "0.17.", "6{}", "a.py", b"x = 1\n"),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn round_trip_and_corruption_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResultCache::new(dir.path());
        let key = ResultCache::key("ruff", "1", "{}", "a.py", b"");
        assert!(cache.get(&key).is_none());
        let f = RawFinding {
            backend: "ruff".into(),
            rule: "F401".into(),
            category: Category::Reliability,
            severity: Severity::Minor,
            message: "unused".into(),
            path: "a.py".into(),
            start_line: 1,
            end_line: 1,
            start_column: Some(1),
            end_column: Some(4),
            help_url: None,
            effort_minutes: 5,
        };
        cache.put(&key, std::slice::from_ref(&f));
        assert_eq!(cache.get(&key), Some(vec![f]));
        cache.put(&key, &[]);
        assert_eq!(cache.get(&key), Some(vec![]));
        std::fs::write(cache.entry(&key), b"{garbage").unwrap();
        assert!(cache.get(&key).is_none());
    }
}
