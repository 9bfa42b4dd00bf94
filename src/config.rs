//! Settings from the environment (12-factor; a `.env` file is read if present).
//!
//! [`AnalysisSettings`] are what running the tools needs (the local `analyze` reads only
//! these); [`Settings`] adds the server's. Secrets are held as [`SecretString`] so they never
//! end up in logs or `Debug` output. Paths are made absolute at start, so nothing depends on
//! the working directory a tool is later started in.

use crate::analysis::backends::sarif::SarifTool;
use crate::analysis::jail::SandboxSetting;
use crate::analysis::toolchain::absolute;
use anyhow::{bail, Context, Result};
use secrecy::{ExposeSecret, SecretString};
use std::path::PathBuf;

mod policy;
pub use policy::{policy_in_force, Policy, PolicySource};

/// Every variable flext-quality reads, with what it means (for `--help` and `.env.example`).
pub const VARIABLES: &[(&str, &str)] = &[
    (
        "DATABASE_URL",
        "postgres://… for production; default an SQLite file in the data dir",
    ),
    ("GITHUB_APP_ID", "the GitHub App's numeric id"),
    (
        "GITHUB_PRIVATE_KEY",
        "the App's private key, PEM text (\\n escapes accepted)",
    ),
    ("GITHUB_PRIVATE_KEY_PATH", "or a path to the PEM file"),
    (
        "GITHUB_WEBHOOK_SECRET",
        "webhook secret(s), comma-separated while rotating",
    ),
    (
        "GITHUB_API_URL",
        "default https://api.github.com; GitHub Enterprise: https://HOST/api/v3",
    ),
    ("PORT", "HTTP port (default 3000)"),
    (
        "SLACK_WEBHOOK_URL",
        "Slack incoming-webhook URL for state-change alerts (a secret)",
    ),
    (
        "FLEXT_QUALITY_SECRET_KEY",
        "a long random string; seals per-project secrets (Slack URLs) in the database",
    ),
    (
        "FLEXT_QUALITY_EVENT_HOOKS",
        "outgoing event hooks, a JSON list of {url, secret, events} (secrets; needs FLEXT_QUALITY_SECRET_KEY)",
    ),
    (
        "FLEXT_QUALITY_RECONCILE_SECS",
        "how often missed webhook deliveries are looked for and redelivered (default 600)",
    ),
    ("PUBLIC_URL", "this server's public URL, for links"),
    (
        "FLEXT_QUALITY_SESSION_KEY",
        "a long random string; signs dashboard sessions (random per start when unset)",
    ),
    (
        "GITHUB_CLIENT_ID",
        "the App's OAuth client id, for dashboard sign-in with GitHub",
    ),
    ("GITHUB_CLIENT_SECRET", "the App's OAuth client secret"),
    (
        "GITHUB_WEB_URL",
        "GitHub's web host, for sign-in and /setup (default: that of GITHUB_API_URL, https://github.com)",
    ),
    (
        "FLY_APP_NAME",
        "set by Fly.io itself: /setup then shows the `fly secrets set` line instead of writing .env",
    ),
    (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "an OTLP/HTTP collector (http://HOST:4318): spans of webhooks, jobs and stages are sent there as JSON",
    ),
    (
        "OTEL_SERVICE_NAME",
        "the service name on exported spans (default flext-quality)",
    ),
    (
        "FLEXT_QUALITY_METRICS_TOKEN",
        "when set, /metrics needs it as `Authorization: Bearer …` (a secret)",
    ),
    (
        "FLEXT_QUALITY_SHUTDOWN_GRACE_SECS",
        "on SIGTERM, how long running jobs may finish before they are handed back (default 25)",
    ),
    (
        "FLEXT_QUALITY_ADMINS",
        "GitHub logins (comma-separated) who are dashboard admins",
    ),
    (
        "FLEXT_QUALITY_DATA_DIR",
        "mirrors, work trees, caches, the SQLite file (default ./.data)",
    ),
    (
        "FLEXT_QUALITY_TOOLS_DIR",
        "the pinned tools (default ~/.local/share/flext-quality/tools)",
    ),
    (
        "FLEXT_QUALITY_SANDBOX",
        "required (default) or off: run tools without the jail, trusted code only",
    ),
    (
        "FLEXT_QUALITY_ANALYSIS_TIMEOUT_SECS",
        "wall-clock limit per tool run (default 600)",
    ),
    (
        "FLEXT_QUALITY_ANALYSIS_CORES",
        "cores the tools of one process keep busy at once (default: all, at most 16)",
    ),
    (
        "FLEXT_QUALITY_JOB_DEADLINE_SECS",
        "limit of one whole analysis job (default 1800)",
    ),
    (
        "FLEXT_QUALITY_MAX_FINDINGS_PER_BACKEND",
        "findings kept per backend (default 20000)",
    ),
    (
        "FLEXT_QUALITY_MAX_TREE_BYTES",
        "largest commit analysed, in bytes (default 2 GiB)",
    ),
    (
        "FLEXT_QUALITY_MAX_TREE_ENTRIES",
        "most files a commit may have (default 200000)",
    ),
    (
        "FLEXT_QUALITY_MAX_ATTEMPTS",
        "attempts per analysis (default 3)",
    ),
    ("FLEXT_QUALITY_LEASE_SECS", "job lease (default 60)"),
    (
        "FLEXT_QUALITY_MAX_ANNOTATIONS",
        "annotations per check run (default 1000)",
    ),
    (
        "FLEXT_QUALITY_POLICY_FILE",
        "server policy: rule overrides and the base gate (TOML)",
    ),
    (
        "FLEXT_QUALITY_SARIF_TOOLS",
        "extra tools, a JSON list of {name, command}, run in the jail",
    ),
    ("RUST_LOG", "log filter (default info)"),
    ("LOG_FORMAT", "pretty (default) or json"),
];

