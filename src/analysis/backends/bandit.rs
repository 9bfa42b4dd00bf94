//! The Bandit backend: `bandit -f json` on the Python files, per file (so cached per file).
//!
//! Bandit reads no configuration from the tree here: its options come from `[backends.bandit]`
//! of the config commit, and it is given files, not directories (a directory target would let
//! a `.bandit` file in the tree choose what is skipped).
//!
//! Measured with bandit 1.9.4: one JSON document with `results` (the findings) and `errors`
//! (files it could not scan, e.g. a syntax error). `col_offset`/`end_col_offset` come from
//! Python's AST, 0-based and (end) exclusive, counted in UTF-8 bytes; they get +1 here.
//! `line_range` lists every line of the flagged node, so its last entry is the end line.

use super::{
    typed_options, Backend, Draft, FindingBuilder, Granularity, Invocation, ParseError,
    ParseOutput, Prepare, ToolRun, TreeFacts,
};
use crate::analysis::repo_config::{ConfigError, OptionsTable};
use crate::domain::finding::{Category, Severity};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

pub const NAME: &str = "bandit";

pub struct Bandit;

/// `[backends.bandit]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanditOptions {
    /// Test ids to skip (`B101`).
    pub skip: Vec<String>,
    /// Lowest issue severity reported (`low`, `medium`, `high`); `None` reports all.
    pub severity: Option<String>,
}

impl Backend for Bandit {
    fn name(&self) -> &str {
        NAME
    }

    fn program(&self) -> &str {
        "bandit"
    }

    fn default_mapping(&self) -> &'static str {
        "HIGH/MEDIUM/LOW → critical/major/minor, one lower when confidence is LOW; security"
    }

    fn options(&self, table: Option<OptionsTable<'_>>) -> Result<Value, ConfigError> {
        let mut o = BanditOptions::default();
        if let Some(t) = table {
            t.allow(&["skip", "severity"])?;
            o.skip = t.strings("skip", bandit_test_id)?.unwrap_or_default();
            o.severity = t.choice("severity", "level", &["low", "medium", "high"])?;
        }
        Ok(serde_json::to_value(o).expect("plain data"))
    }

    fn applies(&self, facts: &TreeFacts, _: &Value) -> Result<(), String> {
        if facts.python_files.is_empty() {
            return Err("no Python files".into());
        }
        Ok(())
    }

    fn granularity(&self) -> Granularity {
        Granularity::PerFile
    }

    fn prepare(&self, p: &Prepare<'_>) -> Result<Invocation, String> {
        let o: BanditOptions = typed_options(p.options);
        let mut args: Vec<String> = ["-f", "json", "-q"].map(String::from).to_vec();
        if !o.skip.is_empty() {
            args.push(format!("--skip={}", o.skip.join(",")));
        }
        match o.severity.as_deref() {
            Some("medium") => args.push("-ll".into()),
            Some("high") => args.push("-lll".into()),
            _ => {}
        }
        args.push("--".into());
        args.extend(p.files.iter().cloned());
        Ok(Invocation {
            args,
            ..Invocation::default()
        })
    }

    fn parse(&self, run: &ToolRun<'_>) -> Result<ParseOutput, String> {
        // 0: nothing found, 1: found something; anything else is Bandit failing.
        if !matches!(run.exit_code, Some(0 | 1)) {
            return Err(run.exit_failure());
        }
        let out =
            parse_limited(run.stdout, run.root, run.max_findings).map_err(|e| e.to_string())?;
        // Files Bandit could not scan were not judged: the run is incomplete.
        if !out.tool_errors.is_empty() {
            let shown: Vec<&str> = out.tool_errors.iter().take(3).map(String::as_str).collect();
            let more = out.tool_errors.len().saturating_sub(3);
            let mut message = format!("could not scan every file: {}", shown.join("; "));
            if more > 0 {
                message.push_str(&format!(" (and {more} more)"));
            }
            return Err(message);
        }
        Ok(out)
    }
}

#[derive(Deserialize)]
struct Report {
    results: Vec<Issue>,
    #[serde(default)]
    errors: Vec<FileError>,
}

#[derive(Deserialize)]
struct Issue {
    filename: String,
    line_number: Option<i64>,
    #[serde(default)]
    line_range: Vec<i64>,
    col_offset: Option<i64>,
    end_col_offset: Option<i64>,
    test_id: String,
    #[serde(default)]
    test_name: String,
    issue_severity: String,
    issue_confidence: String,
    issue_text: String,
    more_info: Option<String>,
}

#[derive(Deserialize)]
struct FileError {
    #[serde(default)]
    filename: String,
    #[serde(default)]
    reason: String,
}

