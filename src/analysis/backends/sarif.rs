//! SARIF 2.1.0 parser, for any tool that writes it (CodeQL, Semgrep `--sarif`, Ruff, ESLint…).
//!
//! The backend name of each finding is its run's `tool.driver.name`, lowercased, with every
//! run of characters other than `a-z0-9` turned into `-` ("Semgrep OSS" → `semgrep-oss`;
//! `sarif` when the name is empty), so rule overrides read `semgrep-oss:rules.x`. A SARIF file
//! from a tool that also has a native backend (Ruff) gets the same backend name as the native
//! one; run one or the other for a given tool.
//!
//! Locations are resolved like a SARIF viewer would: `artifactLocation.uri` may be relative
//! (to its `uriBaseId` from `originalUriBaseIds`, or to the repository root when the base is
//! not defined, like Semgrep's `%SRCROOT%`), a `file://` URI, percent-encoded, or given by
//! `index` into `run.artifacts`. Results without a location, with a non-file URI, suppressed
//! in source, or of kind `pass`/`notApplicable` are dropped with a note.

use super::{
    help_url, relative_path, Backend, Draft, FindingBuilder, Invocation, ParseError, ParseOutput,
    Prepare, ToolRun, TreeFacts,
};
use crate::analysis::repo_config::{ConfigError, OptionsTable};
use crate::domain::finding::{Category, Severity};
use serde_json::Value;
use std::path::Path;

/// A SARIF log read: its findings, and the runs that say the tool did not succeed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SarifLog {
    pub output: ParseOutput,
    /// One line per run with `invocations[].executionSuccessful = false`.
    pub failed: Vec<String>,
}

/// Parses a SARIF log (all of its runs).
pub fn parse(output: &str, repo_root: &Path) -> Result<ParseOutput, ParseError> {
    parse_log(output, repo_root, usize::MAX).map(|l| l.output)
}

/// Parses a SARIF log, keeping at most `limit` findings.
pub fn parse_log(output: &str, repo_root: &Path, limit: usize) -> Result<SarifLog, ParseError> {
    let shape = |detail: &str| ParseError::Shape {
        tool: "sarif",
        detail: detail.to_owned(),
    };
    let log: Value = serde_json::from_str(output).map_err(|e| ParseError::Json {
        tool: "sarif",
        detail: e.to_string(),
    })?;
    let runs = log
        .get("runs")
        .and_then(Value::as_array)
        .ok_or_else(|| shape("no `runs` array"))?;
    let mut parsed = SarifLog::default();
    for run in runs {
        let kept = parsed.output.findings.len();
        let run_output = parse_run(run, repo_root, limit.saturating_sub(kept));
        let out = &mut parsed.output;
        out.findings.extend(run_output.findings);
        out.dropped.extend(run_output.dropped);
        out.tool_errors.extend(run_output.tool_errors);
        out.over_limit += run_output.over_limit;
        for invocation in run
            .get("invocations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if invocation
                .get("executionSuccessful")
                .and_then(Value::as_bool)
                == Some(false)
            {
                let name = tool_name(run);
                let why = invocation
                    .pointer("/toolExecutionNotifications/0/message/text")
                    .and_then(Value::as_str)
                    .unwrap_or("the run says it did not succeed (executionSuccessful: false)");
                parsed.failed.push(format!("{name}: {why}"));
            }
        }
    }
    Ok(parsed)
}

fn tool_name(run: &Value) -> String {
    backend_name(
        run.pointer("/tool/driver/name")
            .and_then(Value::as_str)
            .unwrap_or(""),
    )
}

/// An extra tool the operator configured (`FLEXT_QUALITY_SARIF_TOOLS`): run in the jail at the
/// tree's root, its standard output read as SARIF. Only the operator can name programs; a
/// repository never can.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SarifTool {
    /// The backend name its findings carry (`gitleaks`).
    pub name: String,
    /// Program and arguments; the program is looked up in the tools' environment, then PATH.
    pub command: Vec<String>,
}

