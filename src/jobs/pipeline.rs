//! The analysis of one commit: check run in progress → checkout → backends → compare with the
//! base → score → gate → save → complete the check run.

use crate::analysis::engine::{AnalysisInput, Engine, TreeAnalysis};
use crate::analysis::repo_config::{load_repo_config, Annotate, RepoConfig};
use crate::domain::finding::{Finding, Severity};
use crate::domain::gate::{self, GateConfig, GateInput, GateResult};
use crate::domain::score::{score, Score};
use crate::domain::suppression;
use crate::domain::time::rfc3339;
use crate::git::checkout::Mirrors;
use crate::git::config_files::CommitFiles;
use crate::github::app::{Access, GitHubApp, TokenScope};
use crate::github::client::InstallationClient;
use crate::github::events::CHECK_NAME;
use crate::publish::check_run::{completion_requests, Report};
use crate::store::{AnalysisResult, AnalysisRow, ProjectUpsert, Store};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

pub struct PipelineContext {
    pub store: Store,
    pub github: Option<Arc<GitHubApp>>,
    pub mirrors: Arc<Mirrors>,
    pub engine: Engine,
    /// The server policy's gate; a repository's config can only tighten it.
    pub gate: GateConfig,
    pub max_annotations: usize,
    pub public_url: Option<String>,
    /// An analysis job stops at this deadline, its check run completed `timed_out`.
    pub job_deadline: std::time::Duration,
    /// Largest tree (bytes, entries) a commit may have to be analysed.
    pub tree_limits: crate::git::checkout::TreeLimits,
    /// One fetch at a time per mirror within this process.
    pub mirror_locks: tokio::sync::Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

fn unix_now() -> i64 {
    crate::store::now_ms() / 1000
}

impl PipelineContext {
    async fn mirror_lock(&self, repo_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        self.mirror_locks
            .lock()
            .await
            .entry(repo_id)
            .or_default()
            .clone()
    }

    fn client(
        &self,
        analysis: &AnalysisRow,
        project: &ProjectUpsert,
    ) -> Result<InstallationClient> {
        let app = self.github.clone().ok_or_else(|| {
            anyhow!("the GitHub App is not configured (GITHUB_APP_ID and GITHUB_PRIVATE_KEY)")
        })?;
        let installation = analysis
            .installation_id
            .or(project.installation_id)
            .ok_or_else(|| anyhow!("{} has no known installation of the app", project.full_name))?;
        let scope = TokenScope {
            repository_id: project.id,
            access: Access::Analyse,
        };
        Ok(InstallationClient::new(app, installation, scope))
    }

    async fn load(&self, analysis_id: i64) -> Result<(AnalysisRow, ProjectUpsert)> {
        let analysis = self
            .store
            .get_analysis(analysis_id)
            .await?
            .ok_or_else(|| anyhow!("analysis {analysis_id} does not exist"))?;
        let project = self
            .store
            .get_project(analysis.project_id)
            .await?
            .ok_or_else(|| anyhow!("project {} does not exist", analysis.project_id))?;
        Ok((analysis, project))
    }

    /// What every check run summary must say about how the tools ran, when they did not run in
    /// the jail.
    fn jail_note(&self) -> Option<String> {
        match self.engine.jail.state() {
            crate::analysis::jail::JailState::Jailed => None,
            other => Some(other.describe()),
        }
    }

    /// Creates the check run as `in_progress`, or puts an existing one (a retry) back in progress.
    pub async fn start_check_run(&self, analysis_id: i64) -> Result<()> {
        let (analysis, project) = self.load(analysis_id).await?;
        // The job's span was opened before the analysis was loaded.
        let span = tracing::Span::current();
        span.record("repo", project.full_name.as_str());
        span.record("sha", analysis.sha.as_str());
        let client = self.client(&analysis, &project)?;
        let mut body = json!({
            "name": CHECK_NAME,
            "head_sha": analysis.sha,
            "status": "in_progress",
            "started_at": rfc3339(unix_now()),
            "external_id": analysis.id.to_string(),
            "output": { "title": "Analysing…", "summary": "flext-quality is analysing this commit." },
        });
        if let Some(url) = &self.public_url {
            body["details_url"] = json!(format!(
                "{}/projects/{}",
                url.trim_end_matches('/'),
                project.id
            ));
        }
        match analysis.check_run_id {
            None => {
                let id = client
                    .create_check_run(&project.full_name, &body)
                    .await
                    .context("creating the check run")?;
                self.store.set_check_run(analysis.id, id).await?;
            }
            Some(id) => {
                let update = json!({ "status": "in_progress", "output": body["output"] });
                client
                    .update_check_run(&project.full_name, id, &update)
                    .await
                    .context("marking the check run in progress")?;
            }
        }
        self.store.mark_analysis_running(analysis.id).await
    }

