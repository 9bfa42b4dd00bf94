//! The analysis of one commit, as stages with typed inputs and outputs:
//! start → fetch → configure → analyse (head and base concurrently) → judge → save.
//!
//! Publishing is not here: saving records one publish task per sink in the same transaction
//! (the outbox), and each runs as its own job, so a failure to publish never re-runs this.

use super::{JobContext, Permanent};
use crate::analysis::repo_config::{load_repo_config, RepoConfig};
use crate::domain::events::Project;
use crate::domain::finding::Finding;
use crate::domain::gate::GateConfig;
use crate::domain::status::Sink;
use crate::domain::time::rfc3339;
use crate::github::app::{Access, TokenScope};
use crate::github::checks::{CheckStatus, CreateCheckRun, Output, UpdateCheckRun, CHECK_NAME};
use crate::github::client::InstallationClient;
use crate::store::AnalysisRow;
use crate::store::{Cancelled, Start};
use anyhow::{anyhow, Context, Result};
use std::collections::BTreeMap;
use std::time::Instant;
use tracing::Instrument;

/// The sinks an analysis of a commit publishes to.
/// Where an analysis's outcome goes: its check run, and for a pull request the one comment
/// (unless the repository config turns it off).
pub(super) fn sinks(is_pr: bool, pr_comment: bool) -> Vec<Sink> {
    let mut sinks = vec![Sink::CheckRun];
    if is_pr && pr_comment {
        sinks.push(Sink::PrComment);
    }
    sinks
}

/// An analysis being run: what it is about and how to reach GitHub for it.
pub(super) struct Job {
    pub(super) analysis: AnalysisRow,
    pub(super) project: Project,
    pub(super) client: InstallationClient,
    pub(super) is_pr: bool,
    /// The commit whose configuration applies: a pull request's base, a push's own commit.
    pub(super) config_sha: String,
}

/// The configuration an analysis runs under.
pub(super) struct Configured {
    pub(super) config: RepoConfig,
    pub(super) gate: GateConfig,
    /// Hash of everything that decides the findings besides the code (config, tool pins,
    /// server rules): findings under another key are not comparable.
    pub(super) key: String,
}

/// The findings of the commit compared with.
pub(super) struct Compared {
    pub(super) findings: Vec<Finding>,
    pub(super) ncloc: u64,
}

pub(super) fn unix_now() -> i64 {
    crate::store::now_ms() / 1000
}

