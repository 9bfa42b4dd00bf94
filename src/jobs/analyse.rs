//! The analysis of one commit, as stages with typed inputs and outputs:
//! start → fetch → configure → analyse (head and base concurrently) → judge → save.
//!
//! Publishing is not here: saving records one publish task per sink in the same transaction
//! (the outbox), and each runs as its own job, so a failure to publish never re-runs this.

use super::{JobContext, Permanent};
use crate::analysis::engine::{AnalysisInput, BackendStatus, TreeAnalysis};
use crate::analysis::jail::JailState;
use crate::analysis::repo_config::{load_repo_config, Annotate, RepoConfig};
use crate::domain::events::Project;
use crate::domain::finding::Finding;
use crate::domain::gate::GateConfig;
use crate::domain::judgement::{
    self, Applicability, Baseline, GateScope, Judgement, JudgementInput,
};
use crate::domain::status::{AnalysisStatus, Sink, Trigger};
use crate::domain::suppression::{self, Suppression};
use crate::domain::time::rfc3339;
use crate::git::checkout::ChangedLines;
use crate::git::config_files::CommitFiles;
use crate::github::app::{Access, TokenScope};
use crate::github::checks::{CheckStatus, CreateCheckRun, Output, UpdateCheckRun, CHECK_NAME};
use crate::github::client::InstallationClient;
use crate::publish::markdown;
use crate::store::{AnalysisDetails, AnalysisResult, AnalysisRow, Failure, SavedFinding};
use anyhow::{anyhow, Context, Result};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// The sinks an analysis of a commit publishes to.
const SINKS: &[Sink] = &[Sink::CheckRun];

/// An analysis being run: what it is about and how to reach GitHub for it.
struct Job {
    analysis: AnalysisRow,
    project: Project,
    client: InstallationClient,
    is_pr: bool,
    /// The commit whose configuration applies: a pull request's base, a push's own commit.
    config_sha: String,
}

/// The configuration an analysis runs under.
struct Configured {
    config: RepoConfig,
    gate: GateConfig,
    /// Hash of everything that decides the findings besides the code (config, tool pins,
    /// server rules): findings under another key are not comparable.
    key: String,
}

/// The findings of the commit compared with.
struct Compared {
    findings: Vec<Finding>,
    ncloc: u64,
}

fn unix_now() -> i64 {
    crate::store::now_ms() / 1000
}

/// Runs the whole analysis of one queued analysis row.
pub async fn run(cx: &JobContext, analysis_id: i64) -> Result<()> {
    let started = Instant::now();
    let mut timings: BTreeMap<String, u64> = BTreeMap::new();
    let job = start(cx, analysis_id).await?;

    let t = Instant::now();
    fetch(cx, &job).await?;
    timings.insert("fetch_ms".into(), t.elapsed().as_millis() as u64);

    let configured = match configure(cx, &job).await? {
        Ok(c) => c,
        Err(error) => return config_failure(cx, &job, &error).await,
    };

    let t = Instant::now();
    let compared_sha = compare_target(cx, &job).await?;
    let (head, compared) = analyse(cx, &job, &configured, compared_sha.as_deref()).await?;
    timings.insert("analyse_ms".into(), t.elapsed().as_millis() as u64);

    let suppressions = added_suppressions(cx, &job, compared_sha.as_deref()).await?;
    let judged = judge(
        &job,
        &configured,
        &head,
        compared.as_ref(),
        suppressions.as_ref(),
    );
    let changed = match (configured.config.report.annotate, &compared_sha) {
        (Annotate::ChangedLines, Some(base)) => Some(changed_lines(cx, &job, base).await?),
        _ => None,
    };
    timings.insert("total_ms".into(), started.elapsed().as_millis() as u64);
    save(
        cx,
        &job,
        &configured,
        Judged {
            head: &head,
            judgement: &judged,
            compared_sha,
            suppressions,
            changed: changed.as_ref(),
            timings,
        },
    )
    .await?;
    tracing::info!(
        verdict = judged.gate.verdict.as_str(),
        score = judged.score.score,
        grade = %judged.score.grade,
        findings = head.findings.len(),
        new = judged.new_count(),
        fixed = judged.fixed.len(),
        total_ms = started.elapsed().as_millis() as u64,
        "analysis complete"
    );
    Ok(())
}

