//! A per-file tool over a tree through the result cache: files whose result is stored are not
//! run again, files another analysis of this process is running now are waited for, and the
//! tool runs only on the rest.

use super::{AnalysisInput, BackendReport, BackendStatus, Engine};
use crate::analysis::backends::{self, Backend, ParseOutput, TreeFacts};
use crate::analysis::cache::{Lookup, ResultCache};
use crate::analysis::tree::is_executable;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

impl Engine {
    /// The backend's findings on every Python file of the tree, from the cache where it can.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run_through_cache(
        &self,
        cache: &ResultCache,
        backend: &dyn Backend,
        program: &Path,
        options: &Value,
        input: &AnalysisInput,
        facts: &TreeFacts,
        report: &mut BackendReport,
    ) -> Result<ParseOutput, BackendStatus> {
        let effective = cache_config(backend, options, facts);
        let version = report.version.clone().unwrap_or_default();
        let mut out = ParseOutput::default();
        let mut keys: BTreeMap<String, String> = BTreeMap::new();
        let (mut mine, mut claims, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
        let mut wanted: Vec<(&String, String)> = Vec::with_capacity(facts.python_files.len());
        for file in &facts.python_files {
            let digest = match facts.python_digests.get(file) {
                Some(d) => *d,
                None => digest(&input.root, file),
            };
            let key = ResultCache::key(backend.name(), &version, &effective, file, &digest);
            wanted.push((file, key));
        }
        // Claimed before the cache is read: an analysis of this process that stored a file's
        // result has let go of its claim by then, so what it stored is read, never run again.
        let mut claimed = Vec::with_capacity(wanted.len());
        for (file, key) in wanted {
            match cache.claim(&key) {
                Lookup::Claimed(claim) => claimed.push((file, key, claim)),
                Lookup::InFlight(pending) => theirs.push((file.clone(), key, pending)),
            }
        }
        let mut stored = cache
            .get_many(
                &claimed
                    .iter()
                    .map(|(_, k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .await;
        for (file, key, claim) in claimed {
            match stored.remove(&key) {
                Some(findings) => {
                    out.findings.extend(findings);
                    report.cached_files += 1;
                }
                None => {
                    mine.push(file.clone());
                    keys.insert(file.clone(), key);
                    claims.push(claim);
                }
            }
        }
        if !mine.is_empty() {
            let fresh = self
                .run_in_shards(
                    backend,
                    program,
                    options,
                    input,
                    facts,
                    &mine,
                    report,
                    Some((cache, &keys)),
                )
                .await?;
            merge(&mut out, fresh);
        }
        drop(claims);
        // Files another analysis was running: its results, or a run of our own where it left
        // none (it failed, or was cancelled).
        let mut left = Vec::new();
        for (file, key, pending) in theirs {
            pending.finished().await;
            match cache.get(&key).await {
                Some(findings) => {
                    out.findings.extend(findings);
                    report.cached_files += 1;
                }
                None => {
                    keys.insert(file.clone(), key);
                    left.push(file);
                }
            }
        }
        if !left.is_empty() {
            let fresh = self
                .run_in_shards(
                    backend,
                    program,
                    options,
                    input,
                    facts,
                    &left,
                    report,
                    Some((cache, &keys)),
                )
                .await?;
            merge(&mut out, fresh);
        }
        Ok(out)
    }
}

/// What a file's cache keys hash of it: its content and its executable bit (Ruff's EXE rules
/// read it).
fn digest(root: &Path, file: &str) -> [u8; 32] {
    let mut content = std::fs::read(root.join(file)).unwrap_or_default();
    content.push(u8::from(is_executable(&root.join(file))));
    ResultCache::digest(&content)
}

/// The digest of every file, read on `threads` threads: every per-file backend's keys use them.
pub(super) fn digests(root: &Path, files: &[String], threads: usize) -> HashMap<String, [u8; 32]> {
    let per_thread = files.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let running: Vec<_> = files
            .chunks(per_thread)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|f| (f.clone(), digest(root, f)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        running
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_default())
            .collect()
    })
}

/// Adds what a run said to what is known already.
pub(super) fn merge(out: &mut ParseOutput, fresh: ParseOutput) {
    out.findings.extend(fresh.findings);
    out.dropped.extend(fresh.dropped);
    out.tool_errors.extend(fresh.tool_errors);
    out.over_limit += fresh.over_limit;
}

/// What a per-file backend's result depends on besides the file: its options and, for Ruff,
/// which other files exist (isort's first-party detection).
fn cache_config(backend: &dyn Backend, options: &Value, facts: &TreeFacts) -> String {
    let mut effective = options.to_string();
    if backend.name() == backends::ruff::NAME {
        effective.push_str(&crate::domain::fingerprint::digest_hex(
            facts.python_files.join("\n").as_bytes(),
        ));
    }
    effective
}
