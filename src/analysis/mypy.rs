//! MyPy backend parser: `mypy -O json` (mypy ≥ 1.11) writes one JSON object per diagnostic,
//! one per line.
//!
//! Measured with mypy 2.4.1: `column` is 0-based and `end_column` 0-based exclusive, so both
//! get +1 here (findings use 1-based columns, end exclusive, like Ruff and SARIF). The summary
//! line ("Found 1 error in 1 file (errors prevented further checking)") still goes to stdout
//! after a blocking error, so lines that are not JSON objects are tolerated, not fatal.

use super::parse::{help_url, position, relative_path, ParseError, ParseOutput};
use crate::domain::finding::{default_effort_minutes, RawFinding};
use crate::domain::mapping::mypy_default;
use serde::Deserialize;
use std::path::Path;

pub const NAME: &str = "mypy";

#[derive(Deserialize)]
struct MypyDiagnostic {
    file: String,
    line: Option<i64>,
    column: Option<i64>,
    end_line: Option<i64>,
    end_column: Option<i64>,
    message: String,
    hint: Option<String>,
    code: Option<String>,
    severity: String,
}

/// Parses the stdout of `mypy -O json`, run from the repository root.
pub fn parse(output: &str, repo_root: &Path) -> Result<ParseOutput, ParseError> {
    let mut out = ParseOutput::default();
    for (n, line) in output.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if !line.starts_with('{') {
            // "Found N errors…" and "Success: …" only summarise what the JSON lines said.
            if !line.starts_with("Found ") && !line.starts_with("Success:") {
                out.tool_errors.push(format!("mypy: {line}"));
            }
            continue;
        }
        let d: MypyDiagnostic = serde_json::from_str(line).map_err(|e| ParseError::Json {
            tool: NAME,
            detail: format!("line {}: {e}", n + 1),
        })?;
        let path = match relative_path(&d.file, repo_root) {
            Ok(p) => p,
            Err(why) => {
                out.dropped.push(format!("mypy: {why}"));
                continue;
            }
        };
        let (category, severity) = mypy_default(&d.severity);
        // mypy's catch-all code; JSON leaves it null for a few diagnostics.
        let rule = d.code.unwrap_or_else(|| "misc".to_owned());
        let start_line = position(d.line).unwrap_or(1);
        let end_line = position(d.end_line).unwrap_or(start_line).max(start_line);
        let start_column = position(d.column.map(|c| c.saturating_add(1)));
        let end_column = position(d.end_column.map(|c| c.saturating_add(1)));
        let mut message = d.message;
        if let Some(hint) = d.hint.filter(|h| !h.trim().is_empty()) {
            message.push('\n');
            message.push_str(&hint);
        }
        out.findings.push(RawFinding {
            backend: NAME.into(),
            help_url: help_url(Some(&format!(
                "https://mypy.readthedocs.io/en/stable/_refs.html#code-{rule}"
            ))),
            rule,
            category,
            severity,
            message,
            path,
            start_line,
            end_line,
            start_column,
            end_column,
            effort_minutes: default_effort_minutes(severity),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::parse::testutil::{no_panic, project, tool};
    use crate::domain::finding::{Category, Severity};
    use std::process::Command;

    const SAMPLE: &str = r#"{"file": "pkg/app.py", "line": 8, "column": 11, "end_line": 8, "end_column": 23, "message": "Incompatible return value type (got \"str\", expected \"int\")", "hint": null, "code": "return-value", "severity": "error"}
{"file": "pkg/hints.py", "line": 1, "column": 0, "end_line": 1, "end_column": 1, "message": "Library stubs not installed for \"yaml\"", "hint": "Hint: \"python3 -m pip install types-PyYAML\"\n(or run \"mypy --install-types\" to install all missing stub packages)", "code": "import-untyped", "severity": "error"}
{"file": "pkg/app.py", "line": 22, "column": 12, "end_line": 22, "end_column": 20, "message": "Revealed type is \"str\"", "hint": null, "code": "misc", "severity": "note"}
{"file": "/etc/passwd", "line": 1, "column": 0, "end_line": 1, "end_column": 1, "message": "outside", "hint": null, "code": null, "severity": "error"}
{"file": "pkg/app.py", "line": -1, "column": -1, "end_line": null, "end_column": null, "message": "no position", "hint": null, "code": null, "severity": "error"}
Found 1 error in 1 file (errors prevented further checking)
"#;

    #[test]
    fn parses_captured_output() {
        let dir = project(&[("pkg/app.py", "")]);
        let out = parse(SAMPLE, dir.path()).unwrap();
        assert_eq!(out.findings.len(), 4, "{:?}", out);
        assert_eq!(out.dropped.len(), 1);
        assert!(out.tool_errors.is_empty(), "{:?}", out.tool_errors);
        let f = &out.findings[0];
        assert_eq!(
            (f.rule.as_str(), f.path.as_str(), f.start_line, f.end_line),
            ("return-value", "pkg/app.py", 8, 8)
        );
        assert_eq!((f.start_column, f.end_column), (Some(12), Some(24)));
        assert_eq!(
            (f.category, f.severity),
            (Category::Reliability, Severity::Major)
        );
        assert_eq!(
            f.help_url.as_deref(),
            Some("https://mypy.readthedocs.io/en/stable/_refs.html#code-return-value")
        );
        assert_eq!(f.effort_minutes, 15);
        assert!(out.findings[1].message.contains("\nHint: "));
        assert_eq!(out.findings[2].severity, Severity::Info);
        let nowhere = &out.findings[3];
        assert_eq!((nowhere.rule.as_str(), nowhere.start_line), ("misc", 1));
        assert_eq!((nowhere.start_column, nowhere.end_column), (None, None));
    }

    #[test]
    fn bad_json_lines_are_errors_and_other_text_is_reported() {
        let root = std::env::temp_dir();
        assert!(parse("{\"file\": 1}", &root).is_err());
        assert!(parse("{", &root).is_err());
        let out = parse("x.py: error: Cannot read file\n\n", &root).unwrap();
        assert_eq!(out.tool_errors, ["mypy: x.py: error: Cannot read file"]);
        assert_eq!(parse("", &root).unwrap(), ParseOutput::default());
    }

    #[test]
    fn never_panics() {
        let root = std::env::temp_dir();
        no_panic(&[SAMPLE], 5000, |input| {
            let _ = parse(input, &root);
        });
    }

    /// Runs the real mypy twice, JSON and text, and checks that every diagnostic of the text
    /// report is a finding: same count, path, line, severity and code.
    #[test]
    fn real_mypy_output_round_trips() {
        let mypy = tool("mypy");
        let dir = project(&[
            (
                "pkg/app.py",
                "def run(cmd: str) -> int:\n    return \"not an int\"\n\n\
                 x: int = \"é ü\"\nprint(undefined_name)\nreveal_type(x)\n",
            ),
            ("pkg/__init__.py", ""),
            ("other.py", "def f(x: int) -> None: ...\nf(\"a\", 2)\n"),
        ]);
        let run = |args: &[&str]| {
            let out = Command::new(&mypy)
                .args(args)
                .args(["--no-error-summary", "--cache-dir=/dev/null", "."])
                .current_dir(dir.path())
                .output()
                .expect("run mypy");
            assert!(out.status.code() == Some(1), "mypy failed: {out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        let json = run(&["-O", "json"]);
        let text = run(&["--show-column-numbers", "--show-error-codes", "--no-pretty"]);
        let parsed = parse(&json, dir.path()).unwrap();
        assert!(
            parsed.dropped.is_empty() && parsed.tool_errors.is_empty(),
            "{parsed:?}"
        );
        // `path:line:col: severity: message  [code]`; notes carry no code.
        let mut expected: Vec<(String, u32, u32, String)> = text
            .lines()
            .map(|l| {
                let mut parts = l.splitn(5, ':');
                let path = parts.next().unwrap().to_owned();
                let line = parts.next().unwrap().parse().unwrap();
                let col = parts.next().unwrap().parse().unwrap();
                let severity = parts.next().unwrap().trim().to_owned();
                let rest = parts.next().unwrap();
                let code = match severity.as_str() {
                    "note" => "misc".to_owned(),
                    _ => rest
                        .rsplit_once('[')
                        .unwrap()
                        .1
                        .trim_end_matches(']')
                        .to_owned(),
                };
                (path, line, col, code)
            })
            .collect();
        let mut got: Vec<(String, u32, u32, String)> = parsed
            .findings
            .iter()
            .map(|f| {
                (
                    f.path.clone(),
                    f.start_line,
                    f.start_column.unwrap(),
                    f.rule.clone(),
                )
            })
            .collect();
        expected.sort();
        got.sort();
        assert_eq!(got, expected);
        assert!(got.len() >= 5, "{got:?}");
        let notes = parsed
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Info)
            .count();
        assert_eq!(notes, text.matches(": note: ").count());
    }
}
