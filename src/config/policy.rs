//! The operator's server policy: rule overrides, the gate every repository starts from and the
//! compliance rules, read from `FLEXT_QUALITY_POLICY_FILE` or set through the app, and which of
//! those is in force.

use anyhow::{bail, Context, Result};

/// The operator's policy, from `FLEXT_QUALITY_POLICY_FILE` (the `[rules]` and `[gate]` tables of
/// the repository config format). Repositories may tighten the gate, never loosen it.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub rules: crate::domain::policy::RuleOverrides,
    pub gate: crate::domain::gate::GateConfig,
    pub compliance: crate::domain::compliance::CompliancePolicy,
    /// The TOML it was read from (shown by the API and the dashboard).
    pub text: Option<String>,
}

impl Policy {
    /// A policy file: `[rules]` and `[gate]` as in a repository config, and `[compliance]`
    /// (`min_grade`, `no_open_critical_security`, `max_age_days`). Errors name the key.
    pub fn from_toml(text: &str) -> Result<Policy> {
        use crate::analysis::repo_config::{parse_repo_config, ConfigSource};
        let mut table: toml::Table = text.parse().context("policy: invalid TOML")?;
        let compliance = match table.remove("compliance") {
            None => crate::domain::compliance::CompliancePolicy::default(),
            Some(v) => compliance_from(v)?,
        };
        let rest = toml::to_string(&table).context("policy")?;
        let parsed = parse_repo_config(&rest, ConfigSource::FlextToml)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Policy {
            rules: parsed.rules,
            gate: parsed.gate,
            compliance,
            text: Some(text.to_owned()),
        })
    }
}

/// Where the policy in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySource {
    /// Set by an admin through the app (kept in the database).
    Api,
    /// `FLEXT_QUALITY_POLICY_FILE`.
    File,
    /// Neither: the defaults.
    Default,
}

impl PolicySource {
    /// `api`, `file` or `default`, as the API says it.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicySource::Api => "api",
            PolicySource::File => "file",
            PolicySource::Default => "default",
        }
    }

    /// For people: "set through the app", "from the policy file", "the defaults".
    pub fn describe(self) -> &'static str {
        match self {
            PolicySource::Api => "set through the app",
            PolicySource::File => "from the policy file",
            PolicySource::Default => "the defaults",
        }
    }
}

/// The server policy in force now: the one set through the app, else the file's (`file`),
/// else the defaults. Analyses, the compliance report and the policy API all read this.
pub async fn policy_in_force(
    store: &crate::store::Store,
    file: &Policy,
) -> Result<(Policy, PolicySource)> {
    Ok(match store.policy_text().await? {
        Some(text) => (
            Policy::from_toml(&text).context("the policy set through the app")?,
            PolicySource::Api,
        ),
        None if file.text.is_some() => (file.clone(), PolicySource::File),
        None => (file.clone(), PolicySource::Default),
    })
}

fn compliance_from(v: toml::Value) -> Result<crate::domain::compliance::CompliancePolicy> {
    use crate::domain::compliance::CompliancePolicy;
    let t = v
        .as_table()
        .context("policy: `compliance` must be a table")?;
    let mut p = CompliancePolicy::default();
    for (k, v) in t {
        match k.as_str() {
            "min_grade" => {
                let s = v
                    .as_str()
                    .context("policy: `compliance.min_grade` must be a string")?;
                p.min_grade = if s.is_empty() {
                    None
                } else {
                    Some(
                        s.parse()
                            .map_err(|e| anyhow::anyhow!("policy: `compliance.min_grade`: {e}"))?,
                    )
                };
            }
            "no_open_critical_security" => {
                p.no_open_critical_security = v.as_bool().context(
                    "policy: `compliance.no_open_critical_security` must be true or false",
                )?
            }
            "max_age_days" => {
                let n = v
                    .as_integer()
                    .filter(|n| (0..=3650).contains(n))
                    .context("policy: `compliance.max_age_days` must be a number of days (0 to 3650)")?;
                p.max_age_days = (n > 0).then_some(n as u32);
            }
            other => bail!(
                "policy: unknown key `compliance.{other}` (expected one of: min_grade, no_open_critical_security, max_age_days)"
            ),
        }
    }
    Ok(p)
}
