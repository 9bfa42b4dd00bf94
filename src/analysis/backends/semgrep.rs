//! The Semgrep backend: `semgrep scan --json` with local rules only.
//!
//! The rules come from the config commit (a pull request's base), never from the analysed
//! tree: they are copied out of that commit into the run's configuration directory, and rule
//! files that are (or sit behind) symbolic links are refused. `.semgrepignore` files of the
//! analysed tree are not honoured (a pull request could otherwise ignore its own files);
//! `[paths] exclude` of the repository config is the way to leave files out. Semgrep never
//! reaches the network: no registry rules, no metrics, no version check.
//!
//! Measured with semgrep 1.180.0: `start`/`end` carry 1-based `line` and `col`, the end column
//! exclusive. `check_id` is prefixed with the dotted path of the rules directory
//! (`semgrep-rules/` + `id: shell-true` gives `semgrep-rules.shell-true`), so moving the rules
//! directory renames the rules; the prefix of the directory the rules were copied to is taken
//! off again. `errors[].type` is a string or, for partial parsing, an array.

use super::{
    copy_config_files, help_url, typed_options, Backend, Draft, FindingBuilder, Invocation,
    Parallelism, ParseError, ParseOutput, Prepare, ToolRun, TreeFacts,
};
use crate::analysis::repo_config::{ConfigError, OptionsTable};
use crate::domain::finding::{Category, Severity};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

pub const NAME: &str = "semgrep";

pub struct Semgrep;

/// `[backends.semgrep]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SemgrepOptions {
    /// Rule files or directories, relative to the repository root. Registry ids and URLs are
    /// refused: the analysis never downloads rules.
    pub config: Vec<String>,
}

impl Backend for Semgrep {
    fn name(&self) -> &str {
        NAME
    }

    fn program(&self) -> &str {
        "semgrep"
    }

    fn base_env(&self) -> Vec<(String, String)> {
        // Without these Semgrep looks for a newer version at start and, with no network,
        // waits about 100 s.
        vec![
            ("SEMGREP_ENABLE_VERSION_CHECK".into(), "0".into()),
            ("SEMGREP_SEND_METRICS".into(), "off".into()),
        ]
    }

    fn default_mapping(&self) -> &'static str {
        "ERROR/WARNING/INFO → critical/major/minor; category from `metadata.category`"
    }

    fn options(&self, table: Option<OptionsTable<'_>>) -> Result<Value, ConfigError> {
        let mut o = SemgrepOptions::default();
        if let Some(t) = table {
            t.allow(&["config"])?;
            o.config = t.strings("config", semgrep_local_path)?.unwrap_or_default();
        }
        Ok(serde_json::to_value(o).expect("plain data"))
    }

    fn applies(&self, _: &TreeFacts, options: &Value) -> Result<(), String> {
        let o: SemgrepOptions = typed_options(options);
        if o.config.is_empty() {
            return Err("no local rules configured (`semgrep = { config = [...] }`)".into());
        }
        Ok(())
    }

    fn parallelism(&self) -> Parallelism {
        Parallelism::Threads
    }

    fn prepare(&self, p: &Prepare<'_>) -> Result<Invocation, String> {
        let o: SemgrepOptions = typed_options(p.options);
        let rules = p.scratch.config.join("rules");
        copy_config_files(p.config_files, &o.config, &rules)
            .map_err(|e| format!("semgrep rules: {e}"))?;
        let mut args: Vec<String> = [
            "scan",
            "--json",
            "--metrics=off",
            "--disable-version-check",
            "--quiet",
            "--no-git-ignore",
            "--x-ignore-semgrepignore-files",
        ]
        .map(String::from)
        .to_vec();
        for c in &o.config {
            args.push(format!("--config={}", rules.join(c).display()));
        }
        args.push(format!("--jobs={}", p.cores.max(1)));
        args.push(".".into());
        Ok(Invocation {
            args,
            ..Invocation::default()
        })
    }

    fn parse(&self, run: &ToolRun<'_>) -> Result<ParseOutput, String> {
        if run.exit_code != Some(0) {
            return Err(run.exit_failure());
        }
        let prefix = rule_prefix(&run.scratch.config.join("rules"));
        let mut out =
            parse_limited(run.stdout, run.root, run.max_findings).map_err(|e| e.to_string())?;
        for f in &mut out.findings {
            if let Some(rest) = f.rule.strip_prefix(&prefix) {
                f.rule = rest.to_owned();
            }
        }
        // Errors (a rule that does not load, a target Semgrep gave up on) mean the run did
        // not check what it should have; warnings (a file parsed in part) are only noted.
        let errors: Vec<&String> = out
            .tool_errors
            .iter()
            .filter(|e| e.starts_with("semgrep error:"))
            .collect();
        if !errors.is_empty() {
            let shown: Vec<&str> = errors.iter().take(3).map(|e| e.as_str()).collect();
            return Err(shown.join("; "));
        }
        Ok(out)
    }
}