/// Runs the whole analysis of one queued analysis row.
pub async fn run(cx: &JobContext, analysis_id: i64) -> Result<()> {
    let started = Instant::now();
    let mut timings: BTreeMap<String, u64> = BTreeMap::new();
    let Some(job) = start(cx, analysis_id)
        .instrument(tracing::info_span!("start"))
        .await?
    else {
        return Ok(());
    };
    // The job's span was opened before the analysis was loaded.
    let span = tracing::Span::current();
    span.record("repo", job.project.full_name.as_str());
    span.record("sha", job.analysis.sha.as_str());

    let t = Instant::now();
    fetch(cx, &job)
        .instrument(tracing::info_span!("fetch"))
        .await?;
    timings.insert("fetch_ms".into(), t.elapsed().as_millis() as u64);

    let configured = match configure(cx, &job)
        .instrument(tracing::info_span!("configure"))
        .await?
    {
        Ok(c) => c,
        Err(error) => return config_failure(cx, &job, &error).await,
    };

    let t = Instant::now();
    let compared_sha = compare_target(cx, &job).await?;
    let (head, compared) = analyse(cx, &job, &configured, compared_sha.as_deref())
        .instrument(tracing::info_span!("analyse"))
        .await?;
    timings.insert("analyse_ms".into(), t.elapsed().as_millis() as u64);

    let suppressions = added_suppressions(cx, &job, compared_sha.as_deref()).await?;
    let diff = diff_map(cx, &job, compared_sha.as_deref()).await?;
    let judged = judge(
        &job,
        &configured,
        &head,
        compared.as_ref(),
        suppressions.as_ref(),
        diff.as_ref(),
    );
    timings.insert("total_ms".into(), started.elapsed().as_millis() as u64);
    for (stage, ms) in &timings {
        crate::metrics::stage(stage.trim_end_matches("_ms"), *ms as f64 / 1000.0);
    }
    for b in &head.reports {
        if !matches!(
            b.status,
            crate::analysis::engine::BackendStatus::NotApplicable(_)
        ) {
            crate::metrics::backend(&b.name, b.elapsed_ms as f64 / 1000.0, b.status.is_failure());
        }
    }
    save(
        cx,
        &job,
        &configured,
        Judged {
            head: &head,
            judgement: &judged,
            compared_sha,
            suppressions,
            diff: diff.as_ref(),
            timings,
        },
    )
    .instrument(tracing::info_span!("save"))
    .await?;
    let grade = judged.score.map(|s| s.grade.to_string());
    crate::metrics::analysis(judged.gate.verdict.as_str(), grade.as_deref());
    tracing::info!(
        verdict = judged.gate.verdict.as_str(),
        score = ?judged.score.map(|s| s.score),
        grade = ?judged.score.map(|s| s.grade),
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
/// the analysis marked running. `None` when an earlier attempt already ended the analysis and
/// only failed to record its job as done: its outcome stands and is not redone.
async fn start(cx: &JobContext, analysis_id: i64) -> Result<Option<Job>> {
    let (analysis, project) = load(cx, analysis_id).await?;
    let client = client(cx, &analysis, &project)?;
    match cx.store.mark_analysis_running(analysis.id).await? {
        Start::Started => {}
        Start::Cancelled => return Err(Cancelled.into()),
        Start::Ended(status) => {
            tracing::warn!(
                status = status.as_str(),
                "an earlier attempt already ended this analysis; its outcome stands"
            );
            return Ok(None);
        }
    }
    let output = Output {
        title: "Analysing…".into(),
        summary: "flext-quality is analysing this commit.".into(),
        annotations: Vec::new(),
    };
    // A previous attempt may have created the check run and died before recording it.
    let orphan = match (analysis.check_run_id, analysis.started_at) {
        (None, Some(_)) => client
            .find_open_check_run(&project.full_name, &analysis.sha, &analysis.id.to_string())
            .await
            .context("looking for the check run of an earlier attempt")?,
        _ => None,
    };
    if let Some(id) = orphan {
        if !cx.store.set_check_run(analysis.id, id).await? {
            return Err(Cancelled.into());
        }
    }
    match analysis.check_run_id.or(orphan) {
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
            if !cx.store.set_check_run(analysis.id, id).await? {
                // Superseded while the check run was being created: end it here, as no one
                // else knows it exists.
                let done = UpdateCheckRun {
                    status: Some(CheckStatus::Completed),
                    conclusion: Some(crate::github::checks::Conclusion::Cancelled),
                    completed_at: Some(rfc3339(unix_now())),
                    output: Some(Output {
                        title: "Superseded".into(),
                        summary: "A newer head of the pull request is analysed instead.".into(),
                        annotations: Vec::new(),
                    }),
                    ..UpdateCheckRun::default()
                };
                client
                    .update_check_run(&project.full_name, id, &done)
                    .await
                    .context("completing a superseded check run")?;
                return Err(Cancelled.into());
            }
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
    let is_pr = analysis.pr_number.is_some();
    let config_sha = if is_pr {
        analysis
            .base_sha
            .clone()
            .unwrap_or_else(|| analysis.sha.clone())
    } else {
        analysis.sha.clone()
    };
    Ok(Some(Job {
        analysis,
        project,
        client,
        is_pr,
        config_sha,
    }))
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
    let mut config = match loaded {
        Ok(Some((config, _))) => config,
        Ok(None) => RepoConfig::default(),
        Err(e) => return Ok(Err(e.to_string())),
    };
    let policy = cx.policy().await.context("reading the server policy")?;
    // The policy's rule overrides first, the repository's on top (the last word wins).
    let mut rules = policy.rules.clone();
    rules.0.extend(config.rules.0.clone());
    config.rules = rules;
    let gate = policy.gate.tightened_by(&config.gate);
    let key = config_key(&config);
    Ok(Ok(Configured { config, gate, key }))
}

/// Everything besides the code that decides the findings.
fn config_key(config: &RepoConfig) -> String {
    let material = serde_json::json!({
        "config": config,
        "tools": crate::tools::REQUIREMENTS,
    });
    crate::domain::fingerprint::digest_hex(material.to_string().as_bytes())[..16].to_owned()
}

mod compare;
mod save;

use compare::{added_suppressions, analyse, compare_target, diff_map};
pub use save::give_up;
use save::{config_failure, judge, save, Judged};
