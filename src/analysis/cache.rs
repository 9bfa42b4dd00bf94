//! A result cache for per-file backends: findings keyed by (backend, tool version, effective
//! configuration, path, file content). Re-analysing a tree where one file changed re-runs the
//! tool on that file only.
//!
//! Entries live in one SQLite file under the cache directory (`results.sqlite`, WAL, so
//! concurrent workers and processes read while another writes), read for a whole tree in a few
//! statements and written per tool run in one transaction. One small file per entry, as before,
//! cost about a millisecond of the file system's time each: a second of every cold analysis of a
//! 2,000-file tree. A corrupt entry is a miss; a cache that cannot be opened is no cache.
//!
//! An entry being computed is claimed in this process until its run ends, so a second analysis
//! that needs it at the same time — a pull request's base, analysed beside its head, shares
//! nearly every file with it — waits for that run instead of running the tool on the same file.

use crate::domain::finding::RawFinding;
use crate::domain::fingerprint::hex;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::watch;

/// The cache's file in its directory.
const FILE: &str = "results.sqlite";

/// Keys read per statement (SQLite's limit on parameters is far above).
const KEYS_PER_READ: usize = 500;

#[derive(Debug, Clone)]
pub struct ResultCache {
    dir: PathBuf,
    /// `None` when the cache could not be opened: every lookup misses, nothing is kept.
    db: Option<SqlitePool>,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// What the cache says about an entry it does not hold.
pub enum Lookup {
    /// Now claimed: the caller runs the tool on the file and stores the result.
    Claimed(Claim),
    /// Another run in this process is computing it now.
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

/// Entries claimed in this process, by the cache dir joined with the key.
fn in_flight() -> &'static Mutex<HashMap<PathBuf, watch::Receiver<()>>> {
    static CLAIMS: OnceLock<Mutex<HashMap<PathBuf, watch::Receiver<()>>>> = OnceLock::new();
    CLAIMS.get_or_init(Default::default)
}

async fn connect(dir: &Path) -> Result<SqlitePool, sqlx::Error> {
    std::fs::create_dir_all(dir)?;
    let options = SqliteConnectOptions::new()
        .filename(dir.join(FILE))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // A cache: an entry lost to a power cut is a miss, not a wrong answer.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10));
    let db = SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, findings TEXT NOT NULL)",
    )
    .execute(&db)
    .await?;
    Ok(db)
}

impl ResultCache {
    /// The cache in `dir`. A damaged file is set aside and a new one made; a cache that still
    /// cannot be opened only costs the tool runs it would have saved.
    pub async fn open(dir: impl Into<PathBuf>) -> ResultCache {
        let dir = dir.into();
        let db = match connect(&dir).await {
            Ok(db) => Some(db),
            Err(first) => {
                tracing::warn!(error = %first, dir = %dir.display(), "the result cache is unreadable; starting a new one");
                let _ = std::fs::rename(dir.join(FILE), dir.join(format!("{FILE}.damaged")));
                for suffix in ["-wal", "-shm"] {
                    let _ = std::fs::remove_file(dir.join(format!("{FILE}{suffix}")));
                }
                connect(&dir)
                    .await
                    .map_err(|e| tracing::warn!(error = %e, "no result cache"))
                    .ok()
            }
        };
        ResultCache { dir, db }
    }

    /// What a key hashes of a file's content.
    pub fn digest(content: &[u8]) -> [u8; 32] {
        sha256(content)
    }

    /// The key of one file's result, from its content's [`ResultCache::digest`]. `config` is
    /// the backend's effective configuration, already serialised deterministically.
    pub fn key(
        backend: &str,
        version: &str,
        config: &str,
        path: &str,
        digest: &[u8; 32],
    ) -> String {
        let mut material = Vec::with_capacity(256);
        for part in [backend, version, config, path] {
            material.extend_from_slice(&(part.len() as u64).to_le_bytes());
            material.extend_from_slice(part.as_bytes());
        }
        material.extend_from_slice(digest);
        hex(&sha256(&material))
    }