impl SarifTool {
    /// Parses the JSON list in `FLEXT_QUALITY_SARIF_TOOLS`.
    pub fn parse_list(json: &str) -> Result<Vec<SarifTool>, String> {
        let tools: Vec<SarifTool> = serde_json::from_str(json).map_err(|e| e.to_string())?;
        for t in &tools {
            if t.name.trim().is_empty() || t.command.is_empty() {
                return Err(format!("tool `{}` needs a name and a command", t.name));
            }
            if super::find(&t.name).is_some() {
                return Err(format!("`{}` is a built-in backend's name", t.name));
            }
        }
        Ok(tools)
    }
}

impl Backend for SarifTool {
    fn name(&self) -> &str {
        &self.name
    }

    fn program(&self) -> &str {
        &self.command[0]
    }

    fn default_mapping(&self) -> &'static str {
        "`security-severity` ≥9/≥7/≥4/>0 → security critical/major/minor/info; else level error/warning/note → major/minor/info"
    }

    fn options(&self, table: Option<OptionsTable<'_>>) -> Result<Value, ConfigError> {
        if let Some(t) = table {
            t.allow(&[])?;
        }
        Ok(Value::Object(Default::default()))
    }

    fn applies(&self, _: &TreeFacts, _: &Value) -> Result<(), String> {
        Ok(())
    }

    fn prepare(&self, _: &Prepare<'_>) -> Result<Invocation, String> {
        Ok(Invocation {
            args: self.command[1..].to_vec(),
            ..Invocation::default()
        })
    }

    fn parse(&self, run: &ToolRun<'_>) -> Result<ParseOutput, String> {
        // Many SARIF tools exit non-zero when they find something: the output decides.
        let log = parse_log(run.stdout, run.root, run.max_findings)
            .map_err(|e| format!("{e} ({})", run.exit_failure()))?;
        if !log.failed.is_empty() {
            return Err(log.failed.join("; "));
        }
        let mut out = log.output;
        for f in &mut out.findings {
            f.backend = self.name.clone();
        }
        Ok(out)
    }
}

/// Backend name from the driver's name (see the module documentation).
pub fn backend_name(driver_name: &str) -> String {
    let mut name = String::new();
    for c in driver_name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            name.push(c);
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name.trim_end_matches('-');
    if name.is_empty() {
        "sarif".to_owned()
    } else {
        name.to_owned()
    }
}

fn parse_run(run: &Value, repo_root: &Path, limit: usize) -> ParseOutput {
    let tool = run.get("tool");
    let driver = tool.and_then(|t| t.get("driver"));
    let backend = tool_name(run);
    let mut b = FindingBuilder::new(&backend, repo_root, limit);
    let extensions: &[Value] = tool
        .and_then(|t| t.get("extensions"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let Some(results) = run.get("results").and_then(Value::as_array) else {
        return b.finish();
    };
    for notification in run
        .pointer("/invocations/0/toolExecutionNotifications")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(text) = notification
            .pointer("/message/text")
            .and_then(Value::as_str)
        {
            b.tool_error(format!("{backend}: {text}"));
        }
    }
    for result in results {
        let rule = find_rule(result, driver, extensions);
        let rule_id = result
            .get("ruleId")
            .or_else(|| result.pointer("/rule/id"))
            .and_then(Value::as_str)
            .or_else(|| rule.and_then(|r| r.get("id")).and_then(Value::as_str))
            .unwrap_or("unknown")
            .to_owned();
        let kind = result.get("kind").and_then(Value::as_str).unwrap_or("fail");
        if kind == "pass" || kind == "notApplicable" {
            continue;
        }
        if is_suppressed(result) {
            b.dropped(format!("{backend} {rule_id}: suppressed in source"));
            continue;
        }
        let Some(physical) = result.pointer("/locations/0/physicalLocation") else {
            b.dropped(format!("{backend} {rule_id}: result has no location"));
            continue;
        };
        let path = match artifact_path(physical.get("artifactLocation"), run)
            .and_then(|p| relative_path(&p, repo_root))
        {
            Ok(p) => p,
            Err(why) => {
                b.dropped(format!("{backend} {rule_id}: {why}"));
                continue;
            }
        };
        let prop = |name: &str| {
            rule.and_then(|r| r.get("properties"))
                .and_then(|p| p.get(name))
        };
        let security_severity = prop("security-severity").and_then(|v| match v {
            Value::String(s) => s.trim().parse::<f64>().ok(),
            other => other.as_f64(),
        });
        let mut tags: Vec<String> = Vec::new();
        for t in [prop("tags"), result.pointer("/properties/tags")]
            .into_iter()
            .flatten()
        {
            tags.extend(
                t.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned),
            );
        }
        let level = result
            .get("level")
            .or_else(|| rule.and_then(|r| r.pointer("/defaultConfiguration/level")))
            .and_then(Value::as_str);
        let (category, severity) = sarif_default(level, security_severity, &tags);
        let region = physical.get("region");
        let num = |name: &str| region.and_then(|r| r.get(name)).and_then(Value::as_i64);
        b.push(Draft {
            message: message_text(result, rule).unwrap_or_else(|| rule_id.clone()),
            rule: rule_id,
            category,
            severity,
            path,
            start_line: num("startLine"),
            end_line: num("endLine"),
            start_column: num("startColumn"),
            end_column: num("endColumn"),
            help_url: help_url(rule.and_then(|r| r.get("helpUri")).and_then(Value::as_str)),
        });
    }
    b.finish()
}