/// Parses the stdout of `bandit -f json`, run from the repository root.
pub fn parse(output: &str, repo_root: &Path) -> Result<ParseOutput, ParseError> {
    parse_limited(output, repo_root, usize::MAX)
}

fn parse_limited(output: &str, repo_root: &Path, limit: usize) -> Result<ParseOutput, ParseError> {
    let report: Report = serde_json::from_str(output).map_err(|e| {
        let tool = NAME;
        let detail = e.to_string();
        if e.is_data() {
            ParseError::Shape { tool, detail }
        } else {
            ParseError::Json { tool, detail }
        }
    })?;
    let mut b = FindingBuilder::new(NAME, repo_root, limit);
    for e in report.errors {
        b.tool_error(format!("bandit: {}: {}", e.filename, e.reason));
    }
    for i in report.results {
        let severity = bandit_default(&i.issue_severity, &i.issue_confidence);
        let mut message = i.issue_text;
        if !i.test_name.is_empty() {
            message = format!(
                "{message} ({}, confidence {})",
                i.test_name,
                i.issue_confidence.to_ascii_lowercase()
            );
        }
        b.push(Draft {
            rule: i.test_id,
            category: Category::Security,
            severity,
            message,
            path: i.filename,
            start_line: i.line_number,
            end_line: i.line_range.iter().copied().max(),
            start_column: i.col_offset.map(|c| c.saturating_add(1)),
            end_column: i.end_col_offset.map(|c| c.saturating_add(1)),
            help_url: super::help_url(i.more_info.as_deref()),
        });
    }
    Ok(b.finish())
}

/// Bandit: HIGH/MEDIUM/LOW severity are critical/major/minor, one step lower when Bandit
/// itself has LOW confidence in the finding. Always security.
pub fn bandit_default(issue_severity: &str, issue_confidence: &str) -> Severity {
    let severity = match issue_severity.to_ascii_uppercase().as_str() {
        "HIGH" => Severity::Critical,
        "MEDIUM" => Severity::Major,
        "LOW" => Severity::Minor,
        // Bandit's UNDEFINED (and anything newer) gives no signal beyond "a security smell".
        _ => Severity::Info,
    };
    if issue_confidence.eq_ignore_ascii_case("LOW") {
        severity.lowered()
    } else {
        severity
    }
}

