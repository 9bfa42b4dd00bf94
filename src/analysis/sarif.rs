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

use super::parse::{help_url, position, relative_path, ParseError, ParseOutput};
use crate::domain::finding::{default_effort_minutes, RawFinding};
use crate::domain::mapping::sarif_default;
use serde_json::Value;
use std::path::Path;

/// Parses a SARIF log (all of its runs).
pub fn parse(output: &str, repo_root: &Path) -> Result<ParseOutput, ParseError> {
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
    let mut out = ParseOutput::default();
    for run in runs {
        parse_run(run, repo_root, &mut out);
    }
    Ok(out)
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

fn parse_run(run: &Value, repo_root: &Path, out: &mut ParseOutput) {
    let tool = run.get("tool");
    let driver = tool.and_then(|t| t.get("driver"));
    let backend = backend_name(
        driver
            .and_then(|d| d.get("name"))
            .and_then(Value::as_str)
            .unwrap_or(""),
    );
    let extensions: &[Value] = tool
        .and_then(|t| t.get("extensions"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let Some(results) = run.get("results").and_then(Value::as_array) else {
        return;
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
            out.tool_errors.push(format!("{backend}: {text}"));
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
            out.dropped
                .push(format!("{backend} {rule_id}: suppressed in source"));
            continue;
        }
        let Some(physical) = result.pointer("/locations/0/physicalLocation") else {
            out.dropped
                .push(format!("{backend} {rule_id}: result has no location"));
            continue;
        };
        let path = match artifact_path(physical.get("artifactLocation"), run)
            .and_then(|p| relative_path(&p, repo_root))
        {
            Ok(p) => p,
            Err(why) => {
                out.dropped.push(format!("{backend} {rule_id}: {why}"));
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
        let num = |name: &str| position(region.and_then(|r| r.get(name)).and_then(Value::as_i64));
        let start_line = num("startLine").unwrap_or(1);
        let end_line = num("endLine").unwrap_or(start_line).max(start_line);
        out.findings.push(RawFinding {
            backend: backend.clone(),
            message: message_text(result, rule).unwrap_or_else(|| rule_id.clone()),
            rule: rule_id,
            category,
            severity,
            path,
            start_line,
            end_line,
            start_column: num("startColumn"),
            end_column: num("endColumn"),
            help_url: help_url(rule.and_then(|r| r.get("helpUri")).and_then(Value::as_str)),
            effort_minutes: default_effort_minutes(severity),
        });
    }
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

#[cfg(test)]
#[path = "sarif/tests.rs"]
mod tests;
