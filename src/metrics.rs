//! What an operator watches, in Prometheus's text format at `/metrics`: webhooks and refusals,
//! the queue, job and stage durations, backends, verdicts and grades, the requests to GitHub
//! and Slack, and whether the jail works. One process-wide registry; the queue's gauges are
//! read from the database at each scrape (every instance sees the same queue).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::LazyLock;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    pub event: String,
    /// What the delivery led to: `enqueued`, `duplicate`, `recorded`, …
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub kind: String,
    /// `done`, `retried`, `failed`, `postponed`, `lost`, `handed_back`, `cancelled`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    pub stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    pub backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    pub verdict: String,
    pub grade: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    /// The HTTP status, or `error` when no answer came.
    pub status: String,
}

/// Every metric, registered once.
pub struct Metrics {
    registry: Registry,
    /// The exposed names of every family (`flext_quality_…`, counters with `_total`).
    names: Vec<String>,
    pub webhooks: Family<WebhookLabels, Counter>,
    pub webhooks_refused: Family<ReasonLabels, Counter>,
    pub queue_depth: Family<KindLabels, Gauge>,
    pub queue_oldest_seconds: Family<KindLabels, Gauge<f64, AtomicU64>>,
    pub job_seconds: Family<JobLabels, Histogram>,
    pub stage_seconds: Family<StageLabels, Histogram>,
    pub backend_seconds: Family<BackendLabels, Histogram>,
    pub backend_failures: Family<BackendLabels, Counter>,
    pub analyses: Family<VerdictLabels, Counter>,
    pub github_requests: Family<StatusLabels, Counter>,
    pub github_rate_limit_pauses: Counter,
    pub slack_requests: Family<StatusLabels, Counter>,
    pub jail_available: Gauge,
}

fn seconds_histogram() -> Histogram {
    // 10 ms … ~40 min.
    Histogram::new(exponential_buckets(0.01, 2.0, 18))
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("flext_quality");
        let mut names = Vec::new();
        let m = Metrics {
            webhooks: Family::default(),
            webhooks_refused: Family::default(),
            queue_depth: Family::default(),
            queue_oldest_seconds: Family::default(),
            job_seconds: Family::new_with_constructor(seconds_histogram),
            stage_seconds: Family::new_with_constructor(seconds_histogram),
            backend_seconds: Family::new_with_constructor(seconds_histogram),
            backend_failures: Family::default(),
            analyses: Family::default(),
            github_requests: Family::default(),
            github_rate_limit_pauses: Counter::default(),
            slack_requests: Family::default(),
            jail_available: Gauge::default(),
            registry: Registry::default(),
            names: Vec::new(),
        };
        registry.register(
            "webhooks",
            "Webhook deliveries accepted, by event and what they led to",
            m.webhooks.clone(),
        );
        names.push("flext_quality_webhooks_total".to_owned());
        registry.register(
            "webhooks_refused",
            "Webhook deliveries refused, by reason",
            m.webhooks_refused.clone(),
        );
        names.push("flext_quality_webhooks_refused_total".to_owned());
        registry.register(
            "queue_depth",
            "Jobs queued (not yet running), by kind",
            m.queue_depth.clone(),
        );
        names.push("flext_quality_queue_depth".to_owned());
        registry.register(
            "queue_oldest_age_seconds",
            "Age of the oldest queued job that may run now, by kind",
            m.queue_oldest_seconds.clone(),
        );
        names.push("flext_quality_queue_oldest_age_seconds".to_owned());
        registry.register(
            "job_duration_seconds",
            "Job attempts, by kind and outcome",
            m.job_seconds.clone(),
        );
        names.push("flext_quality_job_duration_seconds".to_owned());
        registry.register(
            "stage_duration_seconds",
            "Analysis stages (fetch, analyse, save, total)",
            m.stage_seconds.clone(),
        );
        names.push("flext_quality_stage_duration_seconds".to_owned());
        registry.register(
            "backend_duration_seconds",
            "Analysis backend runs, by backend",
            m.backend_seconds.clone(),
        );
        names.push("flext_quality_backend_duration_seconds".to_owned());
        registry.register(
            "backend_failures",
            "Analysis backend runs that failed or timed out, by backend",
            m.backend_failures.clone(),
        );
        names.push("flext_quality_backend_failures_total".to_owned());
        registry.register(
            "analyses",
            "Analyses completed, by verdict and grade",
            m.analyses.clone(),
        );
        names.push("flext_quality_analyses_total".to_owned());
        registry.register(
            "github_requests",
            "Requests to GitHub's API, by status",
            m.github_requests.clone(),
        );
        names.push("flext_quality_github_requests_total".to_owned());
        registry.register(
            "github_rate_limit_pauses",
            "Times an installation's requests were paused by a GitHub rate limit",
            m.github_rate_limit_pauses.clone(),
        );
        names.push("flext_quality_github_rate_limit_pauses_total".to_owned());
        registry.register(
            "slack_requests",
            "Requests to Slack, by status",
            m.slack_requests.clone(),
        );
        names.push("flext_quality_slack_requests_total".to_owned());
        registry.register(
            "jail_available",
            "1 when analysis tools run in the bubblewrap jail here, 0 when not",
            m.jail_available.clone(),
        );
        names.push("flext_quality_jail_available".to_owned());
        Metrics {
            registry,
            names,
            ..m
        }
    }

    /// The exposed name of every metric family (a family appears in the text once it has a
    /// sample).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String does not fail");
        out
    }
}

/// The process's metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

pub fn webhook(event: &str, outcome: &str) {
    METRICS
        .webhooks
        .get_or_create(&WebhookLabels {
            event: event.to_owned(),
            outcome: outcome.to_owned(),
        })
        .inc();
}

pub fn refused(reason: &str) {
    METRICS
        .webhooks_refused
        .get_or_create(&ReasonLabels {
            reason: reason.to_owned(),
        })
        .inc();
}

pub fn job(kind: &str, outcome: &str, seconds: f64) {
    METRICS
        .job_seconds
        .get_or_create(&JobLabels {
            kind: kind.to_owned(),
            outcome: outcome.to_owned(),
        })
        .observe(seconds);
}

pub fn stage(stage: &str, seconds: f64) {
    METRICS
        .stage_seconds
        .get_or_create(&StageLabels {
            stage: stage.to_owned(),
        })
        .observe(seconds);
}

pub fn backend(name: &str, seconds: f64, failed: bool) {
    let labels = BackendLabels {
        backend: name.to_owned(),
    };
    METRICS
        .backend_seconds
        .get_or_create(&labels)
        .observe(seconds);
    if failed {
        METRICS.backend_failures.get_or_create(&labels).inc();
    }
}

pub fn analysis(verdict: &str, grade: Option<&str>) {
    METRICS
        .analyses
        .get_or_create(&VerdictLabels {
            verdict: verdict.to_owned(),
            grade: grade.unwrap_or("none").to_owned(),
        })
        .inc();
}

pub fn github_request(status: Option<u16>) {
    METRICS
        .github_requests
        .get_or_create(&StatusLabels {
            status: status.map_or("error".into(), |s| s.to_string()),
        })
        .inc();
}

pub fn slack_request(status: Option<u16>) {
    METRICS
        .slack_requests
        .get_or_create(&StatusLabels {
            status: status.map_or("error".into(), |s| s.to_string()),
        })
        .inc();
}

pub fn jail(available: bool) {
    METRICS.jail_available.set(i64::from(available));
}
