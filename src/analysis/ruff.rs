//! The Ruff backend: `ruff check --output-format=json` over the work tree.
//!
//! Ruff runs `--isolated`, with its default rule set: the analysed commit's own Ruff settings
//! would let a pull request switch off the rules it is judged by.

use super::parse::{relative_path, ParseError, ParseOutput};
use crate::domain::finding::{default_effort_minutes, RawFinding};
use crate::domain::policy::ruff_default;
use serde::Deserialize;
use std::path::Path;

pub const NAME: &str = "ruff";

#[derive(Deserialize)]
struct RuffLocation {
    row: u32,
    column: u32,
}

#[derive(Deserialize)]
struct RuffDiagnostic {
    code: Option<String>,
    message: String,
    filename: String,
    location: Option<RuffLocation>,
    end_location: Option<RuffLocation>,
    url: Option<String>,
}

pub fn parse(output: &str, repo_root: &Path) -> Result<ParseOutput, ParseError> {
    let diagnostics: Vec<RuffDiagnostic> =
        serde_json::from_str(output).map_err(|e| ParseError::Json {
            tool: NAME,
            detail: e.to_string(),
        })?;
    let mut out = ParseOutput::default();
    for d in diagnostics {
        let path = match relative_path(&d.filename, repo_root) {
            Ok(p) => p,
            Err(why) => {
                out.dropped.push(why);
                continue;
            }
        };
        let rule = d.code.unwrap_or_else(|| "invalid-syntax".to_owned());
        let (category, severity) = ruff_default(&rule);
        let (start_line, start_column) = d
            .location
            .as_ref()
            .map(|l| (l.row.max(1), Some(l.column.max(1))))
            .unwrap_or((1, None));
        let (end_line, end_column) = d
            .end_location
            .as_ref()
            .map(|l| (l.row.max(start_line), Some(l.column.max(1))))
            .unwrap_or((start_line, start_column));
        out.findings.push(RawFinding {
            backend: NAME.into(),
            rule,
            category,
            severity,
            message: d.message,
            path,
            start_line,
            end_line,
            start_column,
            end_column,
            help_url: d.url,
            effort_minutes: default_effort_minutes(severity),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::finding::{Category, Severity};

    #[test]
    fn parses_ruff_json_and_maps_rules() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let file = root.join("a.py");
        std::fs::write(&file, "import sys\nx = undefined_name\n").unwrap();
        let json = format!(
            r#"[{{"code":"F821","message":"Undefined name `undefined_name`","filename":"{f}",
                "location":{{"row":2,"column":5}},"end_location":{{"row":2,"column":19}},
                "url":"https://docs.astral.sh/ruff/rules/undefined-name","fix":null,"cell":null,"noqa_row":2}},
               {{"code":"invalid-syntax","message":"Expected `)`","filename":"{f}",
                "location":{{"row":3,"column":8}},"end_location":{{"row":4,"column":1}},"url":null}},
               {{"code":"F401","message":"outside","filename":"/etc/passwd",
                "location":{{"row":1,"column":1}},"end_location":{{"row":1,"column":2}},"url":null}}]"#,
            f = file.display()
        );
        let out = parse(&json, &root).unwrap();
        assert_eq!(out.findings.len(), 2);
        assert_eq!(out.dropped.len(), 1);
        let f = &out.findings[0];
        assert_eq!(
            (
                f.rule.as_str(),
                f.path.as_str(),
                f.start_line,
                f.start_column
            ),
            ("F821", "a.py", 2, Some(5))
        );
        assert_eq!(
            (f.category, f.severity),
            (Category::Reliability, Severity::Major)
        );
        assert_eq!(
            f.help_url.as_deref(),
            Some("https://docs.astral.sh/ruff/rules/undefined-name")
        );
        assert_eq!(out.findings[1].severity, Severity::Major);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let root = std::env::temp_dir();
        for input in ["", "{", "[1]", "null", "[{\"code\":1}]", "\u{0}"] {
            assert!(parse(input, &root).is_err(), "{input:?}");
        }
    }

    #[test]
    fn never_panics_on_mutated_output() {
        let root = std::env::temp_dir();
        let sample = r#"[{"cell":null,"code":"F821","end_location":{"column":19,"row":2},"filename":"/tmp/a.py",
            "fix":null,"location":{"column":5,"row":2},"message":"Undefined name `x`","noqa_row":2,
            "url":"https://docs.astral.sh/ruff/rules/undefined-name"}]"#;
        crate::analysis::parse::testutil::no_panic(&[sample, "[]"], 5000, |input| {
            let _ = parse(input, &root);
        });
    }
}
