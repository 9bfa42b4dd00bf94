//! A result cache for per-file backends: findings keyed by (backend, tool version, effective
//! configuration, path, file content). Re-analysing a tree where one file changed re-runs the
//! tool on that file only.
//!
//! Entries are small JSON files under the cache directory, written atomically (temp file and
//! rename) so concurrent workers never read a half-written entry. A corrupt entry is a miss.
//!
//! An entry being computed is claimed in this process until its run ends, so a second analysis
//! that needs it at the same time — a pull request's base, analysed beside its head, shares
//! nearly every file with it — waits for that run instead of running the tool on the same file.

use crate::domain::finding::RawFinding;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use tokio::sync::watch;

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

/// What the cache says about an entry.
pub enum Lookup {
    Hit(Vec<RawFinding>),
    /// A miss, now claimed: the caller runs the tool on the file and stores the result.
    Claimed(Claim),
    /// A miss that another run in this process is computing now.
    InFlight(Pending),
}

/// An entry this run computes; others wait for it until it is dropped (stored or not).
pub struct Claim {
    entry: PathBuf,
    _done: watch::Sender<()>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        in_flight()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.entry);
        // `_done` is dropped next, which wakes every run waiting for this entry.
    }
}

/// An entry another run is computing.
pub struct Pending(watch::Receiver<()>);

impl Pending {
    /// Returns once the run computing the entry has ended (the entry may still be missing, if
    /// that run failed or was cancelled).
    pub async fn finished(mut self) {
        while self.0.changed().await.is_ok() {}
    }
}

/// Entries claimed in this process, by their path (which names the cache dir and the key).
fn in_flight() -> &'static Mutex<HashMap<PathBuf, watch::Receiver<()>>> {
    static CLAIMS: OnceLock<Mutex<HashMap<PathBuf, watch::Receiver<()>>>> = OnceLock::new();
    CLAIMS.get_or_init(Default::default)
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

    /// The entry, or a claim on computing it, or the run already computing it.
    pub fn lookup(&self, key: &str) -> Lookup {
        if let Some(findings) = self.get(key) {
            return Lookup::Hit(findings);
        }
        let entry = self.entry(key);
        let mut claims = in_flight().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = claims.get(&entry) {
            return Lookup::InFlight(Pending(running.clone()));
        }
        let (done, running) = watch::channel(());
        claims.insert(entry.clone(), running);
        Lookup::Claimed(Claim { entry, _done: done })
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

    #[tokio::test]
    async fn a_miss_is_computed_once_while_others_wait() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResultCache::new(dir.path());
        let key = ResultCache::key("bandit", "1", "{}", "a.py", b"x");
        let Lookup::Claimed(claim) = cache.lookup(&key) else {
            panic!("a miss nobody computes is claimed");
        };
        let Lookup::InFlight(waiting) = cache.lookup(&key) else {
            panic!("a claimed entry is in flight");
        };
        let waiter = tokio::spawn(waiting.finished());
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        assert!(!waiter.is_finished(), "it waits for the claim");
        cache.put(&key, &[]);
        drop(claim);
        waiter.await.unwrap();
        assert!(matches!(cache.lookup(&key), Lookup::Hit(f) if f.is_empty()));

        // A claim given up without a result (a failed run) lets the next one claim it.
        let other = ResultCache::key("bandit", "1", "{}", "b.py", b"y");
        let Lookup::Claimed(claim) = cache.lookup(&other) else {
            panic!("claimed");
        };
        let Lookup::InFlight(waiting) = cache.lookup(&other) else {
            panic!("in flight");
        };
        drop(claim);
        waiting.finished().await;
        assert!(matches!(cache.lookup(&other), Lookup::Claimed(_)));
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
