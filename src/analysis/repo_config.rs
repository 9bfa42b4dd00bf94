//! The repository config: `.flext-quality.toml` at the repository root, or the
//! `[tool.flext-quality]` table of `pyproject.toml` (DESIGN.md, "Repository config").
//!
//! It chooses backends and their options from a fixed list, excludes paths, overrides rule
//! severities, sets the gate and the reporting. It can never name a program to execute, a
//! command line, an environment variable or a URL to fetch rules from: there is no field for
//! any of them, and unknown keys are errors. Validation is strict because a typo that silently
//! disables a gate condition is worse than a failed analysis; every error names the dotted key
//! and its line.

use super::backends;
use super::glob::Glob;
use crate::domain::finding::{Category, Severity};
use crate::domain::gate::GateConfig;
use crate::domain::policy::{RuleOverride, RuleOverrides};
use crate::domain::score::Grade;
use crate::domain::test_code::TestCodePolicy;
use serde::Serialize;
use std::collections::BTreeMap;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

pub const FLEXT_TOML: &str = ".flext-quality.toml";
pub const PYPROJECT: &str = "pyproject.toml";

/// Which file the text came from; decides error prefixes and where the table lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    FlextToml,
    PyProject,
}

impl ConfigSource {
    pub fn file_name(self) -> &'static str {
        match self {
            ConfigSource::FlextToml => FLEXT_TOML,
            ConfigSource::PyProject => PYPROJECT,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepoConfig {
    pub backends: BackendsConfig,
    pub paths: PathsConfig,
    pub rules: RuleOverrides,
    pub tests: TestCodePolicy,
    pub gate: GateConfig,
    pub report: ReportConfig,
    pub notify: NotifyConfig,
}

impl Default for RepoConfig {
    fn default() -> Self {
        RepoConfig {
            backends: BackendsConfig::all(),
            paths: PathsConfig::default(),
            rules: RuleOverrides::default(),
            tests: TestCodePolicy::default(),
            gate: GateConfig::default(),
            report: ReportConfig::default(),
            notify: NotifyConfig::default(),
        }
    }
}

/// Enabled backends with their options (each backend reads and validates its own table; see
/// [`crate::analysis::backends::Backend::options`]). Without a `[backends]` table every
/// backend is enabled and `explicit` is false: the engine then runs those that apply to the
/// tree (Python files, a `Cargo.toml`; Semgrep only with local rules, as it has no default).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackendsConfig {
    pub explicit: bool,
    pub enabled: BTreeMap<String, serde_json::Value>,
}

impl BackendsConfig {
    pub fn all() -> Self {
        BackendsConfig {
            explicit: false,
            enabled: backends::builtin()
                .iter()
                .map(|b| {
                    let defaults = b
                        .options(None)
                        .expect("a backend's default options are valid");
                    (b.name().to_owned(), defaults)
                })
                .collect(),
        }
    }