/// The dotted prefix Semgrep gives rule ids loaded from under `dir`, with the final dot.
fn rule_prefix(dir: &Path) -> String {
    let parts: Vec<String> = dir
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    format!("{}.", parts.join("."))
}

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
    parse_limited(output, repo_root, usize::MAX)
}

fn parse_limited(output: &str, repo_root: &Path, limit: usize) -> Result<ParseOutput, ParseError> {
    let report: Report = serde_json::from_str(output).map_err(|e| {
        let (tool, detail) = (NAME, e.to_string());
        if e.is_data() {
            ParseError::Shape { tool, detail }
        } else {
            ParseError::Json { tool, detail }
        }
    })?;
    let mut b = FindingBuilder::new(NAME, repo_root, limit);
    for e in &report.errors {
        b.tool_error(describe_error(e));
    }
    for m in report.results {
        let meta = &m.extra.metadata;
        let (category, severity) = semgrep_default(
            &m.extra.severity,
            meta.get("category").and_then(Value::as_str),
        );
        let end = m.end.as_ref();
        b.push(Draft {
            help_url: rule_url(meta),
            rule: m.check_id,
            category,
            severity,
            message: m.extra.message,
            path: m.path,
            start_line: m.start.line,
            end_line: end.and_then(|e| e.line),
            start_column: m.start.col,
            end_column: end.and_then(|e| e.col),
        });
    }
    Ok(b.finish())
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

/// Semgrep: ERROR/WARNING/INFO are critical/major/minor; category from the rule's
/// `metadata.category`.
///
/// Semgrep also accepts the newer CRITICAL/HIGH/MEDIUM/LOW scale, where HIGH is what ERROR
/// used to be: CRITICAL and HIGH are both critical (the design caps Semgrep at critical),
/// MEDIUM major, LOW minor. EXPERIMENT and INVENTORY rules only record facts: info.
pub fn semgrep_default(severity: &str, metadata_category: Option<&str>) -> (Category, Severity) {
    let severity = match severity.to_ascii_uppercase().as_str() {
        "ERROR" | "CRITICAL" | "HIGH" => Severity::Critical,
        "WARNING" | "MEDIUM" => Severity::Major,
        "EXPERIMENT" | "INVENTORY" => Severity::Info,
        _ => Severity::Minor,
    };
    let category = match metadata_category.map(str::to_ascii_lowercase).as_deref() {
        Some("security") => Category::Security,
        Some("correctness" | "reliability" | "bug") => Category::Reliability,
        _ => Category::Maintainability,
    };
    (category, severity)
}

/// A rule file or directory inside the repository. Everything else semgrep's `--config`
/// accepts (registry ids `p/…` `r/…` `s/…`, `auto`, URLs) would fetch rules from the network.
fn semgrep_local_path(s: &str) -> Result<(), String> {
    let refuse = |why: &str| {
        Err(format!(
            "`{s}`: {why}; only rule files inside the repository are allowed"
        ))
    };
    if s.is_empty() {
        return refuse("empty path");
    }
    if s.contains("://") || s.starts_with("http:") || s.starts_with("https:") {
        return refuse("a URL");
    }
    if s == "auto" || ["p/", "r/", "s/", "c/"].iter().any(|p| s.starts_with(p)) {
        return refuse("a Semgrep registry id");
    }
    if s.starts_with('/') || s.starts_with('~') || s.contains('\\') || s.contains(':') {
        return refuse("an absolute path");
    }
    if s.starts_with('-') {
        return refuse("looks like a command-line option");
    }
    if s.split('/').any(|seg| seg == "..") {
        return refuse("`..` leaves the repository");
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analysis::backends::testutil::{no_panic, project, tool};
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
    fn semgrep_table() {
        use Category::*;
        use Severity::*;
        for (sev, cat, want) in [
            ("ERROR", Some("security"), (Security, Critical)),
            ("WARNING", Some("correctness"), (Reliability, Major)),
            ("INFO", None, (Maintainability, Minor)),
            ("WARNING", Some("bug"), (Reliability, Major)),
            ("WARNING", Some("reliability"), (Reliability, Major)),
            ("ERROR", Some("best-practice"), (Maintainability, Critical)),
            ("ERROR", Some("Security"), (Security, Critical)),
            ("CRITICAL", Some("security"), (Security, Critical)),
            ("HIGH", None, (Maintainability, Critical)),
            ("MEDIUM", None, (Maintainability, Major)),
            ("LOW", None, (Maintainability, Minor)),
            ("INVENTORY", None, (Maintainability, Info)),
            ("weird", None, (Maintainability, Minor)),
        ] {
            assert_eq!(super::semgrep_default(sev, cat), want, "{sev}/{cat:?}");
        }
    }

    #[test]
    fn rule_ids_lose_the_copy_directory_prefix() {
        assert_eq!(
            rule_prefix(Path::new("/tmp/flext-quality-scratch-x1/config/rules")),
            "tmp.flext-quality-scratch-x1.config.rules."
        );
    }

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