    /// The id of the check run `start_check_run` created for this analysis.
    async fn check_run_id(&self, analysis_id: i64) -> Result<i64> {
        self.store
            .get_analysis(analysis_id)
            .await?
            .and_then(|a| a.check_run_id)
            .context("the check run was never created")
    }

    /// Completes the check run without a result, e.g. after the last failed attempt.
    pub async fn give_up(&self, analysis_id: i64, conclusion: &str, reason: &str) -> Result<()> {
        self.store.mark_analysis_failed(analysis_id, reason).await?;
        let (analysis, project) = self.load(analysis_id).await?;
        let client = self.client(&analysis, &project)?;
        let body = json!({
            "status": "completed",
            "conclusion": conclusion,
            "completed_at": rfc3339(unix_now()),
            "output": {
                "title": "Analysis could not finish",
                "summary": format!(
                    "flext-quality could not analyse this commit.\n\n**Reason:** {}\n\nRe-run the check to try again.",
                    crate::publish::markdown::text(reason)
                ),
            },
        });
        match analysis.check_run_id {
            Some(id) => {
                client
                    .update_check_run(&project.full_name, id, &body)
                    .await?
            }
            None => {
                let mut create = body;
                create["name"] = json!(CHECK_NAME);
                create["head_sha"] = json!(analysis.sha);
                client.create_check_run(&project.full_name, &create).await?;
            }
        }
        Ok(())
    }

    async fn fetch(
        &self,
        project: &ProjectUpsert,
        client: &InstallationClient,
        refs: Vec<String>,
        want: Vec<String>,
    ) -> Result<()> {
        // The clone URL comes from the payload: a token goes only to the GitHub we talk to.
        if let Some(app) = &self.github {
            crate::github::clone_url::check(app.api_url(), &project.clone_url)
                .map_err(|why| anyhow::Error::new(super::Permanent(why)))?;
        }
        let token = client
            .token()
            .await
            .context("getting an installation token")?;
        let lock = self.mirror_lock(project.id).await;
        let _guard = lock.lock().await;
        let mirrors = self.mirrors.clone();
        let (id, url) = (project.id, project.clone_url.clone());
        tokio::task::spawn_blocking(move || {
            let want: Vec<&str> = want.iter().map(String::as_str).collect();
            mirrors.fetch(id, &url, Some(&token), &refs, &want)
        })
        .await
        .context("fetch task")?
    }

    async fn analyse_commit(
        &self,
        repo_id: i64,
        sha: &str,
        config: &RepoConfig,
        config_sha: &str,
    ) -> Result<TreeAnalysis> {
        let mirrors = self.mirrors.clone();
        let sha_owned = sha.to_owned();
        let limits = self.tree_limits;
        let tree =
            tokio::task::spawn_blocking(move || mirrors.materialise(repo_id, &sha_owned, limits))
                .await
                .context("checkout task")?
                .map_err(
                    |e| match e.downcast::<crate::git::checkout::TreeTooLarge>() {
                        Ok(too_large) => {
                            anyhow::Error::new(super::Permanent(too_large.to_string()))
                        }
                        Err(other) => other,
                    },
                )?;
        let input = AnalysisInput {
            root: tree.path().to_path_buf(),
            config: config.clone(),
            config_files: Arc::new(CommitFiles {
                mirrors: self.mirrors.clone(),
                repo_id,
                sha: config_sha.to_owned(),
            }),
        };
        let result = self.engine.analyse(&input, None).await;
        drop(tree);
        result
    }

    /// The repository config at `sha` (for a pull request, the base: a PR cannot weaken its
    /// own gate or change what runs). `Ok(Err(..))` is the user's mistake, shown to them.
    async fn repo_config(&self, repo_id: i64, sha: &str) -> Result<Result<RepoConfig, String>> {
        let mirrors = self.mirrors.clone();
        let sha = sha.to_owned();
        tokio::task::spawn_blocking(move || {
            let read = |name: &str| {
                mirrors
                    .read_file(repo_id, &sha, name)
                    .ok()
                    .flatten()
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            };
            Ok(match load_repo_config(read) {
                Ok(Some((config, _))) => Ok(config),
                Ok(None) => Ok(RepoConfig::default()),
                Err(e) => Err(e.to_string()),
            })
        })
        .await
        .context("config task")?
    }