/// The `--help` paragraph listing the environment variables a command reads.
pub fn variables_help(names: &[&str]) -> String {
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    let mut out = String::from(
        "Environment variables it reads (a .env file in the working directory is read too):\n",
    );
    for name in names {
        let meaning = VARIABLES
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, m)| *m);
        out.push_str(&format!("  {name:<width$}  {meaning}\n"));
    }
    out
}

/// What running the analysis tools needs: shared by `serve`, `worker` and `analyze`.
#[derive(Debug, Clone)]
pub struct AnalysisSettings {
    /// Where the pinned tools live (absolute).
    pub tools_dir: PathBuf,
    /// Where caches live (absolute).
    pub cache_dir: PathBuf,
    pub sandbox: SandboxSetting,
    pub analysis_timeout_secs: u64,
    /// Cores the tools of this process may keep busy at once (Bandit is sharded over them).
    pub cores: usize,
    pub max_findings_per_backend: usize,
    /// Server policy: rule overrides and the gate every repository starts from.
    pub policy: Policy,
    /// Extra SARIF tools (`FLEXT_QUALITY_SARIF_TOOLS`, a JSON list of `{name, command}`).
    pub sarif_tools: Vec<SarifTool>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub analysis: AnalysisSettings,
    pub database_url: Option<SecretString>,
    /// Absolute.
    pub data_dir: PathBuf,
    pub port: u16,
    pub public_url: Option<String>,
    pub log_format: LogFormat,
    pub github: GitHubSettings,
    pub job_deadline_secs: u64,
    pub max_attempts: i64,
    pub lease_secs: u64,
    pub max_annotations: usize,
    pub max_tree_bytes: u64,
    pub max_tree_entries: u64,
    /// The default destination of state-change alerts.
    pub slack_webhook_url: Option<SecretString>,
    /// Seals per-project secrets in the database.
    pub secret_key: Option<SecretString>,
    /// Seconds between looks for missed webhook deliveries (0: never).
    pub reconcile_secs: u64,
    pub web: WebSettings,
    /// How long running jobs may take to finish after SIGTERM before they are handed back.
    pub shutdown_grace_secs: u64,
    /// When set, `/metrics` needs it as a bearer token.
    pub metrics_token: Option<SecretString>,
    /// `FLEXT_QUALITY_EVENT_HOOKS`: registered (and kept in step) at server start.
    pub event_hooks: Vec<EventHookSetting>,
    /// `FLY_APP_NAME`, which Fly.io sets on its machines: `/setup` cannot keep the App's
    /// settings in a `.env` there (the disk is the image's), so it shows `fly secrets set`.
    pub fly_app_name: Option<String>,
}

