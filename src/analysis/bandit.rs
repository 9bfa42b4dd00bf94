//! Bandit backend parser: `bandit -r . -f json` writes one JSON document with `results` (the
//! findings) and `errors` (files it could not scan, e.g. a syntax error).
//!
//! Measured with bandit 1.9.4: `col_offset`/`end_col_offset` come from Python's AST, 0-based
//! and (end) exclusive, counted in UTF-8 bytes; they get +1 here. `line_range` lists every line
//! of the flagged node, so its last entry is the end line.

use super::parse::{help_url, position, relative_path, ParseError, ParseOutput};
use crate::domain::finding::{default_effort_minutes, Category, RawFinding};
use crate::domain::mapping::bandit_default;
use serde::Deserialize;
use std::path::Path;

pub const NAME: &str = "bandit";

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

/// Parses the stdout of `bandit -r . -f json`, run from the repository root.
pub fn parse(output: &str, repo_root: &Path) -> Result<ParseOutput, ParseError> {
    let report: Report = serde_json::from_str(output).map_err(|e| {
        let tool = NAME;
        let detail = e.to_string();
        if e.is_data() {
            ParseError::Shape { tool, detail }
        } else {
            ParseError::Json { tool, detail }
        }
    })?;
    let mut out = ParseOutput::default();
    for e in report.errors {
        out.tool_errors
            .push(format!("bandit: {}: {}", e.filename, e.reason));
    }
    for i in report.results {
        let path = match relative_path(&i.filename, repo_root) {
            Ok(p) => p,
            Err(why) => {
                out.dropped.push(format!("bandit {}: {why}", i.test_id));
                continue;
            }
        };
        let severity = bandit_default(&i.issue_severity, &i.issue_confidence);
        let start_line = position(i.line_number).unwrap_or(1);
        let end_line = position(i.line_range.iter().copied().max())
            .unwrap_or(start_line)
            .max(start_line);
        let mut message = i.issue_text;
        if !i.test_name.is_empty() {
            message = format!(
                "{message} ({}, confidence {})",
                i.test_name,
                i.issue_confidence.to_ascii_lowercase()
            );
        }
        out.findings.push(RawFinding {
            backend: NAME.into(),
            rule: i.test_id,
            category: Category::Security,
            severity,
            message,
            path,
            start_line,
            end_line,
            start_column: position(i.col_offset.map(|c| c.saturating_add(1))),
            end_column: position(i.end_col_offset.map(|c| c.saturating_add(1))),
            help_url: help_url(i.more_info.as_deref()),
            effort_minutes: default_effort_minutes(severity),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::parse::testutil::{no_panic, project, tool};
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