    async fn publish_config_error(
        &self,
        analysis: &AnalysisRow,
        project: &ProjectUpsert,
        client: &InstallationClient,
        error: &str,
        config_sha: &str,
    ) -> Result<()> {
        let check_run_id = self.check_run_id(analysis.id).await?;
        let body = json!({
            "status": "completed",
            "conclusion": "failure",
            "completed_at": rfc3339(unix_now()),
            "output": {
                "title": "The repository's flext-quality config is invalid",
                "summary": format!(
                    "flext-quality did not analyse this commit because its configuration (read from `{}`) is invalid:\n\n```\n{error}\n```\n\nFix the file on that branch; nothing in it is ignored silently.",
                    &config_sha[..config_sha.len().min(12)]
                ),
            },
        });
        client
            .update_check_run(&project.full_name, check_run_id, &body)
            .await?;
        self.store
            .mark_analysis_failed(analysis.id, &format!("invalid config: {error}"))
            .await
    }

    /// The findings of the commit to compare with, analysing it first if nobody has (or if it
    /// was analysed under another configuration, whose findings would not be comparable).
    async fn base_findings(
        &self,
        project: &ProjectUpsert,
        sha: &str,
        config: &RepoConfig,
        config_sha: &str,
        gate_config: &GateConfig,
    ) -> Result<(Vec<Finding>, Option<f64>)> {
        let hash = config_hash(config);
        if let Some(existing) = self.store.find_analysis(project.id, sha).await? {
            if existing.status == "completed"
                && recorded_config_hash(&existing).as_deref() == Some(hash.as_str())
            {
                let findings = self.store.load_findings(existing.id).await?;
                return Ok((
                    findings.into_iter().map(|(f, _)| f).collect(),
                    existing.score,
                ));
            }
        }
        let row = self.store.ensure_base_analysis(project.id, sha).await?;
        let tree = self
            .analyse_commit(project.id, sha, config, config_sha)
            .await?;
        let s = score(
            tree.findings.iter().map(|f| (f.category, f.severity)),
            tree.ncloc,
        );
        let severities: Vec<Severity> = tree.findings.iter().map(|f| f.severity).collect();
        let gate = verdict(&tree, &s, &severities, true, None, None, gate_config);
        let result = result_for(
            Judged {
                tree: &tree,
                score: &s,
                gate: &gate,
            },
            None,
            tree.findings.iter().map(|f| (f.clone(), true)).collect(),
            0,
            HashMap::new(),
            &hash,
        )?;
        // A commit that is also analysed in its own right keeps that analysis.
        if row.trigger == "base" {
            self.store.save_analysis_result(row.id, &result).await?;
        }
        Ok((tree.findings, Some(s.score)))
    }