/// A client for the analysis's repository, with the permissions an analysis needs.
fn client(
    cx: &JobContext,
    analysis: &AnalysisRow,
    project: &Project,
) -> Result<InstallationClient> {
    let app = cx.github.clone().ok_or_else(|| {
        anyhow::Error::new(Permanent(
            "the GitHub App is not configured (GITHUB_APP_ID and GITHUB_PRIVATE_KEY)".into(),
        ))
    })?;
    let installation = analysis
        .installation_id
        .or(project.installation_id)
        .ok_or_else(|| {
            anyhow::Error::new(Permanent(format!(
                "{} has no known installation of the App",
                project.full_name
            )))
        })?;
    let scope = TokenScope {
        repository_id: project.id,
        access: Access::Analyse,
    };
    Ok(InstallationClient::new(app, installation, scope))
}

async fn load(cx: &JobContext, analysis_id: i64) -> Result<(AnalysisRow, Project)> {
    let analysis = cx
        .store
        .get_analysis(analysis_id)
        .await?
        .ok_or_else(|| anyhow!("analysis {analysis_id} does not exist"))?;
    let project = cx
        .store
        .get_project(analysis.project_id)
        .await?
        .ok_or_else(|| anyhow!("project {} does not exist", analysis.project_id))?;
    Ok((analysis, project))
}

/// Stage 1: the check run `in_progress` (created, or put back in progress on a retry), and
/// the analysis marked running.
async fn start(cx: &JobContext, analysis_id: i64) -> Result<Job> {
    let (analysis, project) = load(cx, analysis_id).await?;
    // The job's span was opened before the analysis was loaded.
    let span = tracing::Span::current();
    span.record("repo", project.full_name.as_str());
    span.record("sha", analysis.sha.as_str());
    let client = client(cx, &analysis, &project)?;
    let output = Output {
        title: "Analysing…".into(),
        summary: "flext-quality is analysing this commit.".into(),
        annotations: Vec::new(),
    };
    match analysis.check_run_id {
        None => {
            let body = CreateCheckRun {
                name: CHECK_NAME.into(),
                head_sha: analysis.sha.clone(),
                status: CheckStatus::InProgress,
                started_at: Some(rfc3339(unix_now())),
                external_id: Some(analysis.id.to_string()),
                details_url: cx
                    .publish
                    .public_url
                    .as_ref()
                    .map(|u| format!("{u}/analyses/{}", analysis.id)),
                conclusion: None,
                completed_at: None,
                output,
            };
            let id = client
                .create_check_run(&project.full_name, &body)
                .await
                .context("creating the check run")?;
            cx.store.set_check_run(analysis.id, id).await?;
        }
        Some(id) => {
            let body = UpdateCheckRun {
                status: Some(CheckStatus::InProgress),
                output: Some(output),
                ..UpdateCheckRun::default()
            };
            client
                .update_check_run(&project.full_name, id, &body)
                .await
                .context("marking the check run in progress")?;
        }
    }
    cx.store.mark_analysis_running(analysis.id).await?;
    let is_pr = analysis.pr_number.is_some();
    let config_sha = if is_pr {
        analysis
            .base_sha
            .clone()
            .unwrap_or_else(|| analysis.sha.clone())
    } else {
        analysis.sha.clone()
    };
    Ok(Job {
        analysis,
        project,
        client,
        is_pr,
        config_sha,
    })
}

/// Stage 2: the commits the analysis needs, fetched into the repository's mirror with the
/// installation token — sent only to the GitHub we talk to.
async fn fetch(cx: &JobContext, job: &Job) -> Result<()> {
    let a = &job.analysis;
    let mut refs: Vec<String> = a
        .head_ref
        .iter()
        .chain(a.base_ref.iter())
        .cloned()
        .collect();
    if refs.is_empty() {
        refs.push(format!("refs/heads/{}", job.project.default_branch));
    }
    let mut want = vec![a.sha.clone()];
    if job.is_pr {
        want.extend(a.base_sha.iter().cloned());
    }
    if let Some(app) = &cx.github {
        crate::github::clone_url::check(app.api_url(), &job.project.clone_url)
            .map_err(|why| anyhow::Error::new(Permanent(why)))?;
    }
    let token = job
        .client
        .token()
        .await
        .context("getting an installation token")?;
    let lock = cx.mirror_lock(job.project.id).await;
    let _guard = lock.lock().await;
    let mirrors = cx.mirrors.clone();
    let (id, url) = (job.project.id, job.project.clone_url.clone());
    tokio::task::spawn_blocking(move || {
        let want: Vec<&str> = want.iter().map(String::as_str).collect();
        mirrors.fetch(id, &url, Some(&token), &refs, &want)
    })
    .await
    .context("fetch task")?
}

