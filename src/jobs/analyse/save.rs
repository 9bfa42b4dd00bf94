//! Stages 5 and 6 of an analysis: judging the commit (pure) and saving the result with one
//! publish task per sink (and what Slack and the event hooks are told); and ending an analysis
//! without a result.

use super::{sinks, Compared, Configured, Job};
use crate::analysis::engine::{BackendStatus, TreeAnalysis};
use crate::analysis::jail::JailState;
use crate::analysis::repo_config::Annotate;
use crate::domain::diffmap::DiffMap;
use crate::domain::finding::Finding;
use crate::domain::judgement::{
    self, Applicability, Baseline, GateScope, Judgement, JudgementInput,
};
use crate::domain::notify::{self, BranchState, Transition};
use crate::domain::outgoing::{self, Announcement};
use crate::domain::suppression::Suppression;
use crate::jobs::JobContext;
use crate::publish::markdown;
use crate::store::{AnalysisDetails, AnalysisResult, Failure, SavedFinding};
use anyhow::Result;
use std::collections::BTreeMap;

/// An invalid repository config fails the check run with the key and line to fix.
pub(super) async fn config_failure(cx: &JobContext, job: &Job, error: &str) -> Result<()> {
    let sha = &job.config_sha;
    let failure = Failure {
        conclusion: "failure".into(),
        title: "The repository's flext-quality config is invalid".into(),
        summary: format!(
            "flext-quality did not analyse this commit because its configuration (read from `{}`) is invalid:\n\n{}\n\nFix the file on that branch; nothing in it is ignored silently.",
            &sha[..sha.len().min(12)],
            markdown::block(error)
        ),
    };
    cx.store
        .fail_analysis(
            job.analysis.id,
            &failure,
            &sinks(job.is_pr, true),
            cx.max_attempts,
        )
        .await
}

/// Whether anything applied (`failed` are the backends that failed); `why` receives the
/// reasons when nothing did.
pub(super) fn applicability<'a>(
    tree: &TreeAnalysis,
    failed: &'a [String],
    why: &'a mut String,
) -> Applicability<'a> {
    if tree.any_backend_applied() {
        return Applicability::Ran {
            failed,
            any_succeeded: crate::analysis::engine::any_ran(&tree.reports),
        };
    }
    *why = tree
        .reports
        .iter()
        .filter_map(|r| match &r.status {
            BackendStatus::NotApplicable(w) => Some(format!("{}: {w}", r.name)),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("; ");
    Applicability::NothingApplies { why }
}

/// Stage 5: new, fixed, score, grade and verdict (pure).
pub(super) fn judge(
    job: &Job,
    configured: &Configured,
    head: &TreeAnalysis,
    compared: Option<&Compared>,
    suppressions: Option<&Vec<Suppression>>,
    diff: Option<&DiffMap>,
) -> Judgement {
    let failed = head.failed_backends();
    let mut why = String::new();
    judgement::judge(&JudgementInput {
        head: &head.findings,
        ncloc: head.ncloc,
        base: compared.map(|c| Baseline {
            findings: &c.findings,
            ncloc: c.ncloc,
        }),
        diff,
        // Like a pull request, a push is gated on what it changed; a branch's first analysis
        // has nothing to compare with.
        scope: if job.is_pr || compared.is_some() {
            GateScope::NewFindings
        } else {
            GateScope::FirstAnalysis
        },
        gate: &configured.gate,
        backends: applicability(head, &failed, &mut why),
        suppressions_added: suppressions.map(|s| s.len() as u64),
    })
}

pub(super) struct Judged<'a> {
    pub(super) head: &'a TreeAnalysis,
    pub(super) judgement: &'a Judgement,
    pub(super) compared_sha: Option<String>,
    pub(super) suppressions: Option<Vec<Suppression>>,
    pub(super) diff: Option<&'a DiffMap>,
    pub(super) timings: BTreeMap<String, u64>,
}

/// Stage 6: the result saved with one publish task per sink, in one transaction.
pub(super) async fn save(
    cx: &JobContext,
    job: &Job,
    configured: &Configured,
    j: Judged<'_>,
) -> Result<()> {
    let annotate_mode = configured.config.report.annotate;
    let diff = j.diff;
    let annotate = |(f, is_new): (&Finding, bool)| match annotate_mode {
        Annotate::New => is_new,
        Annotate::All => true,
        Annotate::ChangedLines => diff.is_none_or(|d| d.touches(&f.path, f.start_line, f.end_line)),
    };
    let notify = notification(cx, job, configured, j.judgement, j.compared_sha.as_deref()).await?;
    let mut result = result_for(
        cx,
        configured,
        j.head,
        j.judgement,
        j.compared_sha,
        j.suppressions,
        annotate,
        j.timings,
    );
    result.details.max_annotations = cx
        .max_annotations
        .min(configured.config.report.max_annotations as usize);
    result.notify = notify;
    result.events = announcement(cx, job, j.judgement, result.compared_sha.as_deref()).await?;
    cx.store
        .save_analysis(
            job.analysis.id,
            &result,
            &sinks(job.is_pr, configured.config.report.pr_comment),
            cx.max_attempts,
        )
        .await
}

