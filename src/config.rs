//! Settings from the environment (12-factor; a `.env` file is read if present).
//!
//! Secrets are held as [`SecretString`] so they never end up in logs or `Debug` output.

use anyhow::{bail, Context, Result};
use secrecy::{ExposeSecret, SecretString};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: Option<SecretString>,
    pub data_dir: PathBuf,
    pub port: u16,
    pub public_url: Option<String>,
    pub log_format: LogFormat,
    pub github: GitHubSettings,
    pub tools_dir: PathBuf,
    pub analysis_timeout_secs: u64,
    pub max_attempts: i64,
    pub lease_secs: u64,
    pub max_annotations: usize,
    /// Run Clippy (which executes build scripts) even where the network sandbox is unavailable.
    pub trusted_build_scripts: bool,
    /// Server policy: rule overrides and the gate every repository starts from.
    pub policy: Policy,
    /// Extra SARIF tools (`FLEXT_QUALITY_SARIF_TOOLS`, a JSON list of `{name, command}`).
    pub sarif_tools: Vec<crate::analysis::backends::SarifTool>,
}

/// The operator's policy, from `FLEXT_QUALITY_POLICY_FILE` (the `[rules]` and `[gate]` tables of
/// the repository config format). Repositories may tighten the gate, never loosen it.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub rules: crate::domain::policy::RuleOverrides,
    pub gate: crate::domain::gate::GateConfig,
}

impl Policy {
    pub fn from_toml(text: &str) -> Result<Policy> {
        use crate::analysis::repo_config::{parse_repo_config, ConfigSource};
        let parsed =
            parse_repo_config(text, ConfigSource::FlextToml).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Policy {
            rules: parsed.rules,
            gate: parsed.gate,
        })
    }
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

impl Settings {
    /// Reads the settings from the process environment (after loading `.env`, if any).
    pub fn from_env() -> Result<Settings> {
        let data_dir = var("FLEXT_QUALITY_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".data"));
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
        let tools_dir = var("FLEXT_QUALITY_TOOLS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("tools"));
        let app_id = match var("GITHUB_APP_ID") {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse()
                    .map_err(|_| anyhow::anyhow!("GITHUB_APP_ID must be a number, not `{v}`"))?,
            ),
        };
        Ok(Settings {
            database_url: var("DATABASE_URL").map(SecretString::from),
            port: parse_var("PORT", 3000)?,
            public_url: var("PUBLIC_URL"),
            log_format,
            github: GitHubSettings {
                app_id,
                private_key,
                webhook_secrets,
                api_url: var("GITHUB_API_URL")
                    .unwrap_or_else(|| "https://api.github.com".into())
                    .trim_end_matches('/')
                    .to_owned(),
            },
            tools_dir,
            analysis_timeout_secs: parse_var("FLEXT_QUALITY_ANALYSIS_TIMEOUT_SECS", 600)?,
            max_attempts: parse_var("FLEXT_QUALITY_MAX_ATTEMPTS", 3)?,
            lease_secs: parse_var("FLEXT_QUALITY_LEASE_SECS", 60)?,
            max_annotations: parse_var("FLEXT_QUALITY_MAX_ANNOTATIONS", 1000)?,
            trusted_build_scripts: parse_var("FLEXT_QUALITY_TRUST_BUILD_SCRIPTS", 0u8)? == 1,
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
                Some(json) => crate::analysis::backends::SarifTool::parse_list(&json)
                    .map_err(|e| anyhow::anyhow!("FLEXT_QUALITY_SARIF_TOOLS: {e}"))?,
            },
            data_dir,
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
