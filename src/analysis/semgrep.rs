//! Semgrep backend parser: `semgrep scan --json --metrics=off --config <local rules>`.
//!
//! Measured with semgrep 1.180.0: `start`/`end` carry 1-based `line` and `col`, the end column
//! exclusive. `check_id` is prefixed with the dotted path of the rules directory
//! (`semgrep-rules/` + `id: shell-true` gives `semgrep-rules.shell-true`), so moving the rules
//! directory renames the rules. `errors[].type` is a string or, for partial parsing, an array.

use super::parse::{help_url, position, relative_path, ParseError, ParseOutput};
use crate::domain::finding::{default_effort_minutes, RawFinding};
use crate::domain::mapping::semgrep_default;
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

pub const NAME: &str = "semgrep";

#[derive(Deserialize)]
struct Report {
    results: Vec<Match>,
    #[serde(default)]
    errors: Vec<Value>,
}

#[derive(Deserialize)]
struct Match {
    check_id: String,
    path: String,
    start: Position,
    end: Option<Position>,
    extra: Extra,
}

#[derive(Deserialize)]
struct Position {
    line: Option<i64>,
    col: Option<i64>,
}

#[derive(Deserialize)]
struct Extra {
    #[serde(default)]
    message: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    metadata: Value,
}

/// Parses the stdout of `semgrep scan --json`, run from the repository root.
pub fn parse(output: &str, repo_root: &Path) -> Result<ParseOutput, ParseError> {
    let report: Report = serde_json::from_str(output).map_err(|e| {
        let (tool, detail) = (NAME, e.to_string());
        if e.is_data() {
            ParseError::Shape { tool, detail }
        } else {
            ParseError::Json { tool, detail }
        }
    })?;
    let mut out = ParseOutput::default();
    for e in &report.errors {
        out.tool_errors.push(describe_error(e));
    }
    for m in report.results {
        let path = match relative_path(&m.path, repo_root) {
            Ok(p) => p,
            Err(why) => {
                out.dropped.push(format!("semgrep {}: {why}", m.check_id));
                continue;
            }
        };
        let meta = &m.extra.metadata;
        let (category, severity) = semgrep_default(
            &m.extra.severity,
            meta.get("category").and_then(Value::as_str),
        );
        let start_line = position(m.start.line).unwrap_or(1);
        let end = m.end.as_ref();
        let end_line = position(end.and_then(|e| e.line))
            .unwrap_or(start_line)
            .max(start_line);
        out.findings.push(RawFinding {
            backend: NAME.into(),
            rule: m.check_id,
            category,
            severity,
            message: m.extra.message,
            path,
            start_line,
            end_line,
            start_column: position(m.start.col),
            end_column: position(end.and_then(|e| e.col)),
            help_url: rule_url(meta),
            effort_minutes: default_effort_minutes(severity),
        });
    }
    Ok(out)
}

/// `metadata.source` (the rule's page) or else the first of `metadata.references`, which
/// rules write either as one string or as a list.
fn rule_url(meta: &Value) -> Option<String> {
    if let Some(url) = help_url(meta.get("source").and_then(Value::as_str)) {
        return Some(url);
    }
    match meta.get("references")? {
        Value::String(s) => help_url(Some(s)),
        Value::Array(refs) => refs.iter().find_map(|r| help_url(r.as_str())),
        _ => None,
    }
}