    /// Runs the whole analysis of one queued analysis row.
    pub async fn run(&self, analysis_id: i64) -> Result<()> {
        let started = Instant::now();
        let mut timings: HashMap<String, u64> = HashMap::new();
        let (analysis, project) = self.load(analysis_id).await?;
        let client = self.client(&analysis, &project)?;
        let is_pr = analysis.pr_number.is_some();

        let t = Instant::now();
        let mut refs: Vec<String> = analysis
            .head_ref
            .iter()
            .chain(analysis.base_ref.iter())
            .cloned()
            .collect();
        if refs.is_empty() {
            refs.push(format!("refs/heads/{}", project.default_branch));
        }
        let mut want = vec![analysis.sha.clone()];
        if is_pr {
            want.extend(analysis.base_sha.iter().cloned());
        }
        self.fetch(&project, &client, refs, want).await?;
        timings.insert("fetch_ms".into(), t.elapsed().as_millis() as u64);

        let config_sha = if is_pr {
            analysis
                .base_sha
                .clone()
                .unwrap_or_else(|| analysis.sha.clone())
        } else {
            analysis.sha.clone()
        };
        let config = match self.repo_config(project.id, &config_sha).await? {
            Ok(c) => c,
            Err(error) => {
                return self
                    .publish_config_error(&analysis, &project, &client, &error, &config_sha)
                    .await
            }
        };
        let gate_config = self.gate.tightened_by(&config.gate);
        let hash = config_hash(&config);

        let t = Instant::now();
        let head = self
            .analyse_commit(project.id, &analysis.sha, &config, &config_sha)
            .await?;
        timings.insert("analyse_ms".into(), t.elapsed().as_millis() as u64);

        // What to compare with: a pull request's merge base (what the PR changed), or the
        // commit a push replaced when it was analysed.
        let t = Instant::now();
        let compared_sha = if is_pr {
            let base_tip = analysis
                .base_sha
                .clone()
                .context("pull request without a base commit")?;
            let mirrors = self.mirrors.clone();
            let (id, head_sha) = (project.id, analysis.sha.clone());
            let merge_base =
                tokio::task::spawn_blocking(move || mirrors.merge_base(id, &head_sha, &base_tip))
                    .await
                    .context("merge base task")??;
            Some(merge_base.context("the pull request shares no history with its base branch")?)
        } else {
            match &analysis.base_sha {
                Some(before) => match self.store.find_analysis(project.id, before).await? {
                    Some(a) if a.status == "completed" => Some(before.clone()),
                    _ => None,
                },
                None => None,
            }
        };
        let (base, base_score) = match &compared_sha {
            Some(sha) if sha == &analysis.sha => (head.findings.clone(), None),
            Some(sha) => {
                self.base_findings(&project, sha, &config, &config_sha, &gate_config)
                    .await?
            }
            None => (Vec::new(), None),
        };
        timings.insert("base_ms".into(), t.elapsed().as_millis() as u64);

        let base_prints: HashSet<&str> = base.iter().map(|f| f.fingerprint.as_str()).collect();
        let head_prints: HashSet<&str> = head
            .findings
            .iter()
            .map(|f| f.fingerprint.as_str())
            .collect();
        let fixed: Vec<Finding> = base
            .iter()
            .filter(|f| !head_prints.contains(f.fingerprint.as_str()))
            .cloned()
            .collect();
        let is_new = |f: &Finding| !base_prints.contains(f.fingerprint.as_str());
        let new_count = head.findings.iter().filter(|f| is_new(f)).count();

        let s = score(
            head.findings.iter().map(|f| (f.category, f.severity)),
            head.ncloc,
        );
        let gated: Vec<Severity> = head
            .findings
            .iter()
            .filter(|f| !is_pr || is_new(f))
            .map(|f| f.severity)
            .collect();
        // Suppressions the change added (`# noqa` and friends), against what it is compared with.
        let suppressions = match &compared_sha {
            Some(base) if base != &analysis.sha => {
                let mirrors = self.mirrors.clone();
                let (id, base, head_sha) = (project.id, base.clone(), analysis.sha.clone());
                let lines =
                    tokio::task::spawn_blocking(move || mirrors.added_lines(id, &base, &head_sha))
                        .await
                        .context("diff task")??;
                Some(suppression::added(&lines))
            }
            _ => None,
        };
        let gate = verdict(
            &head,
            &s,
            &gated,
            !is_pr,
            base_score,
            suppressions.as_ref().map(|v| v.len() as u64),
            &gate_config,
        );
        let changed = match (config.report.annotate, &compared_sha) {
            (Annotate::ChangedLines, Some(base)) => {
                let mirrors = self.mirrors.clone();
                let (id, base, head_sha) = (project.id, base.clone(), analysis.sha.clone());
                Some(
                    tokio::task::spawn_blocking(move || {
                        mirrors.changed_lines(id, &base, &head_sha)
                    })
                    .await
                    .context("diff task")??,
                )
            }
            _ => None,
        };
        let annotate = |f: &Finding| match config.report.annotate {
            Annotate::New => is_new(f),
            Annotate::All => true,
            Annotate::ChangedLines => changed.as_ref().is_none_or(|c| {
                c.get(&f.path).is_some_and(|ranges| {
                    ranges
                        .iter()
                        .any(|(a, b)| f.start_line <= *b && f.end_line >= *a)
                })
            }),
        };

        let t = Instant::now();
        let report = Report {
            score: &s,
            base_score,
            gate: &gate,
            findings: &head.findings,
            is_new: &is_new,
            annotate: &annotate,
            fixed: &fixed,
            compared_sha: compared_sha.as_deref(),
            backends: &head.reports,
            max_annotations: self
                .max_annotations
                .min(config.report.max_annotations as usize),
            whole_code: !is_pr,
            suppressions: suppressions.as_deref().unwrap_or(&[]),
            jail: self.jail_note(),
        };
        let check_run_id = self.check_run_id(analysis.id).await?;
        let requests = completion_requests(&report, &rfc3339(unix_now()));
        let request_count = requests.len();
        timings.insert("total_ms".into(), started.elapsed().as_millis() as u64);
        let result = result_for(
            Judged {
                tree: &head,
                score: &s,
                gate: &gate,
            },
            compared_sha.clone(),
            head.findings
                .iter()
                .map(|f| (f.clone(), is_new(f)))
                .collect(),
            fixed.len() as i64,
            timings.clone(),
            &hash,
        )?;
        debug_assert_eq!(result.new_count as usize, new_count);
        // Save before publishing: a failure to publish retries the job, and the saved result
        // is what the dashboard and later comparisons read.
        self.store
            .save_analysis_result(analysis.id, &result)
            .await?;
        for body in requests {
            client
                .update_check_run(&project.full_name, check_run_id, &body)
                .await
                .context("completing the check run")?;
        }
        tracing::info!(
            verdict = gate.verdict.as_str(),
            score = s.score,
            grade = %s.grade,
            findings = head.findings.len(),
            new = new_count,
            fixed = fixed.len(),
            publish_requests = request_count,
            publish_ms = t.elapsed().as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "analysis complete"
        );
        Ok(())
    }
}

/// A short hash of the effective repository config, recorded with each analysis.
fn config_hash(config: &RepoConfig) -> String {
    let text = serde_json::to_string(config).unwrap_or_default();
    crate::domain::fingerprint::digest_hex(text.as_bytes())[..16].to_owned()
}

fn recorded_config_hash(analysis: &AnalysisRow) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(analysis.tool_versions.as_deref()?).ok()?;
    v.get("config")?.as_str().map(str::to_owned)
}

