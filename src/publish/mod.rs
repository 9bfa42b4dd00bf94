//! What flext-quality tells people. A saved analysis becomes an [`Outcome`] — the one view
//! model every sink reads — and each sink is a [`Publisher`] run as its own retried outbox
//! task. Also the local `analyze` output formats, and Markdown escaping.
//!
//! Adding a sink: write `publish/<sink>.rs` with a type that implements [`Publisher`], add its
//! [`Sink`] variant, and register it in [`publisher`].

pub mod check_run;
pub mod events;
pub mod local;
pub mod markdown;
pub mod pr_comment;
pub mod render;
pub mod slack;

use crate::domain::events::Project;
use crate::domain::finding::Finding;
use crate::domain::gate::GateResult;
use crate::domain::status::Sink;
use crate::github::app::{Access, GitHubApp, TokenScope};
use crate::github::client::InstallationClient;
use crate::store::{AnalysisDetails, AnalysisRow, PublishTask, SavedFinding, Store};
use anyhow::{Context, Result};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A saved analysis as the sinks see it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub project: Project,
    pub analysis: AnalysisRow,
    pub details: AnalysisDetails,
    pub findings: Vec<SavedFinding>,
    pub fixed: Vec<Finding>,
}

impl Outcome {
    pub async fn load(store: &Store, analysis_id: i64) -> Result<Outcome> {
        let analysis = store
            .get_analysis(analysis_id)
            .await?
            .with_context(|| format!("analysis {analysis_id} does not exist"))?;
        let project = store
            .get_project(analysis.project_id)
            .await?
            .with_context(|| format!("project {} does not exist", analysis.project_id))?;
        Ok(Outcome {
            details: store.analysis_details(analysis_id).await?,
            findings: store.load_findings(analysis_id).await?,
            fixed: store.load_fixed(analysis_id).await?,
            project,
            analysis,
        })
    }

    /// The check run's report, when the analysis has a result.
    pub fn report(&self) -> Option<render::Report<'_>> {
        let d = &self.details;
        Some(render::Report {
            score: d.score.as_ref(),
            base_score: d.base_score,
            gate: d.gate.as_ref()?,
            findings: &self.findings,
            fixed: &self.fixed,
            compared_sha: self.analysis.compared_sha.as_deref(),
            backends: &d.backends,
            max_annotations: d.max_annotations,
            suppressions: d.suppressions.as_deref().unwrap_or(&[]),
            jail: d.jail.as_deref(),
            test_code: d.test_code.as_ref(),
        })
    }
}

/// What publishing needs besides the outcome.
pub struct PublishContext {
    pub store: Store,
    pub github: Option<Arc<GitHubApp>>,
    pub public_url: Option<String>,
    /// `SLACK_WEBHOOK_URL`, the default destination of state-change alerts.
    pub slack_default: Option<secrecy::SecretString>,
    /// Opens the per-project secrets sealed in the database.
    pub secrets: Option<Arc<crate::secret_box::SecretBox>>,
    /// For requests that are not to GitHub (Slack; event hooks have their own client).
    pub http: reqwest::Client,
}

/// Why an attempt to publish failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Worth trying again later (GitHub 5xx, a rate limit, the network).
    #[error("{0:#}")]
    Retry(anyhow::Error),
    /// Trying again cannot help (the App is not configured, the resource is gone).
    #[error("{0}")]
    Permanent(String),
    /// The service asked us to wait this long (a rate limit); not a failed attempt.
    #[error("asked to wait: {1}")]
    WaitAndRetry(std::time::Duration, String),
}

pub type PublishFuture<'a> = Pin<Box<dyn Future<Output = Result<(), PublishError>> + Send + 'a>>;

/// One place an outcome is published. Implementations are idempotent: a retry updates what an
/// earlier attempt created (remembered in the task's `external_id`) instead of creating again.
pub trait Publisher: Send + Sync {
    fn sink(&self) -> Sink;
    fn publish<'a>(
        &'a self,
        cx: &'a PublishContext,
        task: &'a PublishTask,
        outcome: &'a Outcome,
    ) -> PublishFuture<'a>;
}

/// The publisher of a sink.
pub fn publisher(sink: Sink) -> &'static dyn Publisher {
    match sink {
        Sink::CheckRun => &check_run::CheckRunPublisher,
        Sink::PrComment => &pr_comment::PrCommentPublisher,
        Sink::Slack => &slack::SlackPublisher,
        Sink::Events => &events::EventsPublisher,
    }
}

/// The gate's conditions as a Markdown table (empty when there are none).
pub fn gate_table(gate: &GateResult) -> String {
    if gate.conditions.is_empty() {
        return String::new();
    }
    let mut s =
        String::from("| condition | actual | required | result |\n| --- | --- | --- | --- |\n");
    for c in &gate.conditions {
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            c.name,
            markdown::text(&c.actual),
            c.threshold,
            if c.passed { "pass" } else { "**fail**" }
        ));
    }
    s
}

/// The client for an outcome's repository, with the permissions `access` gives.
pub fn client(
    cx: &PublishContext,
    outcome: &Outcome,
    access: Access,
) -> Result<InstallationClient, PublishError> {
    let app = cx.github.clone().ok_or_else(|| {
        PublishError::Permanent(
            "the GitHub App is not configured (GITHUB_APP_ID and GITHUB_PRIVATE_KEY)".into(),
        )
    })?;
    let installation = outcome
        .analysis
        .installation_id
        .or(outcome.project.installation_id)
        .ok_or_else(|| {
            PublishError::Permanent(format!(
                "{} has no known installation of the App",
                outcome.project.full_name
            ))
        })?;
    let scope = TokenScope {
        repository_id: outcome.project.id,
        access,
    };
    Ok(InstallationClient::new(app, installation, scope))
}
