//! Stage 4 of an analysis: what to compare with, the head and the compared commit analysed
//! (concurrently), and what the change added (suppressions, changed lines).

use super::save::{applicability, result_for};
use super::{Compared, Configured, Job};
use crate::analysis::engine::{AnalysisInput, TreeAnalysis};
use crate::domain::diffmap::DiffMap;
use crate::domain::judgement::{self, GateScope, JudgementInput};
use crate::domain::status::{AnalysisStatus, Trigger};
use crate::domain::suppression::{self, Suppression};
use crate::git::config_files::CommitFiles;
use crate::jobs::{JobContext, Permanent};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Stage 4a: what to compare with — a pull request's merge base (what the pull request
/// changed), or the commit a push replaced when that was analysed.
pub(super) async fn compare_target(cx: &JobContext, job: &Job) -> Result<Option<String>> {
    let a = &job.analysis;
    if job.is_pr {
        let base_tip = a
            .base_sha
            .clone()
            .context("pull request without a base commit")?;
        let mirrors = cx.mirrors.clone();
        let (id, head) = (job.project.id, a.sha.clone());
        let merge_base =
            tokio::task::spawn_blocking(move || mirrors.merge_base(id, &head, &base_tip))
                .await
                .context("merge base task")??;
        return Ok(Some(merge_base.ok_or_else(|| {
            anyhow::Error::new(Permanent(
                "the pull request shares no history with its base branch".into(),
            ))
        })?));
    }
    Ok(match &a.base_sha {
        Some(before) => match cx.store.find_analysis(job.project.id, before).await? {
            Some(b) if b.status == AnalysisStatus::Completed => Some(before.clone()),
            _ => None,
        },
        None => None,
    })
}

/// Stage 4b: the head and the commit compared with, analysed concurrently (the compared
/// commit's saved findings are reused when they were produced under the same configuration).
pub(super) async fn analyse(
    cx: &JobContext,
    job: &Job,
    configured: &Configured,
    compared_sha: Option<&str>,
) -> Result<(TreeAnalysis, Option<Compared>)> {
    let head = analyse_commit(cx, job, &job.analysis.sha, configured);
    let compared = async {
        match compared_sha {
            None => Ok(None),
            // Nothing changed: the head is its own base.
            Some(sha) if sha == job.analysis.sha => Ok(None),
            Some(sha) => compared_findings(cx, job, sha, configured).await.map(Some),
        }
    };
    let (head, compared) = tokio::try_join!(head, compared)?;
    let compared = match (compared, compared_sha) {
        (Some(c), _) => Some(c),
        (None, Some(sha)) if sha == job.analysis.sha => Some(Compared {
            findings: head.findings.clone(),
            ncloc: head.ncloc,
        }),
        _ => None,
    };
    Ok((head, compared))
}

async fn analyse_commit(
    cx: &JobContext,
    job: &Job,
    sha: &str,
    configured: &Configured,
) -> Result<TreeAnalysis> {
    let mirrors = cx.mirrors.clone();
    let (repo_id, sha_owned) = (job.project.id, sha.to_owned());
    let limits = cx.tree_limits;
    let tree =
        tokio::task::spawn_blocking(move || mirrors.materialise(repo_id, &sha_owned, limits))
            .await
            .context("checkout task")?
            .map_err(
                |e| match e.downcast::<crate::git::checkout::TreeTooLarge>() {
                    Ok(too_large) => anyhow::Error::new(Permanent(too_large.to_string())),
                    Err(other) => other,
                },
            )?;
    let input = AnalysisInput {
        root: tree.path().to_path_buf(),
        config: configured.config.clone(),
        config_files: Arc::new(CommitFiles {
            mirrors: cx.mirrors.clone(),
            repo_id,
            sha: job.config_sha.clone(),
        }),
    };
    let result = cx.engine.analyse(&input, None).await;
    drop(tree);
    result
}

/// The findings of the commit compared with: saved ones when they were produced under the
/// same configuration, otherwise the commit analysed now (and saved, if it is only a base).
async fn compared_findings(
    cx: &JobContext,
    job: &Job,
    sha: &str,
    configured: &Configured,
) -> Result<Compared> {
    if let Some(existing) = cx.store.find_analysis(job.project.id, sha).await? {
        if existing.status == AnalysisStatus::Completed && existing.config_key == configured.key {
            let findings = cx.store.load_findings(existing.id).await?;
            return Ok(Compared {
                findings: findings.into_iter().map(|f| f.finding).collect(),
                ncloc: existing.ncloc.unwrap_or(0).max(0) as u64,
            });
        }
    }
    let row = cx.store.ensure_base_analysis(job.project.id, sha).await?;
    let tree = analyse_commit(cx, job, sha, configured).await?;
    // A commit that is also analysed in its own right keeps that analysis.
    if row.trigger == Trigger::Base {
        let failed = tree.failed_backends();
        let mut why = String::new();
        let judged = judgement::judge(&JudgementInput {
            head: &tree.findings,
            ncloc: tree.ncloc,
            base: None,
            diff: None,
            scope: GateScope::WholeCode,
            gate: &configured.gate,
            backends: applicability(&tree, &failed, &mut why),
            suppressions_added: None,
        });
        let result = result_for(
            cx,
            configured,
            &tree,
            &judged,
            None,
            None,
            |_| false,
            BTreeMap::new(),
        );
        cx.store
            .save_analysis(row.id, &result, &[], cx.max_attempts)
            .await?;
    }
    Ok(Compared {
        ncloc: tree.ncloc,
        findings: tree.findings,
    })
}

/// Stage 4c: inline suppressions the change added, against what it is compared with.
pub(super) async fn added_suppressions(
    cx: &JobContext,
    job: &Job,
    compared_sha: Option<&str>,
) -> Result<Option<Vec<Suppression>>> {
    let Some(base) = compared_sha.filter(|b| *b != job.analysis.sha) else {
        return Ok(None);
    };
    let mirrors = cx.mirrors.clone();
    let (id, base, head) = (job.project.id, base.to_owned(), job.analysis.sha.clone());
    let lines = tokio::task::spawn_blocking(move || mirrors.added_lines(id, &base, &head))
        .await
        .context("diff task")??;
    Ok(Some(suppression::added(&lines)))
}

/// Stage 4d: how the change moved lines from the compared commit to the head (renames
/// detected), to pair copies of a finding and to find the lines the change touched.
pub(super) async fn diff_map(
    cx: &JobContext,
    job: &Job,
    compared_sha: Option<&str>,
) -> Result<Option<DiffMap>> {
    let Some(base) = compared_sha.filter(|b| *b != job.analysis.sha) else {
        return Ok(None);
    };
    let mirrors = cx.mirrors.clone();
    let (id, base, head) = (job.project.id, base.to_owned(), job.analysis.sha.clone());
    tokio::task::spawn_blocking(move || mirrors.diff_map(id, &base, &head).map(Some))
        .await
        .context("diff task")?
}