fn verdict(
    tree: &TreeAnalysis,
    s: &Score,
    gated: &[Severity],
    whole_code: bool,
    base_score: Option<f64>,
    suppressions_added: Option<u64>,
    gate_config: &GateConfig,
) -> GateResult {
    if !tree.any_backend_applied() {
        let reasons: Vec<String> = tree
            .reports
            .iter()
            .map(|r| match &r.status {
                crate::analysis::engine::BackendStatus::NotApplicable(why) => {
                    format!("{}: {why}", r.name)
                }
                other => format!("{}: {other:?}", r.name),
            })
            .collect();
        return gate::neutral(format!("nothing to analyse ({})", reasons.join("; ")));
    }
    gate::evaluate(
        gate_config,
        &GateInput {
            new_severities: gated,
            whole_code,
            score: s,
            base_score,
            suppressions_added,
            failed_backends: &tree.failed_backends(),
        },
    )
}

/// What an analysis concluded, before it is saved.
struct Judged<'a> {
    tree: &'a TreeAnalysis,
    score: &'a Score,
    gate: &'a GateResult,
}

fn result_for(
    judged: Judged<'_>,
    compared_sha: Option<String>,
    findings: Vec<(Finding, bool)>,
    fixed_count: i64,
    timings: HashMap<String, u64>,
    config_hash: &str,
) -> Result<AnalysisResult> {
    let new_count = findings.iter().filter(|(_, n)| *n).count() as i64;
    let (tree, s, gate) = (judged.tree, judged.score, judged.gate);
    let mut versions = tree.tool_versions().into_iter().collect::<Vec<_>>();
    versions.sort();
    if findings.iter().any(|(f, _)| f.path.is_empty()) {
        bail!("a finding without a path slipped through normalisation");
    }
    Ok(AnalysisResult {
        compared_sha,
        tool_versions_json: serde_json::to_string(&json!({
            "versions": versions.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
            "backends": tree.reports,
            "config": config_hash,
        }))?,
        ncloc: tree.ncloc as i64,
        score: s.score,
        grade: s.grade.to_string(),
        deductions: [s.security, s.reliability, s.maintainability],
        verdict: gate.verdict.as_str().into(),
        gate_json: serde_json::to_string(gate)?,
        new_count,
        fixed_count,
        timings_json: serde_json::to_string(&timings)?,
        findings,
    })
}
