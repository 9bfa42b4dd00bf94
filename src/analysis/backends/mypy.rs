//! The MyPy backend: `mypy -O json` with a configuration flext-quality writes.
//!
//! MyPy never reads configuration from the analysed tree: [`super::mypy_config`] reads the
//! project's settings from the config commit (a pull request's base), keeps the options that
//! decide what is checked, and adds `[backends.mypy]` from `.flext-quality.toml`. MyPy then
//! checks the project's `files` when it names them, or the whole tree with its `exclude`.
//!
//! Measured with mypy 2.4.1: one JSON object per diagnostic and line; `column` is 0-based and
//! `end_column` 0-based exclusive, so both get +1 here (findings use 1-based columns, end
//! exclusive, like Ruff and SARIF). Exit 0 is clean, 1 found errors, 2 stopped at a blocking
//! error (a syntax error, a duplicate module, a bad option): then nothing else was checked,
//! and the backend has failed, whatever it printed.

use super::mypy_config::{self, MypyConfig};
use super::{
    typed_options, Backend, Draft, FindingBuilder, Invocation, ParseError, ParseOutput, Prepare,
    ToolRun, TreeFacts,
};
use crate::analysis::repo_config::{ConfigError, OptionsTable};
use crate::domain::finding::{Category, Severity};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

pub const NAME: &str = "mypy";

pub struct Mypy;

/// `[backends.mypy]`: set on top of the project's own MyPy settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MypyOptions {
    pub strict: bool,
    pub ignore_missing_imports: bool,
}

impl Backend for Mypy {
    fn name(&self) -> &str {
        NAME
    }

    fn program(&self) -> &str {
        "mypy"
    }

    fn default_mapping(&self) -> &'static str {
        "error → reliability major; note → info"
    }

    fn options(&self, table: Option<OptionsTable<'_>>) -> Result<Value, ConfigError> {
        let mut o = MypyOptions::default();
        if let Some(t) = table {
            t.allow(&["strict", "ignore_missing_imports"])?;
            o.strict = t.bool("strict")?.unwrap_or(false);
            o.ignore_missing_imports = t.bool("ignore_missing_imports")?.unwrap_or(false);
        }
        Ok(serde_json::to_value(o).expect("plain data"))
    }

    fn applies(&self, facts: &TreeFacts, _: &Value) -> Result<(), String> {
        if facts.python_files.is_empty() {
            return Err("no Python files".into());
        }
        Ok(())
    }

    fn prepare(&self, p: &Prepare<'_>) -> Result<Invocation, String> {
        let mut config = effective_config(p);
        let mut notes = Vec::new();
        // A link in the tree leads nowhere outside it in the jail; MyPy would stop at it.
        config.exclude_paths(&p.facts.links);
        let file = p.scratch.config.join("mypy.ini");
        std::fs::write(&file, config.render())
            .map_err(|e| format!("writing {}: {e}", file.display()))?;
        let cache = match p.tool_cache {
            Some(dir) => dir.join("mypy"),
            None => p.scratch.home.join("mypy-cache"),
        };
        let mut args: Vec<String> = vec![
            "--config-file".into(),
            file.display().to_string(),
            "--cache-dir".into(),
            cache.display().to_string(),
        ];
        args.extend(
            [
                "--output",
                "json",
                "--no-error-summary",
                "--show-column-numbers",
                "--hide-error-context",
                "--no-color-output",
                "--no-pretty",
            ]
            .map(String::from),
        );
        // With `files` in the config MyPy checks those; otherwise the tree, where its
        // `exclude` applies (it does not apply to files named on the command line).
        if config.files().is_none() {
            args.push(".".into());
        }
        if !p.facts.links.is_empty() {
            notes.push(format!(
                "{} symbolic link(s) in the tree left out of MyPy's file discovery",
                p.facts.links.len()
            ));
        }
        if let Some(source) = config.source {
            notes.push(format!("MyPy settings from the project's {source}"));
        }
        notes.extend(config.notes.iter().cloned());
        Ok(Invocation {
            args,
            notes,
            ..Invocation::default()
        })
    }

    fn parse(&self, run: &ToolRun<'_>) -> Result<ParseOutput, String> {
        match run.exit_code {
            Some(0 | 1) => {
                parse_limited(run.stdout, run.root, run.max_findings).map_err(|e| e.to_string())
            }
            Some(2) => Err(blocking_error(run)),
            _ => Err(run.exit_failure()),
        }
    }
}