fn bandit_test_id(s: &str) -> Result<(), String> {
    let ok = s.len() == 4 && s.starts_with('B') && s[1..].bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!("`{s}` is not a Bandit test id (like `B101`)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::backends::testutil::{no_panic, project, tool};
    use crate::domain::finding::Severity;
    use std::process::Command;

    const SAMPLE: &str = r#"{
  "errors": [{"filename": "./pkg/bad.py", "reason": "syntax error while parsing AST from file"}],
  "generated_at": "2026-11-24T05:05:31Z",
  "metrics": {"_totals": {"loc": 35, "nosec": 0}},
  "results": [
    {"code": "6 def run(cmd: str) -> int:\n7     subprocess.call(cmd, shell=True)\n", "col_offset": 4,
     "end_col_offset": 36, "filename": "./pkg/app.py", "issue_confidence": "HIGH",
     "issue_cwe": {"id": 78, "link": "https://cwe.mitre.org/data/definitions/78.html"},
     "issue_severity": "HIGH", "issue_text": "subprocess call with shell=True identified, security issue.",
     "line_number": 7, "line_range": [7, 8],
     "more_info": "https://bandit.readthedocs.io/en/1.9.4/plugins/b602_subprocess_popen_with_shell_equals_true.html",
     "test_id": "B602", "test_name": "subprocess_popen_with_shell_equals_true"},
    {"code": "21 password = \"hunter2\"\n", "col_offset": 11, "end_col_offset": 20, "filename": "./pkg/app.py",
     "issue_confidence": "MEDIUM", "issue_cwe": {"id": 259, "link": "https://cwe.mitre.org/data/definitions/259.html"},
     "issue_severity": "LOW", "issue_text": "Possible hardcoded password: 'hunter2'", "line_number": 21,
     "line_range": [21], "more_info": "https://bandit.readthedocs.io/en/1.9.4/plugins/b105_hardcoded_password_string.html",
     "test_id": "B105", "test_name": "hardcoded_password_string"},
    {"col_offset": 0, "end_col_offset": 5, "filename": "../elsewhere.py", "issue_confidence": "LOW",
     "issue_severity": "MEDIUM", "issue_text": "outside", "line_number": 1, "line_range": [1],
     "more_info": null, "test_id": "B301", "test_name": "pickle"},
    {"col_offset": 0, "filename": "pkg/app.py", "issue_confidence": "LOW", "issue_severity": "MEDIUM",
     "issue_text": "sparse", "line_number": 3, "line_range": [], "more_info": "javascript:alert(1)",
     "test_id": "B301", "test_name": ""}
  ]
}"#;

    #[test]
    fn bandit_table() {
        for (sev, conf, want) in [
            ("HIGH", "HIGH", Severity::Critical),
            ("HIGH", "MEDIUM", Severity::Critical),
            ("HIGH", "LOW", Severity::Major),
            ("MEDIUM", "HIGH", Severity::Major),
            ("MEDIUM", "LOW", Severity::Minor),
            ("LOW", "HIGH", Severity::Minor),
            ("LOW", "LOW", Severity::Info),
            ("low", "low", Severity::Info),
            ("UNDEFINED", "HIGH", Severity::Info),
        ] {
            assert_eq!(super::bandit_default(sev, conf), want, "{sev}/{conf}");
        }
    }

    #[test]
    fn parses_captured_output() {
        let dir = project(&[("pkg/app.py", "")]);
        let out = parse(SAMPLE, dir.path()).unwrap();
        assert_eq!(out.findings.len(), 3);
        assert_eq!(out.dropped.len(), 1);
        assert_eq!(
            out.tool_errors,
            ["bandit: ./pkg/bad.py: syntax error while parsing AST from file"]
        );
        let f = &out.findings[0];
        assert_eq!(
            (f.rule.as_str(), f.path.as_str(), f.start_line, f.end_line),
            ("B602", "pkg/app.py", 7, 8)
        );
        assert_eq!((f.start_column, f.end_column), (Some(5), Some(37)));
        assert_eq!(
            (f.category, f.severity),
            (Category::Security, Severity::Critical)
        );
        assert!(f.help_url.as_deref().unwrap().contains("b602"));
        assert_eq!(out.findings[1].severity, Severity::Minor);
        let sparse = &out.findings[2];
        assert_eq!(
            sparse.severity,
            Severity::Minor,
            "MEDIUM with LOW confidence"
        );
        assert_eq!(
            (
                sparse.end_line,
                sparse.end_column,
                sparse.help_url.as_deref()
            ),
            (3, None, None)
        );
    }

    #[test]
    fn wrong_documents_are_errors() {
        let root = std::env::temp_dir();
        assert!(matches!(parse("", &root), Err(ParseError::Json { .. })));
        assert!(matches!(parse("[]", &root), Err(ParseError::Shape { .. })));
        assert!(matches!(
            parse("{\"results\": [{}]}", &root),
            Err(ParseError::Shape { .. })
        ));
        let empty = parse("{\"results\": []}", &root).unwrap();
        assert_eq!(empty, ParseOutput::default());
    }

    #[test]
    fn never_panics() {
        let root = std::env::temp_dir();
        no_panic(&[SAMPLE], 5000, |input| {
            let _ = parse(input, &root);
        });
    }

    /// The real bandit, JSON versus its own one-line template: same issues, none lost.
    #[test]
    fn real_bandit_output_round_trips() {
        let bandit = tool("bandit");
        let dir = project(&[
            (
                "pkg/app.py",
                "import subprocess\nimport pickle\nimport hashlib\n\n\
                 def run(cmd):\n    subprocess.call(cmd, shell=True)\n\n\
                 def load(b):\n    return pickle.loads(b)\n\n\
                 def weak(x):\n    assert x\n    return hashlib.md5(x).hexdigest()\n\n\
                 password = \"hunter2\"\n",
            ),
            ("pkg/__init__.py", ""),
            ("bad.py", "def f(:\n"),
        ]);
        let run = |args: &[&str]| {
            let out = Command::new(&bandit)
                .args(["-r", ".", "-q"])
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("run bandit");
            assert_eq!(out.status.code(), Some(1), "bandit: {out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        let parsed = parse(&run(&["-f", "json"]), dir.path()).unwrap();
        let template = run(&[
            "-f",
            "custom",
            "--msg-template",
            "{relpath}|{line}|{test_id}",
        ]);
        let mut expected: Vec<String> = template
            .lines()
            .map(|l| l.trim_start_matches("./").to_owned())
            .collect();
        let mut got: Vec<String> = parsed
            .findings
            .iter()
            .map(|f| format!("{}|{}|{}", f.path, f.start_line, f.rule))
            .collect();
        expected.sort();
        got.sort();
        assert_eq!(got, expected);
        assert!(got.len() >= 6, "{got:?}");
        assert!(parsed.dropped.is_empty());
        assert_eq!(
            parsed.tool_errors.len(),
            1,
            "bad.py cannot be parsed: {parsed:?}"
        );
    }
}