    /// The options of an enabled backend; `None` when it is not enabled.
    pub fn options(&self, name: &str) -> Option<&serde_json::Value> {
        self.enabled.get(name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathsConfig {
    /// Globs (see [`super::glob`]) of files whose findings are ignored.
    pub exclude: Vec<String>,
    /// Globs of test code (see [`crate::domain::test_code`]).
    pub tests: Vec<String>,
}

/// Where test code lives unless the repository says otherwise.
pub const DEFAULT_TESTS: [&str; 4] = ["tests/", "test_*.py", "*_test.py", "conftest.py"];

impl Default for PathsConfig {
    fn default() -> Self {
        PathsConfig {
            exclude: Vec::new(),
            tests: DEFAULT_TESTS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Annotate {
    New,
    ChangedLines,
    All,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportConfig {
    pub annotate: Annotate,
    pub max_annotations: u32,
    pub pr_comment: bool,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            annotate: Annotate::New,
            max_annotations: 1000,
            pr_comment: true,
        }
    }
}

/// Who hears about what: the default branch's state changes always go to Slack (when a
/// destination is set); pull requests only when asked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NotifyConfig {
    /// `[notify] pull_requests = "failure"`: a message for each failing pull request head.
    pub pull_request_failures: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}:{line}: invalid TOML: {message}")]
    Syntax {
        file: &'static str,
        line: usize,
        message: String,
    },
    #[error("{file}:{line}: unknown key `{key}` (expected one of: {expected})")]
    UnknownKey {
        file: &'static str,
        line: usize,
        key: String,
        expected: String,
    },
    #[error("{file}:{line}: `{key}` must be {expected}, not {found}")]
    WrongType {
        file: &'static str,
        line: usize,
        key: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("{file}:{line}: `{key}`: {message}")]
    BadValue {
        file: &'static str,
        line: usize,
        key: String,
        message: String,
    },
}

impl ConfigError {
    pub fn line(&self) -> usize {
        match self {
            ConfigError::Syntax { line, .. }
            | ConfigError::UnknownKey { line, .. }
            | ConfigError::WrongType { line, .. }
            | ConfigError::BadValue { line, .. } => *line,
        }
    }
}

/// Reads the config through `read_file` (a repository-relative name to its text, from the
/// base commit). Prefers `.flext-quality.toml`; uses `pyproject.toml` only when it has a
/// `[tool.flext-quality]` table. `Ok(None)` means "no config: defaults".
pub fn load_repo_config(
    read_file: impl Fn(&str) -> Option<String>,
) -> Result<Option<(RepoConfig, &'static str)>, ConfigError> {
    if let Some(text) = read_file(FLEXT_TOML) {
        return parse_repo_config(&text, ConfigSource::FlextToml).map(|c| Some((c, FLEXT_TOML)));
    }
    let Some(text) = read_file(PYPROJECT) else {
        return Ok(None);
    };
    match DeTable::parse(&text) {
        Ok(doc) => {
            let has_table = doc
                .get_ref()
                .get("tool")
                .and_then(|t| t.get_ref().as_table())
                .is_some_and(|t| t.get("flext-quality").is_some());
            if !has_table {
                return Ok(None);
            }
        }
        // A broken pyproject.toml is someone else's problem unless it is meant for us.
        Err(_) if !text.contains("flext-quality") => return Ok(None),
        Err(_) => {}
    }
    parse_repo_config(&text, ConfigSource::PyProject).map(|c| Some((c, PYPROJECT)))
}

/// Parses and validates one config text.
pub fn parse_repo_config(text: &str, source: ConfigSource) -> Result<RepoConfig, ConfigError> {
    let cx = Cx {
        text,
        file: source.file_name(),
    };
    let doc = DeTable::parse(text).map_err(|e| ConfigError::Syntax {
        file: cx.file,
        line: cx.line(e.span().unwrap_or(0..0)),
        message: e.message().trim().to_owned(),
    })?;
    let mut config = RepoConfig::default();
    let (root, prefix) = match source {
        ConfigSource::FlextToml => (doc.get_ref(), String::new()),
        ConfigSource::PyProject => {
            let tool = doc.get_ref().get("tool");
            let table = tool
                .and_then(|t| t.get_ref().as_table())
                .and_then(|t| t.get("flext-quality"));
            match table {
                Some(v) => (
                    cx.table(v, "tool.flext-quality")?,
                    "tool.flext-quality.".to_owned(),
                ),
                None => return Ok(config),
            }
        }
    };
    let key = |k: &str| format!("{prefix}{k}");
    cx.keys(
        root,
        &prefix,
        &[
            "backends", "paths", "rules", "tests", "gate", "report", "notify",
        ],
    )?;
    if let Some(v) = root.get("backends") {
        config.backends = backends(&cx, cx.table(v, &key("backends"))?, &key("backends"))?;
    }
    if let Some(v) = root.get("paths") {
        let t = cx.table(v, &key("paths"))?;
        cx.keys(t, &key("paths."), &["exclude", "tests"])?;
        if let Some(v) = t.get("exclude") {
            let k = key("paths.exclude");
            config.paths.exclude = cx.strings(v, &k, |s| Glob::new(s).map(|_| ()))?;
        }
        if let Some(v) = t.get("tests") {
            let k = key("paths.tests");
            config.paths.tests = cx.strings(v, &k, |s| Glob::new(s).map(|_| ()))?;
        }
    }
    if let Some(v) = root.get("tests") {
        tests(
            &cx,
            cx.table(v, &key("tests"))?,
            &key("tests"),
            &mut config.tests,
        )?;
    }
    if let Some(v) = root.get("rules") {
        config.rules = rules(&cx, cx.table(v, &key("rules"))?, &key("rules"))?;
    }
    if let Some(v) = root.get("gate") {
        gate(
            &cx,
            cx.table(v, &key("gate"))?,
            &key("gate"),
            &mut config.gate,
        )?;
    }
    if let Some(v) = root.get("notify") {
        let k = key("notify");
        let t = cx.table(v, &k)?;
        cx.keys(t, &format!("{k}."), &["pull_requests"])?;
        if let Some(v) = t.get("pull_requests") {
            let k = key("notify.pull_requests");
            config.notify.pull_request_failures = match cx.string(v, &k)? {
                "failure" => true,
                "off" => false,
                other => {
                    let message = format!("unknown value `{other}` (expected failure or off)");
                    return Err(cx.bad(v, &k, message));
                }
            };
        }
    }
    if let Some(v) = root.get("report") {
        report(
            &cx,
            cx.table(v, &key("report"))?,
            &key("report"),
            &mut config.report,
        )?;
    }
    Ok(config)
}

type Value<'i> = Spanned<DeValue<'i>>;

fn backends(cx: &Cx, t: &DeTable, key: &str) -> Result<BackendsConfig, ConfigError> {
    let names: Vec<&str> = backends::builtin().iter().map(|b| b.name()).collect();
    cx.keys(t, &format!("{key}."), &names)?;
    let mut enabled = BTreeMap::new();
    for (name, v) in t.iter() {
        let backend = backends::find(name.get_ref()).expect("checked by keys()");
        let k = format!("{key}.{}", name.get_ref());
        let table = cx.table(v, &k)?;
        let options = backend.options(Some(OptionsTable { cx, table, key: k }))?;
        enabled.insert(backend.name().to_owned(), options);
    }
    Ok(BackendsConfig {
        explicit: true,
        enabled,
    })
}

fn rules(cx: &Cx, t: &DeTable, key: &str) -> Result<RuleOverrides, ConfigError> {
    let mut overrides = RuleOverrides::default();
    for (name, v) in t.iter() {
        let rule = name.get_ref().as_ref();
        let k = format!("{key}.\"{rule}\"");
        if let Err(message) = valid_rule_key(rule) {
            return Err(ConfigError::BadValue {
                file: cx.file,
                line: cx.line(name.span()),
                key: k,
                message,
            });
        }
        let o = cx.table(v, &k)?;
        cx.keys(o, &format!("{k}."), &["severity", "category"])?;
        let mut entry = RuleOverride::default();
        if let Some(v) = o.get("severity") {
            let s = cx.string(v, &format!("{k}.severity"))?;
            entry.severity = Some(
                s.parse::<Severity>()
                    .map_err(|m| cx.bad(v, &format!("{k}.severity"), m))?,
            );
        }
        if let Some(v) = o.get("category") {
            let s = cx.string(v, &format!("{k}.category"))?;
            entry.category = Some(
                s.parse::<Category>()
                    .map_err(|m| cx.bad(v, &format!("{k}.category"), m))?,
            );
        }
        overrides.0.insert(rule.to_owned(), entry);
    }
    Ok(overrides)
}

/// A rule key is `backend:RULE` with no whitespace.
fn valid_rule_key(rule: &str) -> Result<(), String> {
    let valid = rule.split_once(':').is_some_and(|(b, r)| {
        !b.is_empty() && !r.is_empty() && !rule.chars().any(char::is_whitespace)
    });
    if valid {
        Ok(())
    } else {
        Err("rule keys are `\"backend:RULE\"`, e.g. `\"ruff:E501\"`".to_owned())
    }
}

fn tests(cx: &Cx, t: &DeTable, key: &str, policy: &mut TestCodePolicy) -> Result<(), ConfigError> {
    cx.keys(t, &format!("{key}."), &["ignore", "max_security_severity"])?;
    if let Some(v) = t.get("ignore") {
        policy.ignore = cx.strings(v, &format!("{key}.ignore"), valid_rule_key)?;
    }
    if let Some(v) = t.get("max_security_severity") {
        let k = format!("{key}.max_security_severity");
        let s = cx.string(v, &k)?;
        policy.max_security_severity = s.parse::<Severity>().map_err(|m| cx.bad(v, &k, m))?;
    }
    Ok(())
}

fn gate(cx: &Cx, t: &DeTable, key: &str, gate: &mut GateConfig) -> Result<(), ConfigError> {
    cx.keys(
        t,
        &format!("{key}."),
        &[
            "new",
            "min_score",
            "min_grade",
            "max_score_drop",
            "new_suppressions",
            "allow_backend_failure",
        ],
    )?;
    if let Some(v) = t.get("new") {
        let k = format!("{key}.new");
        let new = cx.table(v, &k)?;
        let names = ["blocker", "critical", "major", "minor", "info"];
        cx.keys(new, &format!("{k}."), &names)?;
        for (name, v) in new.iter() {
            let severity: Severity = name.get_ref().parse().expect("checked by keys()");
            let allowed = cx.int(v, &format!("{k}.{}", name.get_ref()), 0, i64::MAX)?;
            gate.new.insert(severity, allowed as u64);
        }
    }
    if let Some(v) = t.get("min_score") {
        gate.min_score = cx.number(v, &format!("{key}.min_score"), 0.0, 100.0)?;
    }
    if let Some(v) = t.get("min_grade") {
        let k = format!("{key}.min_grade");
        let s = cx.string(v, &k)?;
        gate.min_grade = s.parse::<Grade>().map_err(|m| cx.bad(v, &k, m))?;
    }
    if let Some(v) = t.get("max_score_drop") {
        gate.max_score_drop = cx.number(v, &format!("{key}.max_score_drop"), 0.0, 100.0)?;
    }
    if let Some(v) = t.get("new_suppressions") {
        let allowed = cx.int(v, &format!("{key}.new_suppressions"), 0, i64::MAX)?;
        gate.new_suppressions = Some(allowed as u64);
    }
    if let Some(v) = t.get("allow_backend_failure") {
        gate.allow_backend_failure = Some(cx.bool(v, &format!("{key}.allow_backend_failure"))?);
    }
    Ok(())
}

fn report(cx: &Cx, t: &DeTable, key: &str, report: &mut ReportConfig) -> Result<(), ConfigError> {
    cx.keys(
        t,
        &format!("{key}."),
        &["annotate", "max_annotations", "pr_comment"],
    )?;
    if let Some(v) = t.get("annotate") {
        let k = format!("{key}.annotate");
        report.annotate = match cx.string(v, &k)? {
            "new" => Annotate::New,
            "changed-lines" => Annotate::ChangedLines,
            "all" => Annotate::All,
            other => {
                let message =
                    format!("unknown mode `{other}` (expected new, changed-lines or all)");
                return Err(cx.bad(v, &k, message));
            }
        };
    }
    if let Some(v) = t.get("max_annotations") {
        report.max_annotations = cx.int(v, &format!("{key}.max_annotations"), 1, 10_000)? as u32;
    }
    if let Some(v) = t.get("pr_comment") {
        report.pr_comment = cx.bool(v, &format!("{key}.pr_comment"))?;
    }
    Ok(())
}

#[path = "repo_config/spans.rs"]
mod spans;
use spans::Cx;
pub use spans::OptionsTable;

#[cfg(test)]
#[path = "repo_config/tests.rs"]
mod tests;