/// Who may see the dashboard and the API, and how they sign in.
#[derive(Debug, Clone, Default)]
pub struct WebSettings {
    /// Signs session cookies; a random key per start when unset.
    pub session_key: Option<SecretString>,
    /// GitHub sign-in (OAuth web flow); without it, one-time links printed by `serve`.
    pub oauth: Option<OAuthSettings>,
    /// Lower-cased GitHub logins who are admins.
    pub admins: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct OAuthSettings {
    pub client_id: String,
    pub client_secret: SecretString,
    /// Where people authorize (`https://github.com`, or a GitHub Enterprise host).
    pub web_url: String,
}

/// `GITHUB_API_URL`, default `https://api.github.com`.
fn api_url() -> String {
    var("GITHUB_API_URL")
        .unwrap_or_else(|| "https://api.github.com".into())
        .trim_end_matches('/')
        .to_owned()
}

/// `GITHUB_WEB_URL`: where people sign in and where `/setup` creates the App. By default the
/// web host of `GITHUB_API_URL` (`https://github.com`, or a GitHub Enterprise host), so
/// GitHub Enterprise needs only its API URL.
fn web_url() -> String {
    var("GITHUB_WEB_URL")
        .unwrap_or_else(|| crate::github::web_url(&api_url()))
        .trim_end_matches('/')
        .to_owned()
}

impl WebSettings {
    fn from_env() -> Result<WebSettings> {
        let oauth = match (var("GITHUB_CLIENT_ID"), var("GITHUB_CLIENT_SECRET")) {
            (Some(client_id), Some(secret)) => Some(OAuthSettings {
                client_id,
                client_secret: SecretString::from(secret),
                web_url: web_url(),
            }),
            (None, None) => None,
            _ => bail!("set both GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET, or neither"),
        };
        Ok(WebSettings {
            session_key: var("FLEXT_QUALITY_SESSION_KEY").map(SecretString::from),
            oauth,
            admins: var("FLEXT_QUALITY_ADMINS")
                .unwrap_or_default()
                .split(',')
                .map(|l| l.trim().to_lowercase())
                .filter(|l| !l.is_empty())
                .collect(),
        })
    }
}

/// One hook of `FLEXT_QUALITY_EVENT_HOOKS`: where events go, the secret they are signed with,
/// and which events (`analysis.completed`, `gate.changed`).
#[derive(Debug, Clone)]
pub struct EventHookSetting {
    pub url: SecretString,
    pub secret: SecretString,
    pub events: Vec<String>,
}

/// The JSON form, turned into secret types at once.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EventHookJson {
    url: String,
    secret: String,
    events: Vec<String>,
}