    /// The stored results among `keys`; keys missing or unreadable are left out.
    pub async fn get_many(&self, keys: &[&str]) -> HashMap<String, Vec<RawFinding>> {
        let mut found = HashMap::new();
        let Some(db) = &self.db else {
            return found;
        };
        for chunk in keys.chunks(KEYS_PER_READ) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!("SELECT key, findings FROM entries WHERE key IN ({marks})");
            let mut query = sqlx::query_as::<_, (String, String)>(&sql);
            for key in chunk {
                query = query.bind(*key);
            }
            match query.fetch_all(db).await {
                Ok(rows) => {
                    found.extend(rows.into_iter().filter_map(|(key, text)| {
                        serde_json::from_str(&text).ok().map(|f| (key, f))
                    }))
                }
                Err(e) => tracing::debug!(error = %e, "could not read the result cache"),
            }
        }
        found
    }

    pub async fn get(&self, key: &str) -> Option<Vec<RawFinding>> {
        self.get_many(&[key]).await.remove(key)
    }

    /// A claim on computing an entry the cache does not hold, or the run already computing it.
    pub fn claim(&self, key: &str) -> Lookup {
        let entry = self.dir.join(key);
        let mut claims = in_flight().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = claims.get(&entry) {
            return Lookup::InFlight(Pending(running.clone()));
        }
        let (done, running) = watch::channel(());
        claims.insert(entry.clone(), running);
        Lookup::Claimed(Claim { entry, _done: done })
    }

    /// Stores results in one transaction; failures only cost future misses, so they are logged,
    /// not returned.
    pub async fn put_many(&self, entries: &[(&str, &[RawFinding])]) {
        let Some(db) = &self.db else {
            return;
        };
        let write = async {
            let mut tx = db.begin().await?;
            for (key, findings) in entries {
                let text =
                    serde_json::to_string(findings).map_err(|e| sqlx::Error::Decode(e.into()))?;
                sqlx::query("INSERT OR REPLACE INTO entries (key, findings) VALUES (?, ?)")
                    .bind(*key)
                    .bind(text)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        };
        if let Err(e) = write.await {
            tracing::debug!(error = %e, "could not write the result cache");
        }
    }

    /// Closes the cache's connections (each analysis opens its own).
    pub async fn close(&self) {
        if let Some(db) = &self.db {
            db.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::finding::{Category, Severity};

    #[test]
    fn keys_depend_on_every_input() {
        let base = ResultCache::key(
            "ruff",
            "0.17.6",
            "{}",
            "a.py",
            &ResultCache::digest(b"x = 1\n"),
        );
        for other in [
            ResultCache::key(
                "bandit",
                "0.17.6",
                "{}",
                "a.py",
                &ResultCache::digest(b"x = 1\n"),
            ),
            ResultCache::key(
                "ruff",
                "0.17.7",
                "{}",
                "a.py",
                &ResultCache::digest(b"x = 1\n"),
            ),
            ResultCache::key(
                "ruff",
                "0.17.6",
                "{\"select\":[\"E\"]}",
                "a.py",
                &ResultCache::digest(b"x = 1\n"),
            ),
            ResultCache::key(
                "ruff",
                "0.17.6",
                "{}",
                "b.py",
                &ResultCache::digest(b"x = 1\n"),
            ),
            ResultCache::key(
                "ruff",
                "0.17.6",
                "{}",
                "a.py",
                &ResultCache::digest(b"x = 2\n"),
            ),
            ResultCache::key(
                "ruff",
                "0.17.",
                "6{}",
                "a.py",
                &ResultCache::digest(b"x = 1\n"),
            ),
        ] {
            assert_ne!(base, other);
        }
    }

    #[tokio::test]
    async fn a_miss_is_computed_once_while_others_wait() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResultCache::open(dir.path()).await;
        let key = ResultCache::key("bandit", "1", "{}", "a.py", &ResultCache::digest(b"x"));
        assert!(cache.get(&key).await.is_none());
        let Lookup::Claimed(claim) = cache.claim(&key) else {
            panic!("a miss nobody computes is claimed");
        };
        let Lookup::InFlight(waiting) = cache.claim(&key) else {
            panic!("a claimed entry is in flight");
        };
        let waiter = tokio::spawn(waiting.finished());
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        assert!(!waiter.is_finished(), "it waits for the claim");
        cache.put_many(&[(&key, &[])]).await;
        drop(claim);
        waiter.await.unwrap();
        assert_eq!(cache.get(&key).await, Some(vec![]));

        // A claim given up without a result (a failed run) lets the next one claim it.
        let other = ResultCache::key("bandit", "1", "{}", "b.py", &ResultCache::digest(b"y"));
        let Lookup::Claimed(claim) = cache.claim(&other) else {
            panic!("claimed");
        };
        let Lookup::InFlight(waiting) = cache.claim(&other) else {
            panic!("in flight");
        };
        drop(claim);
        waiting.finished().await;
        assert!(cache.get(&other).await.is_none());
        assert!(matches!(cache.claim(&other), Lookup::Claimed(_)));
    }

    #[tokio::test]
    async fn round_trip_and_corruption_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ResultCache::open(dir.path()).await;
        let key = ResultCache::key("ruff", "1", "{}", "a.py", &ResultCache::digest(b""));
        assert!(cache.get(&key).await.is_none());
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
        cache.put_many(&[(&key, std::slice::from_ref(&f))]).await;
        assert_eq!(cache.get(&key).await, Some(vec![f.clone()]));
        cache.put_many(&[(&key, &[])]).await;
        assert_eq!(cache.get(&key).await, Some(vec![]));

        // Many at once, as a tool run over a slice writes them and a tree reads them.
        let keys: Vec<String> = (0..1200)
            .map(|i| {
                ResultCache::key(
                    "ruff",
                    "1",
                    "{}",
                    &format!("m{i}.py"),
                    &ResultCache::digest(b""),
                )
            })
            .collect();
        let one = std::slice::from_ref(&f);
        let entries: Vec<(&str, &[RawFinding])> = keys.iter().map(|k| (k.as_str(), one)).collect();
        cache.put_many(&entries).await;
        let wanted: Vec<&str> = keys
            .iter()
            .map(String::as_str)
            .chain([key.as_str()])
            .collect();
        let found = cache.get_many(&wanted).await;
        assert_eq!(found.len(), 1201);
        assert_eq!(found[&keys[1199]], vec![f.clone()]);

        // An entry that does not parse is a miss; the others are still read.
        sqlx::query("UPDATE entries SET findings = '{garbage' WHERE key = ?")
            .bind(&key)
            .execute(cache.db.as_ref().unwrap())
            .await
            .unwrap();
        assert!(cache.get(&key).await.is_none());
        assert_eq!(cache.get(&keys[0]).await, Some(vec![f.clone()]));
        // Valid JSON of the wrong shape is a miss too.
        sqlx::query("UPDATE entries SET findings = '{\"not\": \"findings\"}' WHERE key = ?")
            .bind(&key)
            .execute(cache.db.as_ref().unwrap())
            .await
            .unwrap();
        let found = cache.get_many(&wanted).await;
        assert_eq!(found.len(), 1200, "the others are still read");
        assert!(!found.contains_key(&key));
        assert_eq!(found[&keys[7]], vec![f]);
        cache.close().await;
    }

    #[tokio::test]
    async fn a_damaged_cache_file_is_set_aside_and_a_new_one_made() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), vec![0x5a; 8192]).unwrap();
        let cache = ResultCache::open(dir.path()).await;
        let key = ResultCache::key("ruff", "1", "{}", "a.py", &ResultCache::digest(b""));
        cache.put_many(&[(&key, &[])]).await;
        assert_eq!(cache.get(&key).await, Some(vec![]));
        assert!(dir.path().join(format!("{FILE}.damaged")).is_file());
        cache.close().await;
    }

    #[tokio::test]
    async fn a_cache_that_cannot_be_opened_is_no_cache() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the directory should be.
        let blocked = dir.path().join("results");
        std::fs::write(&blocked, b"").unwrap();
        let cache = ResultCache::open(&blocked).await;
        let key = ResultCache::key("ruff", "1", "{}", "a.py", &ResultCache::digest(b""));
        cache.put_many(&[(&key, &[])]).await;
        assert!(cache.get(&key).await.is_none());
    }
}