/// Stage 3: the repository config of the config commit (for a pull request, the base: a pull
/// request cannot weaken its own gate or change what runs). `Ok(Err(..))` is the user's
/// mistake, shown to them.
async fn configure(cx: &JobContext, job: &Job) -> Result<Result<Configured, String>> {
    let mirrors = cx.mirrors.clone();
    let (repo_id, sha) = (job.project.id, job.config_sha.clone());
    let loaded = tokio::task::spawn_blocking(move || {
        let read = |name: &str| {
            mirrors
                .read_file(repo_id, &sha, name)
                .ok()
                .flatten()
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        };
        load_repo_config(read)
    })
    .await
    .context("config task")?;
    let config = match loaded {
        Ok(Some((config, _))) => config,
        Ok(None) => RepoConfig::default(),
        Err(e) => return Ok(Err(e.to_string())),
    };
    let gate = cx.gate.tightened_by(&config.gate);
    let key = config_key(&config, cx);
    Ok(Ok(Configured { config, gate, key }))
}

/// Everything besides the code that decides the findings.
fn config_key(config: &RepoConfig, cx: &JobContext) -> String {
    let material = serde_json::json!({
        "config": config,
        "tools": crate::tools::REQUIREMENTS,
        "rules": cx.engine.policy,
    });
    crate::domain::fingerprint::digest_hex(material.to_string().as_bytes())[..16].to_owned()
}

/// An invalid repository config fails the check run with the key and line to fix.
async fn config_failure(cx: &JobContext, job: &Job, error: &str) -> Result<()> {
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
        .fail_analysis(job.analysis.id, &failure, SINKS, cx.max_attempts)
        .await
}

/// Stage 4a: what to compare with — a pull request's merge base (what the pull request
/// changed), or the commit a push replaced when that was analysed.
async fn compare_target(cx: &JobContext, job: &Job) -> Result<Option<String>> {
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
async fn analyse(
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
async fn added_suppressions(
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

async fn changed_lines(cx: &JobContext, job: &Job, base: &str) -> Result<ChangedLines> {
    let mirrors = cx.mirrors.clone();
    let (id, base, head) = (job.project.id, base.to_owned(), job.analysis.sha.clone());
    tokio::task::spawn_blocking(move || mirrors.changed_lines(id, &base, &head))
        .await
        .context("diff task")?
}

/// Whether anything applied (`failed` are the backends that failed); `why` receives the
/// reasons when nothing did.
fn applicability<'a>(
    tree: &TreeAnalysis,
    failed: &'a [String],
    why: &'a mut String,
) -> Applicability<'a> {
    if tree.any_backend_applied() {
        return Applicability::Ran { failed };
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
fn judge(
    job: &Job,
    configured: &Configured,
    head: &TreeAnalysis,
    compared: Option<&Compared>,
    suppressions: Option<&Vec<Suppression>>,
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
        // A push to the default branch is gated on all of its open findings.
        scope: if job.is_pr {
            GateScope::NewFindings
        } else {
            GateScope::WholeCode
        },
        gate: &configured.gate,
        backends: applicability(head, &failed, &mut why),
        suppressions_added: suppressions.map(|s| s.len() as u64),
    })
}

struct Judged<'a> {
    head: &'a TreeAnalysis,
    judgement: &'a Judgement,
    compared_sha: Option<String>,
    suppressions: Option<Vec<Suppression>>,
    changed: Option<&'a ChangedLines>,
    timings: BTreeMap<String, u64>,
}

/// Stage 6: the result saved with one publish task per sink, in one transaction.
async fn save(cx: &JobContext, job: &Job, configured: &Configured, j: Judged<'_>) -> Result<()> {
    let annotate_mode = configured.config.report.annotate;
    let changed = j.changed;
    let annotate = |(f, is_new): (&Finding, bool)| match annotate_mode {
        Annotate::New => is_new,
        Annotate::All => true,
        Annotate::ChangedLines => changed.is_none_or(|c| {
            c.get(&f.path).is_some_and(|ranges| {
                ranges
                    .iter()
                    .any(|(a, b)| f.start_line <= *b && f.end_line >= *a)
            })
        }),
    };
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
    result.details.whole_code = !job.is_pr;
    cx.store
        .save_analysis(job.analysis.id, &result, SINKS, cx.max_attempts)
        .await
}

#[allow(clippy::too_many_arguments)]
fn result_for(
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
            score: Some(judged.score),
            gate: Some(judged.gate.clone()),
            base_score: judged.base_score,
            whole_code: true,
            suppressions,
            jail: match cx.engine.jail.state() {
                JailState::Jailed => None,
                other => Some(other.describe()),
            },
            max_annotations: cx.max_annotations,
            failure: None,
            timings,
        },
        findings,
        fixed: judged.fixed.clone(),
    }
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
    cx.store
        .fail_analysis(analysis_id, &failure, SINKS, cx.max_attempts)
        .await
}