fn describe_error(e: &Value) -> String {
    let level = e.get("level").and_then(Value::as_str).unwrap_or("error");
    let kind = match e.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Array(a)) => a.first().and_then(Value::as_str).unwrap_or("error"),
        _ => "error",
    };
    let message = e
        .get("message")
        .and_then(Value::as_str)
        .and_then(|m| m.lines().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or("(no message)");
    format!("semgrep {level}: {kind}: {message}")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analysis::parse::testutil::{no_panic, project, tool};
    use crate::domain::finding::{Category, Severity};
    use std::process::Command;

    pub(crate) const SAMPLE: &str = r#"{"version": "1.180.0", "results": [
 {"check_id": "rules.shell-true", "path": "pkg/app.py", "start": {"line": 7, "col": 5, "offset": 79},
  "end": {"line": 7, "col": 37, "offset": 111}, "extra": {"message": "Avoid shell=True",
  "metadata": {"category": "security", "references": ["https://docs.python.org/3/library/subprocess.html"]},
  "severity": "ERROR", "fingerprint": "requires login", "lines": "requires login",
  "validation_state": "NO_VALIDATOR", "engine_kind": "OSS"}},
 {"check_id": "rules.md5-use", "path": "pkg/app.py", "start": {"line": 17, "col": 9, "offset": 239},
  "end": {"line": 18, "col": 2, "offset": 262}, "extra": {"message": "MD5 is weak",
  "metadata": {"category": "correctness", "source": "https://example.com/rules/md5", "references": "https://x.example"},
  "severity": "WARNING"}},
 {"check_id": "rules.assert-use", "path": "pkg/app.py", "start": {"line": 16, "col": 5, "offset": 222},
  "end": {"line": 16, "col": 13, "offset": 230}, "extra": {"message": "assert used", "metadata": {}, "severity": "INFO"}},
 {"check_id": "rules.outside", "path": "/etc/passwd", "start": {"line": 1, "col": 1}, "end": {"line": 1, "col": 2},
  "extra": {"message": "x", "metadata": {}, "severity": "INFO"}}],
 "errors": [
  {"code": 3, "level": "warn", "type": ["PartialParsing", [{"path": "pkg/bad3.py"}]],
   "message": "Syntax error at line pkg/bad3.py:1:\n `=` was unexpected", "path": "pkg/bad3.py"},
  {"code": 2, "level": "error", "type": "Rule parse error", "rule_id": "badrules.x",
   "message": "Rule parse error in rule badrules.x:\n Invalid pattern for Python"}],
 "paths": {"scanned": ["pkg/app.py"]}, "skipped_rules": []}"#;

    #[test]
    fn parses_captured_output() {
        let dir = project(&[("pkg/app.py", "")]);
        let out = parse(SAMPLE, dir.path()).unwrap();
        assert_eq!(out.findings.len(), 3);
        assert_eq!(out.dropped.len(), 1);
        assert_eq!(
            out.tool_errors,
            [
                "semgrep warn: PartialParsing: Syntax error at line pkg/bad3.py:1:",
                "semgrep error: Rule parse error: Rule parse error in rule badrules.x:",
            ]
        );
        let f = &out.findings[0];
        assert_eq!(
            (
                f.rule.as_str(),
                f.path.as_str(),
                f.start_line,
                f.start_column,
                f.end_column
            ),
            ("rules.shell-true", "pkg/app.py", 7, Some(5), Some(37))
        );
        assert_eq!(
            (f.category, f.severity),
            (Category::Security, Severity::Critical)
        );
        assert_eq!(
            f.help_url.as_deref(),
            Some("https://docs.python.org/3/library/subprocess.html")
        );
        let g = &out.findings[1];
        assert_eq!(
            (g.category, g.severity, g.end_line),
            (Category::Reliability, Severity::Major, 18)
        );
        assert_eq!(g.help_url.as_deref(), Some("https://example.com/rules/md5"));
        let h = &out.findings[2];
        assert_eq!(
            (h.category, h.severity, h.help_url.as_deref()),
            (Category::Maintainability, Severity::Minor, None)
        );
    }

    #[test]
    fn wrong_documents_are_errors() {
        let root = std::env::temp_dir();
        assert!(matches!(
            parse("not json", &root),
            Err(ParseError::Json { .. })
        ));
        assert!(matches!(parse("{}", &root), Err(ParseError::Shape { .. })));
        assert_eq!(
            parse(r#"{"results": [], "errors": []}"#, &root).unwrap(),
            ParseOutput::default()
        );
    }

    #[test]
    fn never_panics() {
        let root = std::env::temp_dir();
        no_panic(&[SAMPLE], 5000, |input| {
            let _ = parse(input, &root);
        });
    }

    pub(crate) const RULES: &str = "rules:
  - id: shell-true
    pattern: subprocess.call(..., shell=True)
    message: Avoid shell=True
    languages: [python]
    severity: ERROR
    metadata:
      category: security
      references: [https://docs.python.org/3/library/subprocess.html]
  - id: md5-use
    pattern: hashlib.md5(...)
    message: MD5 is weak
    languages: [python]
    severity: WARNING
    metadata: {category: correctness, cwe: ['CWE-327'], security-severity: '7.5'}
  - id: assert-use
    pattern: assert $X
    message: assert used on $X
    languages: [python]
    severity: INFO
";

    pub(crate) const CODE: &str = "import subprocess\nimport hashlib\n\n\
        def run(cmd):\n    subprocess.call(cmd, shell=True)\n    subprocess.call(\n        cmd,\n        shell=True,\n    )\n\n\
        def weak(x):\n    assert x\n    assert x is not None\n    return hashlib.md5(x).hexdigest()\n";

    pub(crate) fn semgrep(dir: &Path, format: &str) -> String {
        let out = Command::new(tool("semgrep"))
            .args([
                "scan",
                format,
                "--metrics=off",
                "--quiet",
                "--config",
                "rules/",
                ".",
            ])
            .env("SEMGREP_ENABLE_VERSION_CHECK", "0")
            .env("SEMGREP_SEND_METRICS", "off")
            .current_dir(dir)
            .output()
            .expect("run semgrep");
        assert_eq!(out.status.code(), Some(0), "semgrep: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    /// The real semgrep, JSON versus its emacs format (`path:line:col:severity(id):…`).
    #[test]
    fn real_semgrep_output_round_trips() {
        let dir = project(&[("rules/rules.yml", RULES), ("app/main.py", CODE)]);
        let parsed = parse(&semgrep(dir.path(), "--json"), dir.path()).unwrap();
        let emacs = semgrep(dir.path(), "--emacs");
        let mut expected: Vec<String> = emacs
            .lines()
            .map(|l| {
                let mut p = l.splitn(5, ':');
                let (path, line, _col) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap());
                let id = p
                    .next()
                    .unwrap()
                    .split_once('(')
                    .unwrap()
                    .1
                    .trim_end_matches(')');
                format!("{path}|{line}|rules.{id}")
            })
            .collect();
        let mut got: Vec<String> = parsed
            .findings
            .iter()
            .map(|f| format!("{}|{}|{}", f.path, f.start_line, f.rule))
            .collect();
        expected.sort();
        got.sort();
        assert_eq!(got, expected);
        assert_eq!(got.len(), 5, "{got:?}");
        assert!(
            parsed.dropped.is_empty() && parsed.tool_errors.is_empty(),
            "{parsed:?}"
        );
        let multi = parsed.findings.iter().find(|f| f.start_line == 6).unwrap();
        assert_eq!(multi.end_line, 9);
    }
}