/// The change of state this analysis tells, if there is somewhere to tell it: the default
/// branch's against the commit it replaced; a pull request's failure when the repository asks.
async fn notification(
    cx: &JobContext,
    job: &Job,
    configured: &Configured,
    judged: &Judgement,
    compared_sha: Option<&str>,
) -> Result<Option<Transition>> {
    let project = job.project.id;
    let has_destination =
        cx.publish.slack_default.is_some() || cx.store.slack_webhook(project).await?.is_some();
    if !has_destination {
        return Ok(None);
    }
    if job.is_pr {
        return Ok(notify::pull_request_transition(
            configured.config.notify.pull_request_failures,
            judged.gate.verdict,
        ));
    }
    let after = BranchState {
        verdict: judged.gate.verdict,
        grade: judged.score.map(|s| s.grade),
        score: judged.score.map(|s| s.score),
    };
    let before = match compared_sha {
        Some(sha) if sha != job.analysis.sha => cx.store.branch_state(project, sha).await?,
        _ => None,
    };
    Ok(notify::branch_transition(before.as_ref(), &after))
}

/// What the event hooks are told: `analysis.completed`, and `gate.changed` when the gate
/// started or stopped failing against the previous state — a push's the commit it replaced
/// (as Slack), a pull request's its previous completed analysis.
async fn announcement(
    cx: &JobContext,
    job: &Job,
    judged: &Judgement,
    compared_sha: Option<&str>,
) -> Result<Announcement> {
    let project = job.project.id;
    let before = match (job.analysis.pr_number, compared_sha) {
        (Some(pr), _) => {
            cx.store
                .previous_pr_verdict(project, pr, job.analysis.id)
                .await?
        }
        (None, Some(sha)) if sha != job.analysis.sha => cx
            .store
            .branch_state(project, sha)
            .await?
            .map(|s| s.verdict),
        (None, _) => None,
    };
    Ok(outgoing::announce(before, judged.gate.verdict))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn result_for(
    cx: &JobContext,
    configured: &Configured,
    tree: &TreeAnalysis,
    judged: &Judgement,
    compared_sha: Option<String>,
    suppressions: Option<Vec<Suppression>>,
    annotate: impl Fn((&Finding, bool)) -> bool,
    timings: BTreeMap<String, u64>,
) -> AnalysisResult {
    let findings: Vec<SavedFinding> = tree
        .findings
        .iter()
        .zip(&judged.new)
        .map(|(f, is_new)| SavedFinding {
            finding: f.clone(),
            is_new: *is_new,
            annotate: annotate((f, *is_new)),
        })
        .collect();
    AnalysisResult {
        compared_sha,
        config_key: configured.key.clone(),
        tool_versions: tree.tool_versions().into_iter().collect(),
        ncloc: tree.ncloc as i64,
        score: judged.score,
        verdict: judged.gate.verdict,
        new_count: judged.new_count() as i64,
        details: AnalysisDetails {
            backends: tree.reports.clone(),
            score: judged.score,
            gate: Some(judged.gate.clone()),
            base_score: judged.base_score,
            suppressions,
            test_code: Some(tree.test_code.clone()),
            jail: match cx.engine.jail.state() {
                JailState::Jailed => None,
                other => Some(other.describe()),
            },
            max_annotations: cx.max_annotations,
            failure: None,
            timings,
            config: effective_config(configured),
        },
        findings,
        fixed: judged.fixed.clone(),
        notify: None,
        events: Announcement::default(),
    }
}

/// The configuration in force, as the dashboard shows it: the repository's, with the gate the
/// server policy leaves (`None` should it not serialise, which only a bug could cause).
fn effective_config(configured: &Configured) -> Option<serde_json::Value> {
    let mut config = serde_json::to_value(&configured.config).ok()?;
    config["gate"] = serde_json::to_value(&configured.gate).ok()?;
    Some(config)
}

/// Ends an analysis without a result: the check run (through the outbox) says why.
pub async fn give_up(
    cx: &JobContext,
    analysis_id: i64,
    conclusion: &str,
    reason: &str,
) -> Result<()> {
    let failure = Failure {
        conclusion: conclusion.into(),
        title: "Analysis could not finish".into(),
        summary: format!(
            "flext-quality could not analyse this commit.\n\n**Reason:** {}\n\nRe-run the check to try again.",
            markdown::text(reason)
        ),
    };
    let is_pr = cx
        .store
        .get_analysis(analysis_id)
        .await?
        .is_some_and(|a| a.pr_number.is_some());
    cx.store
        .fail_analysis(analysis_id, &failure, &sinks(is_pr, true), cx.max_attempts)
        .await
}
