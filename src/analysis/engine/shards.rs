//! Running a tool over its files: once, or — for a per-file tool that runs on one core, like
//! Bandit — as several processes at once, each in its own jail on a slice of the files, so a
//! large tree keeps every core busy instead of one.
//!
//! Slices are balanced by bytes (the tools' work grows with the code they read) and are never
//! so small that a process's start-up outweighs its work. A tool that judges each file on its
//! own says the same about a file whatever else is in its run, so the findings are those of one
//! run; each slice's result is cached per file on its own.

use super::{AnalysisInput, BackendReport, BackendStatus, Engine};
use crate::analysis::backends::{Backend, Granularity, Parallelism, ParseOutput, TreeFacts};
use crate::analysis::cache::ResultCache;
use crate::domain::finding::RawFinding;
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::task::Poll;

/// The least code a slice gets: about what Bandit reads in the time its interpreter takes to
/// start (≈ 0.3 s), so splitting never costs more than it saves.
pub const MIN_SLICE_BYTES: u64 = 64 * 1024;

/// What a file weighs besides its bytes: opening and parsing it costs even when it is empty.
const FILE_WEIGHT: u64 = 256;

/// The cache entries still to write: the cache, and the key of each file that was run.
pub(super) type PendingCache<'a> = Option<(&'a ResultCache, &'a BTreeMap<String, String>)>;

type Outcome = Result<(ParseOutput, Vec<String>), BackendStatus>;

impl Engine {
    /// Runs `backend` over `files` and merges what its runs said; a run that failed fails the
    /// backend (as one run would have), but the other runs' complete results are still cached.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run_in_shards(
        &self,
        backend: &dyn Backend,
        program: &Path,
        options: &Value,
        input: &AnalysisInput,
        facts: &TreeFacts,
        files: &[String],
        report: &mut BackendReport,
        cache: PendingCache<'_>,
    ) -> Result<ParseOutput, BackendStatus> {
        let shardable = backend.granularity() == Granularity::PerFile
            && backend.parallelism() == Parallelism::SingleCore
            && !backend.writes_in_tree();
        let slices = if shardable {
            let sized: Vec<(String, u64)> = files
                .iter()
                .map(|f| {
                    let bytes =
                        std::fs::symlink_metadata(input.root.join(f)).map_or(0, |m| m.len());
                    (f.clone(), bytes)
                })
                .collect();
            plan(&sized, self.jail.cpu().cores(), MIN_SLICE_BYTES)
        } else {
            vec![files.to_vec()]
        };
        let runs: Vec<Pin<Box<dyn Future<Output = Outcome> + Send + '_>>> = slices
            .iter()
            .map(|slice| {
                Box::pin(self.run_tool(backend, program, options, input, facts, slice))
                    as Pin<Box<dyn Future<Output = Outcome> + Send + '_>>
            })
            .collect();
        let outcomes = join_all(runs).await;

        let total = slices.len();
        let mut merged = ParseOutput::default();
        let mut failures: Vec<BackendStatus> = Vec::new();
        for (slice, outcome) in slices.iter().zip(outcomes) {
            let (parsed, notes) = match outcome {
                Ok(done) => done,
                Err(status) => {
                    failures.push(status);
                    continue;
                }
            };
            for note in notes {
                if !report.notes.contains(&note) {
                    report.notes.push(note);
                }
            }
            // A run that reported problems or hit the limit may have judged some of its files
            // incompletely: nothing from it is cached.
            if let Some((cache, keys)) = cache {
                if parsed.tool_errors.is_empty() && parsed.over_limit == 0 {
                    cache_slice(cache, keys, slice, &parsed.findings).await;
                }
            }
            super::cached::merge(&mut merged, parsed);
        }
        let failed = failures.len();
        match failures.into_iter().next() {
            None => Ok(merged),
            Some(BackendStatus::Failed(why)) if failed > 1 => Err(BackendStatus::Failed(format!(
                "{why} (and {} more of its {total} runs over slices of the files failed)",
                failed - 1
            ))),
            Some(first) => Err(first),
        }
    }
}