/// The project's MyPy settings from the config commit, with `[backends.mypy]` on top.
pub fn effective_config(p: &Prepare<'_>) -> MypyConfig {
    let o: MypyOptions = typed_options(p.options);
    let mut config = mypy_config::load(|name| {
        p.config_files
            .read(name)
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    });
    if o.strict {
        config.set("strict", "True");
    }
    if o.ignore_missing_imports {
        config.set("ignore_missing_imports", "True");
    }
    config
}

/// What MyPy said when it stopped: its error lines, then stderr.
fn blocking_error(run: &ToolRun<'_>) -> String {
    let mut said: Vec<String> = Vec::new();
    for line in run.stdout.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match serde_json::from_str::<MypyDiagnostic>(line) {
            Ok(d) if d.severity == "error" => {
                let at = match d.line.filter(|l| *l >= 1) {
                    Some(n) => format!("{}:{n}", d.file),
                    None => d.file,
                };
                said.push(format!("{at}: {}", d.message));
            }
            Ok(_) => {}
            Err(_) if line.starts_with("Found ") => {}
            Err(_) => said.push(line.to_owned()),
        }
    }
    if !run.stderr_tail.is_empty() {
        said.push(run.stderr_tail.to_owned());
    }
    let shown: Vec<&str> = said.iter().take(3).map(String::as_str).collect();
    let more = said.len().saturating_sub(3);
    let mut message = format!(
        "stopped at a blocking error, so nothing else was checked: {}",
        shown.join("; ")
    );
    if more > 0 {
        message.push_str(&format!(" (and {more} more)"));
    }
    message
}

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
    parse_limited(output, repo_root, usize::MAX)
}

fn parse_limited(output: &str, repo_root: &Path, limit: usize) -> Result<ParseOutput, ParseError> {
    let mut b = FindingBuilder::new(NAME, repo_root, limit);
    for (n, line) in output.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if !line.starts_with('{') {
            // "Found N errors…" and "Success: …" only summarise what the JSON lines said.
            if !line.starts_with("Found ") && !line.starts_with("Success:") {
                b.tool_error(format!("mypy: {line}"));
            }
            continue;
        }
        let d: MypyDiagnostic = serde_json::from_str(line).map_err(|e| ParseError::Json {
            tool: NAME,
            detail: format!("line {}: {e}", n + 1),
        })?;
        let (category, severity) = mypy_default(&d.severity);
        // mypy's catch-all code; JSON leaves it null for a few diagnostics.
        let rule = d.code.unwrap_or_else(|| "misc".to_owned());
        let mut message = d.message;
        if let Some(hint) = d.hint.filter(|h| !h.trim().is_empty()) {
            message.push('\n');
            message.push_str(&hint);
        }
        b.push(Draft {
            help_url: super::help_url(Some(&format!(
                "https://mypy.readthedocs.io/en/stable/_refs.html#code-{rule}"
            ))),
            rule,
            category,
            severity,
            message,
            path: d.file,
            start_line: d.line,
            end_line: d.end_line,
            start_column: d.column.map(|c| c.saturating_add(1)),
            end_column: d.end_column.map(|c| c.saturating_add(1)),
        });
    }
    Ok(b.finish())
}

/// MyPy: every error is a typing bug waiting to happen (reliability/major); notes, such as
/// `reveal_type` output, are informational.
pub fn mypy_default(severity: &str) -> (Category, Severity) {
    match severity {
        "note" => (Category::Reliability, Severity::Info),
        // Unknown levels count as errors: mypy has only the two, and a new one is likelier
        // to be something that fails the run than something harmless.
        _ => (Category::Reliability, Severity::Major),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::backends::testutil::{no_panic, project, tool};
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
    fn mypy_table() {
        for (level, want) in [
            ("error", (Category::Reliability, Severity::Major)),
            ("note", (Category::Reliability, Severity::Info)),
            ("fatal", (Category::Reliability, Severity::Major)),
        ] {
            assert_eq!(super::mypy_default(level), want, "{level}");
        }
    }

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