/// The rule's metadata: by `rule.toolComponent` + `rule.index`, by `ruleIndex` into the
/// driver, or by id in the driver and extensions (CodeQL keeps its rules in extensions).
fn find_rule<'a>(
    result: &Value,
    driver: Option<&'a Value>,
    extensions: &'a [Value],
) -> Option<&'a Value> {
    let rules_of = |component: Option<&'a Value>| {
        component
            .and_then(|c| c.get("rules"))
            .and_then(Value::as_array)
    };
    let index = |v: Option<&Value>| {
        v.and_then(Value::as_u64)
            .and_then(|i| usize::try_from(i).ok())
    };
    let component = match index(result.pointer("/rule/toolComponent/index")) {
        Some(i) => extensions.get(i),
        None => driver,
    };
    if let Some(i) = index(result.pointer("/rule/index")).or_else(|| index(result.get("ruleIndex")))
    {
        if let Some(rule) = rules_of(component).and_then(|r| r.get(i)) {
            return Some(rule);
        }
    }
    let id = result
        .get("ruleId")
        .or_else(|| result.pointer("/rule/id"))?
        .as_str()?;
    std::iter::once(driver)
        .chain(extensions.iter().map(Some))
        .filter_map(rules_of)
        .flatten()
        .find(|r| r.get("id").and_then(Value::as_str) == Some(id))
}

fn is_suppressed(result: &Value) -> bool {
    result
        .get("suppressions")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter().any(|s| {
                let status = s
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("accepted");
                status == "accepted"
            })
        })
}

fn message_text(result: &Value, rule: Option<&Value>) -> Option<String> {
    let message = result.get("message")?;
    let template = message.get("text").and_then(Value::as_str).or_else(|| {
        let id = message.get("id")?.as_str()?;
        rule?.get("messageStrings")?.get(id)?.get("text")?.as_str()
    })?;
    let args: Vec<&str> = message
        .get("arguments")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_str().unwrap_or("")).collect())
        .unwrap_or_default();
    // Substituted by hand, with a cap: `{0}{0}…` and a long argument could otherwise grow
    // a hostile log's message quadratically.
    const MAX: usize = 16 * 1024;
    let mut text = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        text.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let arg = after
            .find('}')
            .and_then(|close| Some((close, args.get(after[..close].parse::<usize>().ok()?)?)));
        match arg {
            Some((close, value)) => {
                text.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                text.push('{');
                rest = after;
            }
        }
        if text.len() > MAX {
            break;
        }
    }
    if text.len() <= MAX {
        text.push_str(rest);
    }
    if text.len() > MAX {
        let mut end = MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    Some(text)
}