/// Reads `FLEXT_QUALITY_EVENT_HOOKS` and checks each hook; errors name the hook by its place
/// and host, never its URL or secret (a URL may carry a token).
pub fn parse_event_hooks(json: &str) -> Result<Vec<EventHookSetting>> {
    let hooks: Vec<EventHookJson> = serde_json::from_str(json).map_err(|e| {
        // serde's message can quote a value, which may be the URL or the secret.
        anyhow::anyhow!(
            "FLEXT_QUALITY_EVENT_HOOKS must be a JSON list of {{\"url\", \"secret\", \"events\": [...]}} (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let mut out = Vec::new();
    for (i, h) in hooks.into_iter().enumerate() {
        crate::domain::outgoing::validate_hook(&h.url, &h.secret, &h.events)
            .map_err(|e| anyhow::anyhow!("FLEXT_QUALITY_EVENT_HOOKS, hook {}: {e}", i + 1))?;
        out.push(EventHookSetting {
            url: SecretString::from(h.url),
            secret: SecretString::from(h.secret),
            events: h.events,
        });
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct GitHubSettings {
    pub app_id: Option<u64>,
    pub private_key: Option<SecretString>,
    /// Any of these verifies a webhook (several during a secret rotation).
    pub webhook_secrets: Vec<SecretString>,
    pub api_url: String,
    /// GitHub's web host (`GITHUB_WEB_URL`, default `https://github.com`): where the manifest
    /// flow creates the App and people sign in.
    pub web_url: String,
}

impl GitHubSettings {
    /// True when the App can act: both its id and its key are set.
    pub fn app_configured(&self) -> bool {
        self.app_id.is_some() && self.private_key.is_some()
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_var<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{name} has an invalid value `{v}`")),
    }
}

/// `$XDG_DATA_HOME/flext-quality/tools`, i.e. `~/.local/share/flext-quality/tools`: one place
/// per user, shared by `serve`, `worker` and `analyze` wherever they are started.
pub fn default_tools_dir() -> PathBuf {
    let data_home = var("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| std::env::temp_dir().join("flext-quality-data"));
    data_home.join("flext-quality").join("tools")
}

fn data_dir() -> PathBuf {
    absolute(&var("FLEXT_QUALITY_DATA_DIR").map_or_else(|| PathBuf::from(".data"), PathBuf::from))
}

impl AnalysisSettings {
    /// Reads only what running the tools needs, so `analyze` works whatever the server's
    /// settings say.
    pub fn from_env() -> Result<AnalysisSettings> {
        let tools_dir =
            absolute(&var("FLEXT_QUALITY_TOOLS_DIR").map_or_else(default_tools_dir, PathBuf::from));
        let sandbox = match var("FLEXT_QUALITY_SANDBOX") {
            None => SandboxSetting::Required,
            Some(v) => v
                .trim()
                .parse()
                .map_err(|e| anyhow::anyhow!("FLEXT_QUALITY_SANDBOX: {e}"))?,
        };
        Ok(AnalysisSettings {
            tools_dir,
            cache_dir: data_dir().join("cache"),
            sandbox,
            analysis_timeout_secs: parse_var("FLEXT_QUALITY_ANALYSIS_TIMEOUT_SECS", 600)?,
            cores: match parse_var(
                "FLEXT_QUALITY_ANALYSIS_CORES",
                crate::analysis::cpu::available_cores(),
            )? {
                0 => bail!("FLEXT_QUALITY_ANALYSIS_CORES must be at least 1"),
                n => n,
            },
            max_findings_per_backend: parse_var(
                "FLEXT_QUALITY_MAX_FINDINGS_PER_BACKEND",
                crate::analysis::engine::DEFAULT_MAX_FINDINGS,
            )?,
            policy: match var("FLEXT_QUALITY_POLICY_FILE") {
                None => Policy::default(),
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading FLEXT_QUALITY_POLICY_FILE {path}"))?;
                    Policy::from_toml(&text)
                        .with_context(|| format!("FLEXT_QUALITY_POLICY_FILE {path}"))?
                }
            },
            sarif_tools: match var("FLEXT_QUALITY_SARIF_TOOLS") {
                None => Vec::new(),
                Some(json) => SarifTool::parse_list(&json)
                    .map_err(|e| anyhow::anyhow!("FLEXT_QUALITY_SARIF_TOOLS: {e}"))?,
            },
        })
    }
}

impl Settings {
    /// Reads the settings from the process environment (after loading `.env`, if any).
    pub fn from_env() -> Result<Settings> {
        let private_key = match (var("GITHUB_PRIVATE_KEY"), var("GITHUB_PRIVATE_KEY_PATH")) {
            (Some(pem), _) => Some(SecretString::from(pem.replace("\\n", "\n"))),
            (None, Some(path)) => Some(SecretString::from(
                std::fs::read_to_string(&path)
                    .with_context(|| format!("reading GITHUB_PRIVATE_KEY_PATH {path}"))?,
            )),
            (None, None) => None,
        };
        let webhook_secrets = var("GITHUB_WEBHOOK_SECRET")
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| SecretString::from(s.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let log_format = match var("LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("LOG_FORMAT must be json or pretty, not `{other}`"),
        };
        let app_id = match var("GITHUB_APP_ID") {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse()
                    .map_err(|_| anyhow::anyhow!("GITHUB_APP_ID must be a number, not `{v}`"))?,
            ),
        };
        let event_hooks = match var("FLEXT_QUALITY_EVENT_HOOKS") {
            None => Vec::new(),
            Some(json) => parse_event_hooks(&json)?,
        };
        if !event_hooks.is_empty() && var("FLEXT_QUALITY_SECRET_KEY").is_none() {
            bail!("FLEXT_QUALITY_EVENT_HOOKS is set but FLEXT_QUALITY_SECRET_KEY is not: the key seals the hooks' URLs and secrets in the database");
        }
        Ok(Settings {
            analysis: AnalysisSettings::from_env()?,
            database_url: var("DATABASE_URL").map(SecretString::from),
            port: parse_var("PORT", 3000)?,
            public_url: var("PUBLIC_URL").map(|u| u.trim_end_matches('/').to_owned()),
            log_format,
            github: GitHubSettings {
                app_id,
                private_key,
                webhook_secrets,
                api_url: api_url(),
                web_url: web_url(),
            },
            job_deadline_secs: parse_var("FLEXT_QUALITY_JOB_DEADLINE_SECS", 1800)?,
            max_attempts: parse_var("FLEXT_QUALITY_MAX_ATTEMPTS", 3)?,
            lease_secs: parse_var("FLEXT_QUALITY_LEASE_SECS", 60)?,
            max_annotations: parse_var("FLEXT_QUALITY_MAX_ANNOTATIONS", 1000)?,
            max_tree_bytes: parse_var("FLEXT_QUALITY_MAX_TREE_BYTES", 2u64 << 30)?,
            max_tree_entries: parse_var("FLEXT_QUALITY_MAX_TREE_ENTRIES", 200_000)?,
            slack_webhook_url: var("SLACK_WEBHOOK_URL").map(SecretString::from),
            secret_key: var("FLEXT_QUALITY_SECRET_KEY").map(SecretString::from),
            reconcile_secs: parse_var("FLEXT_QUALITY_RECONCILE_SECS", 600)?,
            web: WebSettings::from_env()?,
            shutdown_grace_secs: parse_var("FLEXT_QUALITY_SHUTDOWN_GRACE_SECS", 25)?,
            metrics_token: var("FLEXT_QUALITY_METRICS_TOKEN").map(SecretString::from),
            data_dir: data_dir(),
            event_hooks,
            fly_app_name: var("FLY_APP_NAME"),
        })
    }

    /// The database to use: `DATABASE_URL`, or an SQLite file in the data dir.
    pub fn database_url(&self) -> Result<SecretString> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating data dir {}", self.data_dir.display()))?;
        let path = self.data_dir.join("flext-quality.db");
        Ok(SecretString::from(format!(
            "sqlite://{}?mode=rwc",
            path.display()
        )))
    }

    /// Whether `DATABASE_URL` names a server (vs the embedded default), for the start-up log.
    pub fn database_kind(&self) -> &'static str {
        match &self.database_url {
            Some(u) if u.expose_secret().starts_with("postgres") => "postgres",
            Some(_) => "sqlite",
            None => "sqlite (embedded default)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::VARIABLES;

    /// Every variable the app reads is in `.env.example` and the README, so nobody has to read
    /// the code to learn a setting.
    #[test]
    fn every_variable_is_documented() {
        let root = env!("CARGO_MANIFEST_DIR");
        let example = std::fs::read_to_string(format!("{root}/.env.example")).unwrap();
        let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
        for (name, meaning) in VARIABLES {
            assert!(!meaning.is_empty(), "{name}");
            assert!(
                example.contains(&format!("{name}=")),
                "{name} is not in .env.example"
            );
            assert!(
                readme.contains(&format!("`{name}`")),
                "{name} is not in the README"
            );
        }
    }

    #[test]
    fn event_hooks_are_read_and_checked_without_quoting_secrets() {
        use secrecy::ExposeSecret;
        let hooks = super::parse_event_hooks(
            r#"[{"url": "https://hooks.example.com/in?token=canary", "secret": "s3cret",
                 "events": ["analysis.completed", "gate.changed"]}]"#,
        )
        .unwrap();
        assert_eq!(hooks.len(), 1);
        assert_eq!(hooks[0].secret.expose_secret(), "s3cret");
        assert!(super::parse_event_hooks("[]").unwrap().is_empty());
        for bad in [
            r#"{"url": "https://x.example.com/canary"}"#,
            r#"[{"url": "https://x.example.com/canary", "secret": "canary", "events": "canary"}]"#,
            r#"[{"url": "https://x.example.com/canary", "secret": "s", "events": ["push"]}]"#,
            r#"[{"url": "ftp://x.example.com/canary", "secret": "s", "events": ["gate.changed"]}]"#,
            r#"[{"url": "https://x.example.com/canary", "secret": "s", "events": [], "x": 1}]"#,
        ] {
            let err = format!("{:#}", super::parse_event_hooks(bad).unwrap_err());
            assert!(err.starts_with("FLEXT_QUALITY_EVENT_HOOKS"), "{err}");
            assert!(!err.contains("canary"), "{err}");
        }
    }

    #[test]
    fn help_lists_the_variables_asked_for() {
        let help = super::variables_help(&["PORT", "FLEXT_QUALITY_SANDBOX"]);
        assert!(
            help.contains("PORT ") && help.contains("HTTP port"),
            "{help}"
        );
        assert!(
            help.contains("FLEXT_QUALITY_SANDBOX  required (default) or off"),
            "{help}"
        );
    }
}