async fn cache_slice(
    cache: &ResultCache,
    keys: &BTreeMap<String, String>,
    slice: &[String],
    findings: &[RawFinding],
) {
    let mut by_file: BTreeMap<&str, Vec<RawFinding>> = BTreeMap::new();
    for f in findings {
        by_file.entry(f.path.as_str()).or_default().push(f.clone());
    }
    let entries: Vec<(&str, &[RawFinding])> = slice
        .iter()
        .filter_map(|file| {
            let key = keys.get(file)?;
            let found = by_file.get(file.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            Some((key.as_str(), found))
        })
        .collect();
    cache.put_many(&entries).await;
}

/// Splits `files` (each with its size in bytes) into at most `most` slices of about the same
/// weight, each weighing at least `min_bytes` unless there is only one. The heaviest file goes
/// first, each to the lightest slice so far; every slice keeps the files' order.
pub fn plan(files: &[(String, u64)], most: usize, min_bytes: u64) -> Vec<Vec<String>> {
    let weight = |bytes: u64| bytes.saturating_add(FILE_WEIGHT);
    let total: u64 = files.iter().map(|(_, b)| weight(*b)).sum();
    let count = most
        .min(usize::try_from(total / min_bytes.max(1)).unwrap_or(usize::MAX))
        .min(files.len())
        .max(1);
    if count == 1 {
        return vec![files.iter().map(|(f, _)| f.clone()).collect()];
    }
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(files[i].1), i));
    let mut loads = vec![0u64; count];
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); count];
    for i in order {
        let lightest = (0..count)
            .min_by_key(|&s| (loads[s], s))
            .expect("at least one slice");
        loads[lightest] += weight(files[i].1);
        members[lightest].push(i);
    }
    members
        .into_iter()
        .map(|mut m| {
            m.sort_unstable();
            m.into_iter().map(|i| files[i].0.clone()).collect()
        })
        .collect()
}

/// Polls the futures together on this task and returns their outputs in their order. The runs
/// stay part of the analysis's own task, so cancelling the analysis kills every one of them.
async fn join_all<'a, T>(mut futures: Vec<Pin<Box<dyn Future<Output = T> + Send + 'a>>>) -> Vec<T> {
    let mut outputs: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sized(sizes: &[u64]) -> Vec<(String, u64)> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("f{i:02}.py"), *b))
            .collect()
    }

    fn weights(files: &[(String, u64)], slices: &[Vec<String>]) -> Vec<u64> {
        slices
            .iter()
            .map(|s| {
                s.iter()
                    .map(|f| files.iter().find(|(n, _)| n == f).unwrap().1 + FILE_WEIGHT)
                    .sum()
            })
            .collect()
    }

    #[test]
    fn every_file_lands_in_exactly_one_slice_in_order() {
        let files = sized(&[900, 10, 4000, 0, 0, 2500, 700, 700, 1200, 3000, 50, 8000]);
        let slices = plan(&files, 3, 1);
        assert_eq!(slices.len(), 3);
        let mut all: Vec<String> = slices.concat();
        all.sort();
        let names: Vec<String> = files.iter().map(|(f, _)| f.clone()).collect();
        assert_eq!(all, names);
        for s in &slices {
            assert!(s.windows(2).all(|w| w[0] < w[1]), "kept in order: {s:?}");
        }
    }

    #[test]
    fn slices_are_balanced_by_bytes() {
        // One large file and many small ones: the large one gets a slice nearly to itself.
        let mut sizes = vec![20_000];
        sizes.extend(std::iter::repeat_n(1_000, 40));
        let files = sized(&sizes);
        let w = weights(&files, &plan(&files, 2, 1));
        let (max, min) = (*w.iter().max().unwrap(), *w.iter().min().unwrap());
        assert!(max - min <= 1_000 + FILE_WEIGHT, "{w:?}");
        let even = sized(&[1_000; 100]);
        let w = weights(&even, &plan(&even, 4, 1));
        assert_eq!(w, vec![25 * (1_000 + FILE_WEIGHT); 4]);
    }

    #[test]
    fn small_work_is_not_split() {
        let files = sized(&[1_000; 10]);
        assert_eq!(plan(&files, 8, MIN_SLICE_BYTES).len(), 1, "13 KiB in all");
        let files = sized(&[1_000; 150]);
        assert_eq!(
            plan(&files, 8, MIN_SLICE_BYTES).len(),
            2,
            "190 KiB: two slices of at least 64 KiB"
        );
        assert_eq!(
            plan(&sized(&[5; 3]), 8, 1).len(),
            3,
            "never more than the files"
        );
        assert_eq!(plan(&[], 4, 1), vec![Vec::<String>::new()]);
        assert_eq!(plan(&files, 1, 1).len(), 1, "one core, one run");
    }

    #[tokio::test]
    async fn join_all_keeps_the_order_and_runs_together() {
        let started = std::time::Instant::now();
        let futures: Vec<Pin<Box<dyn Future<Output = u64> + Send>>> = (0..4u64)
            .map(|i| {
                Box::pin(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(200 - i * 40)).await;
                    i
                }) as Pin<Box<dyn Future<Output = u64> + Send>>
            })
            .collect();
        assert_eq!(join_all(futures).await, vec![0, 1, 2, 3]);
        assert!(started.elapsed() < std::time::Duration::from_millis(390));
    }
}