/// A file-system path (absolute, or relative to the repository root) for an artifact location.
fn artifact_path(location: Option<&Value>, run: &Value) -> Result<String, String> {
    let mut location = location.ok_or("no artifact location")?;
    if location.get("uri").is_none() {
        if let Some(i) = location.get("index").and_then(Value::as_u64) {
            location = run
                .get("artifacts")
                .and_then(|a| a.get(usize::try_from(i).ok()?))
                .and_then(|a| a.get("location"))
                .ok_or("artifact index out of range")?;
        }
    }
    let mut uri = location
        .get("uri")
        .and_then(Value::as_str)
        .ok_or("no artifact URI")?
        .to_owned();
    let mut base = location.get("uriBaseId").and_then(Value::as_str);
    // Bases may themselves be relative to other bases; a cycle or depth cap ends the walk.
    for _ in 0..8 {
        if has_scheme(&uri) {
            break;
        }
        let Some(b) = base else { break };
        let Some(def) = run.get("originalUriBaseIds").and_then(|o| o.get(b)) else {
            break;
        };
        let prefix = def.get("uri").and_then(Value::as_str).unwrap_or("");
        uri = if prefix.is_empty() || prefix.ends_with('/') {
            format!("{prefix}{uri}")
        } else {
            format!("{prefix}/{uri}")
        };
        base = def.get("uriBaseId").and_then(Value::as_str);
    }
    let path = if has_scheme(&uri) {
        let rest = uri
            .strip_prefix("file:")
            .ok_or_else(|| format!("{uri}: not a file URI"))?;
        match rest.strip_prefix("//") {
            // `file:///abs` or `file://localhost/abs`; another host is another machine.
            Some(r) if r.starts_with('/') => r.to_owned(),
            Some(r) => r
                .strip_prefix("localhost")
                .filter(|r| r.starts_with('/'))
                .ok_or_else(|| format!("{uri}: file URI on another host"))?
                .to_owned(),
            None => rest.to_owned(),
        }
    } else {
        uri
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    percent_decode(path).ok_or_else(|| format!("{path}: bad percent-encoding"))
}

fn has_scheme(uri: &str) -> bool {
    match uri.split_once(':') {
        Some((scheme, _)) => {
            scheme.len() > 1
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        None => false,
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let decoded = String::from_utf8(out).ok()?;
    // A decoded NUL would truncate the path at the OS boundary: refuse it.
    (!decoded.contains('\0')).then_some(decoded)
}

/// SARIF (any tool): a `security-severity` score (CVSS-like, 0–10, GitHub's convention)
/// makes a finding security, graded ≥9 critical, ≥7 major, ≥4 minor, >0 info. Otherwise the
/// SARIF level error/warning/note is major/minor/info (absent: warning, SARIF's default), in
/// reliability unless the rule is tagged `security`, or `maintainability`/`style`.
pub fn sarif_default(
    level: Option<&str>,
    security_severity: Option<f64>,
    tags: &[String],
) -> (Category, Severity) {
    if let Some(score) = security_severity.filter(|s| s.is_finite() && *s > 0.0) {
        let severity = if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::Major
        } else if score >= 4.0 {
            Severity::Minor
        } else {
            Severity::Info
        };
        return (Category::Security, severity);
    }
    let severity = match level.unwrap_or("warning") {
        "error" => Severity::Major,
        "note" | "none" => Severity::Info,
        _ => Severity::Minor,
    };
    let tagged = |names: &[&str]| {
        tags.iter()
            .any(|t| names.iter().any(|n| t.eq_ignore_ascii_case(n)))
    };
    let category = if tagged(&["security"]) {
        Category::Security
    } else if tagged(&["maintainability", "style"]) {
        Category::Maintainability
    } else {
        Category::Reliability
    };
    (category, severity)
}

#[cfg(test)]
mod tests;
