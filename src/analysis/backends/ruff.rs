//! The Ruff backend: `ruff check --output-format=json --isolated` on the Python files.
//!
//! Ruff runs `--isolated`, with its default rule set or the `select`/`ignore` of the base's
//! `.flext-quality.toml`: the analysed commit's own Ruff settings would let a pull request
//! switch off the rules it is judged by. Per file, so results are cached per file.

use super::{
    typed_options, Backend, Draft, FindingBuilder, Granularity, Invocation, Parallelism,
    ParseError, ParseOutput, Prepare, ToolRun, TreeFacts,
};
use crate::analysis::repo_config::{ConfigError, OptionsTable};
use crate::domain::finding::{Category, Severity};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

pub const NAME: &str = "ruff";

pub struct Ruff;

/// `[backends.ruff]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuffOptions {
    /// Rule codes or prefixes (`E`, `F401`, `ALL`); `None` keeps Ruff's default set.
    pub select: Option<Vec<String>>,
    pub ignore: Vec<String>,
    pub line_length: Option<u32>,
}

impl Backend for Ruff {
    fn name(&self) -> &str {
        NAME
    }

    fn program(&self) -> &str {
        "ruff"
    }

    fn default_mapping(&self) -> &'static str {
        "E9/F63/F7/F82 reliability major; other F, B reliability minor; S security at the Bandit equivalent's severity; rest maintainability minor"
    }

    fn options(&self, table: Option<OptionsTable<'_>>) -> Result<Value, ConfigError> {
        let mut o = RuffOptions::default();
        if let Some(t) = table {
            t.allow(&["select", "ignore", "line_length"])?;
            o.select = t.strings("select", ruff_selector)?;
            o.ignore = t.strings("ignore", ruff_selector)?.unwrap_or_default();
            o.line_length = t.int("line_length", 1, 320)?.map(|n| n as u32);
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

    fn parallelism(&self) -> Parallelism {
        Parallelism::Threads
    }

    fn prepare(&self, p: &Prepare<'_>) -> Result<Invocation, String> {
        let o: RuffOptions = typed_options(p.options);
        let mut args: Vec<String> = [
            "check",
            "--output-format=json",
            "--exit-zero",
            "--isolated",
            "--no-cache",
            "--quiet",
        ]
        .map(String::from)
        .to_vec();
        if let Some(select) = &o.select {
            args.push(format!("--select={}", select.join(",")));
        }
        if !o.ignore.is_empty() {
            args.push(format!("--ignore={}", o.ignore.join(",")));
        }
        if let Some(n) = o.line_length {
            args.push(format!("--line-length={n}"));
        }
        args.push("--".into());
        args.extend(p.files.iter().cloned());
        Ok(Invocation {
            args,
            // Ruff's thread pool is rayon's, which takes its size from here.
            env: vec![("RAYON_NUM_THREADS".into(), p.cores.max(1).to_string())],
            ..Invocation::default()
        })
    }

    fn parse(&self, run: &ToolRun<'_>) -> Result<ParseOutput, String> {
        // `--exit-zero`: anything but 0 is Ruff failing, not Ruff finding something.
        if run.exit_code != Some(0) {
            return Err(run.exit_failure());
        }
        parse_limited(run.stdout, run.root, run.max_findings).map_err(|e| e.to_string())
    }
}

#[derive(Deserialize)]
struct RuffLocation {
    row: i64,
    column: i64,
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

/// Parses the stdout of `ruff check --output-format=json`.
pub fn parse(output: &str, repo_root: &Path) -> Result<ParseOutput, ParseError> {
    parse_limited(output, repo_root, usize::MAX)
}

fn parse_limited(output: &str, repo_root: &Path, limit: usize) -> Result<ParseOutput, ParseError> {
    let diagnostics: Vec<RuffDiagnostic> =
        serde_json::from_str(output).map_err(|e| ParseError::Json {
            tool: NAME,
            detail: e.to_string(),
        })?;
    let mut b = FindingBuilder::new(NAME, repo_root, limit);
    for d in diagnostics {
        let rule = d.code.unwrap_or_else(|| "invalid-syntax".to_owned());
        let (category, severity) = ruff_default(&rule);
        let start = d.location.as_ref();
        let end = d.end_location.as_ref().or(start);
        b.push(Draft {
            rule,
            category,
            severity,
            message: d.message,
            path: d.filename,
            start_line: start.map(|l| l.row.max(1)),
            end_line: end.map(|l| l.row),
            start_column: start.map(|l| l.column.max(1)),
            end_column: end.map(|l| l.column.max(1)),
            help_url: super::help_url(d.url.as_deref()),
        });
    }
    Ok(b.finish())
}

/// Ruff rules: syntax errors and undefined names are reliability/major, other pyflakes and
/// bugbear rules reliability/minor, flake8-bandit (`S`) rules security at their Bandit
/// equivalent's severity, everything else maintainability/minor.
pub fn ruff_default(rule: &str) -> (Category, Severity) {
    const MAJOR_PREFIXES: [&str; 4] = ["E9", "F63", "F7", "F82"];
    if rule == "invalid-syntax"
        || rule == "syntax-error"
        || MAJOR_PREFIXES.iter().any(|p| rule.starts_with(p))
    {
        return (Category::Reliability, Severity::Major);
    }
    if let Some(number) = rule.strip_prefix('S') {
        if number.chars().all(|c| c.is_ascii_digit()) && !number.is_empty() {
            return (Category::Security, bandit_equivalent_severity(number));
        }
    }
    if rule.starts_with('F') || rule.starts_with('B') {
        return (Category::Reliability, Severity::Minor);
    }
    (Category::Maintainability, Severity::Minor)
}

/// Severity of a flake8-bandit rule, taken from the Bandit test with the same number: Bandit's
/// LOW-severity tests are minor, its HIGH-severity ones critical, the rest major.
fn bandit_equivalent_severity(number: &str) -> Severity {
    const LOW: [&str; 16] = [
        "101", "105", "106", "107", "110", "112", "311", "403", "404", "405", "406", "407", "408",
        "409", "603", "607",
    ];
    const HIGH: [&str; 12] = [
        "201", "324", "501", "502", "503", "504", "505", "506", "507", "602", "605", "701",
    ];
    if LOW.contains(&number) {
        Severity::Minor
    } else if HIGH.contains(&number) {
        Severity::Critical
    } else {
        Severity::Major
    }
}

/// Ruff selectors: `ALL`, or a rule prefix such as `E`, `E5`, `F401`, `UP006`.
fn ruff_selector(s: &str) -> Result<(), String> {
    let letters = s.trim_end_matches(|c: char| c.is_ascii_digit());
    if s == "ALL"
        || (!letters.is_empty()
            && letters.len() <= 4
            && letters.chars().all(|c| c.is_ascii_uppercase()))
            && s.len() <= 10
    {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a Ruff rule code or prefix (like `E`, `F401`, `ALL`)"
        ))
    }
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
    fn ruff_default_mapping() {
        use Category::*;
        use Severity::*;
        let table = [
            ("F821", Reliability, Major),
            ("F822", Reliability, Major),
            ("E999", Reliability, Major),
            ("F632", Reliability, Major),
            ("F701", Reliability, Major),
            ("syntax-error", Reliability, Major),
            ("invalid-syntax", Reliability, Major),
            ("F401", Reliability, Minor),
            ("F841", Reliability, Minor),
            ("B006", Reliability, Minor),
            ("S101", Security, Minor),
            ("S608", Security, Major),
            ("S602", Security, Critical),
            ("E501", Maintainability, Minor),
            ("SIM108", Maintainability, Minor),
            ("UP006", Maintainability, Minor),
            ("I001", Maintainability, Minor),
        ];
        for (rule, category, severity) in table {
            assert_eq!(ruff_default(rule), (category, severity), "rule {rule}");
        }
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
        crate::analysis::backends::testutil::no_panic(&[sample, "[]"], 5000, |input| {
            let _ = parse(input, &root);
        });
    }
}
