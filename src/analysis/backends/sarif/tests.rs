//! Tests of the SARIF parser: hand-made logs covering the location forms, and the real Ruff
//! and Semgrep SARIF output compared with their JSON output.

use super::*;
use crate::analysis::backends::testutil::{no_panic, project, tool};
use crate::domain::finding::{Category, Severity};
use std::process::Command;

/// Shaped after CodeQL's output: rules in an extension, `%SRCROOT%` defined as a file URI.
const CODEQL: &str = r#"{"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
 "runs": [{
  "tool": {"driver": {"name": "CodeQL", "semanticVersion": "2.20.0"},
   "extensions": [{"name": "codeql/python-queries", "rules": [
     {"id": "py/sql-injection", "helpUri": "https://codeql.github.com/codeql-query-help/python/py-sql-injection/",
      "defaultConfiguration": {"level": "error"},
      "properties": {"security-severity": "8.8", "tags": ["security", "external/cwe/cwe-089"]}},
     {"id": "py/unused-import", "defaultConfiguration": {"level": "note"},
      "properties": {"tags": ["maintainability", "useless-code"]}},
     {"id": "py/call-to-non-callable", "messageStrings": {"default": {"text": "Call to {0} which is not callable."}},
      "properties": {"tags": ["reliability", "correctness"]}}]}]},
  "originalUriBaseIds": {"%SRCROOT%": {"uri": "file:///REPO/"}, "SUB": {"uri": "pkg/", "uriBaseId": "%SRCROOT%"}},
  "artifacts": [{"location": {"uri": "pkg/db%20layer.py", "uriBaseId": "%SRCROOT%"}}],
  "results": [
   {"ruleId": "py/sql-injection", "rule": {"id": "py/sql-injection", "index": 0, "toolComponent": {"index": 0}},
    "message": {"text": "This SQL query depends on a user-provided value."},
    "locations": [{"physicalLocation": {"artifactLocation": {"uri": "pkg/db%20layer.py", "uriBaseId": "%SRCROOT%", "index": 0},
      "region": {"startLine": 12, "startColumn": 20, "endColumn": 45}}}]},
   {"ruleId": "py/unused-import", "message": {"text": "Import of 'os' is not used."},
    "locations": [{"physicalLocation": {"artifactLocation": {"uri": "app.py", "uriBaseId": "SUB"}, "region": {"startLine": 1}}}]},
   {"rule": {"id": "py/call-to-non-callable", "index": 2, "toolComponent": {"index": 0}}, "level": "error",
    "message": {"id": "default", "arguments": ["x"]},
    "locations": [{"physicalLocation": {"artifactLocation": {"index": 0}, "region": {"startLine": 3, "endLine": 5, "endColumn": 2}}}]},
   {"ruleId": "py/unused-import", "message": {"text": "no location"}},
   {"ruleId": "py/unused-import", "message": {"text": "suppressed"}, "suppressions": [{"kind": "inSource"}],
    "locations": [{"physicalLocation": {"artifactLocation": {"uri": "app.py"}}}]},
   {"ruleId": "py/unused-import", "kind": "pass", "message": {"text": "fine"}},
   {"ruleId": "py/unused-import", "message": {"text": "elsewhere"},
    "locations": [{"physicalLocation": {"artifactLocation": {"uri": "file:///etc/passwd"}}}]},
   {"ruleId": "py/unused-import", "message": {"text": "remote"},
    "locations": [{"physicalLocation": {"artifactLocation": {"uri": "https://example.com/a.py"}}}]},
   {"ruleId": "custom", "message": {"text": "plain"},
    "locations": [{"physicalLocation": {"artifactLocation": {"uri": "file://localhost/REPO/app.py"}}}]}
  ]}]}"#;

fn codeql(root: &Path) -> String {
    CODEQL.replace("/REPO", root.to_str().unwrap())
}

#[test]
fn resolves_locations_rules_and_mapping() {
    let dir = project(&[("pkg/db layer.py", ""), ("pkg/app.py", ""), ("app.py", "")]);
    let root = dir.path().canonicalize().unwrap();
    let out = parse(&codeql(&root), &root).unwrap();
    let got: Vec<(&str, &str, u32, u32, Category, Severity)> = out
        .findings
        .iter()
        .map(|f| {
            (
                f.rule.as_str(),
                f.path.as_str(),
                f.start_line,
                f.end_line,
                f.category,
                f.severity,
            )
        })
        .collect();
    use Category::*;
    use Severity::*;
    assert_eq!(
        got,
        [
            (
                "py/sql-injection",
                "pkg/db layer.py",
                12,
                12,
                Security,
                Major
            ),
            (
                "py/unused-import",
                "pkg/app.py",
                1,
                1,
                Maintainability,
                Info
            ),
            (
                "py/call-to-non-callable",
                "pkg/db layer.py",
                3,
                5,
                Reliability,
                Major
            ),
            ("custom", "app.py", 1, 1, Reliability, Minor),
        ]
    );
    let f = &out.findings[0];
    assert_eq!(f.backend, "codeql");
    assert_eq!((f.start_column, f.end_column), (Some(20), Some(45)));
    assert_eq!(
        f.help_url.as_deref(),
        Some("https://codeql.github.com/codeql-query-help/python/py-sql-injection/")
    );
    assert_eq!(out.findings[2].message, "Call to x which is not callable.");
    assert_eq!(out.dropped.len(), 4, "{:?}", out.dropped);
    assert!(out.dropped.iter().any(|d| d.contains("no location")));
    assert!(out.dropped.iter().any(|d| d.contains("suppressed")));
    assert!(out.dropped.iter().any(|d| d.contains("not a file URI")));
}

#[test]
fn message_arguments_are_substituted_with_a_cap() {
    let msg = |m: &str| message_text(&serde_json::from_str(m).unwrap(), None);
    assert_eq!(
        msg(r#"{"message": {"text": "{0} and {1}, {2} {x} {"}}"#).unwrap(),
        "{0} and {1}, {2} {x} {"
    );
    assert_eq!(
        msg(r#"{"message": {"text": "a {1}{0}!", "arguments": ["x", "y"]}}"#).unwrap(),
        "a yx!"
    );
    let big = format!(
        r#"{{"message": {{"text": "{}", "arguments": ["{}"]}}}}"#,
        "{0}".repeat(10_000),
        "z".repeat(10_000)
    );
    assert!(msg(&big).unwrap().len() < 17 * 1024);
}

#[test]
fn backend_names_are_slugs() {
    for (name, want) in [
        ("Semgrep OSS", "semgrep-oss"),
        ("ruff", "ruff"),
        ("", "sarif"),
        ("  ESLint ", "eslint"),
        ("C++ Check!", "c-check"),
    ] {
        assert_eq!(backend_name(name), want);
    }
}

#[test]
fn uri_decoding() {
    assert_eq!(percent_decode("a%20b%2Fc").as_deref(), Some("a b/c"));
    assert_eq!(percent_decode("%E2%9C%93").as_deref(), Some("✓"));
    for bad in ["%", "%2", "%zz", "%+1", "%00", "%FF"] {
        assert_eq!(percent_decode(bad), None, "{bad}");
    }
    assert!(
        has_scheme("file:///x")
            && has_scheme("https://x")
            && !has_scheme("C:/x")
            && !has_scheme("a/b:c")
    );
}

#[test]
fn wrong_documents_are_errors() {
    let root = std::env::temp_dir();
    assert!(matches!(
        parse("<xml/>", &root),
        Err(ParseError::Json { .. })
    ));
    assert!(matches!(
        parse("{\"version\": \"2.1.0\"}", &root),
        Err(ParseError::Shape { .. })
    ));
    assert_eq!(
        parse("{\"runs\": [{}, 1, {\"results\": [1, {}]}]}", &root)
            .unwrap()
            .findings
            .len(),
        0
    );
}

#[test]
fn never_panics() {
    let root = std::env::temp_dir();
    let sample = codeql(&root);
    no_panic(&[&sample, CODEQL], 4000, |input| {
        let _ = parse(input, &root);
    });
}

/// The real Ruff: `--output-format=sarif` (absolute `file://` URIs) against its JSON.
#[test]
fn real_ruff_sarif_matches_its_json() {
    let ruff = tool("ruff");
    let dir = project(&[
        (
            "pkg/a b.py",
            "import os\nimport sys\nx = undefined_name\nif x == None:\n    pass\n",
        ),
        ("pkg/ünï.py", "def f(l=[]):\n    return l\n"),
    ]);
    let run = |format: &str| {
        let out = Command::new(&ruff)
            .args([
                "check",
                "--isolated",
                "--no-cache",
                "--exit-zero",
                "--select",
                "ALL",
            ])
            .arg(format!("--output-format={format}"))
            .arg(".")
            .current_dir(dir.path())
            .output()
            .expect("run ruff");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let sarif = parse(&run("sarif"), dir.path()).unwrap();
    let json: Vec<Value> = serde_json::from_str(&run("json")).unwrap();
    let mut expected: Vec<String> = json
        .iter()
        .map(|d| {
            let file = d["filename"].as_str().unwrap();
            let rel = Path::new(file)
                .strip_prefix(dir.path().canonicalize().unwrap())
                .unwrap();
            format!(
                "{}|{}|{}",
                rel.display(),
                d["location"]["row"],
                d["code"].as_str().unwrap()
            )
        })
        .collect();
    let mut got: Vec<String> = sarif
        .findings
        .iter()
        .map(|f| format!("{}|{}|{}", f.path, f.start_line, f.rule))
        .collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    assert!(got.len() >= 6, "{got:?}");
    assert!(sarif.findings.iter().all(|f| f.backend == "ruff"));
    assert!(sarif.dropped.is_empty(), "{:?}", sarif.dropped);
}

/// The real Semgrep: `--sarif` (relative URIs on an undefined `%SRCROOT%`) against `--json`.
#[test]
fn real_semgrep_sarif_matches_its_json() {
    use crate::analysis::backends::semgrep::tests::{semgrep, CODE, RULES};
    let dir = project(&[("rules/rules.yml", RULES), ("app/main.py", CODE)]);
    let sarif = parse(&semgrep(dir.path(), "--sarif"), dir.path()).unwrap();
    let json =
        crate::analysis::backends::semgrep::parse(&semgrep(dir.path(), "--json"), dir.path())
            .unwrap();
    let key = |f: &crate::domain::finding::RawFinding| {
        (
            f.path.clone(),
            f.start_line,
            f.start_column,
            f.end_line,
            f.end_column,
            f.rule.clone(),
        )
    };
    let mut got: Vec<_> = sarif.findings.iter().map(key).collect();
    let mut expected: Vec<_> = json.findings.iter().map(key).collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(sarif.findings[0].backend, "semgrep-oss");
    // Semgrep's SARIF carries `security-severity` as a tag-less property only for registry
    // rules; ours maps by level: ERROR → error → major.
    let shell = sarif
        .findings
        .iter()
        .find(|f| f.rule.ends_with("shell-true"))
        .unwrap();
    assert_eq!(shell.severity, Severity::Major);
}

#[test]
fn sarif_table() {
    use Category::*;
    use Severity::*;
    let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    for (level, sec, t, want) in [
        (Some("error"), Some(9.8), tags(&[]), (Security, Critical)),
        (Some("note"), Some(9.0), tags(&[]), (Security, Critical)),
        (None, Some(8.9), tags(&[]), (Security, Major)),
        (None, Some(7.0), tags(&[]), (Security, Major)),
        (None, Some(4.0), tags(&[]), (Security, Minor)),
        (None, Some(0.1), tags(&["style"]), (Security, Info)),
        (Some("error"), Some(0.0), tags(&[]), (Reliability, Major)),
        (
            Some("error"),
            Some(f64::NAN),
            tags(&[]),
            (Reliability, Major),
        ),
        (Some("warning"), None, tags(&[]), (Reliability, Minor)),
        (None, None, tags(&[]), (Reliability, Minor)),
        (Some("note"), None, tags(&[]), (Reliability, Info)),
        (Some("none"), None, tags(&[]), (Reliability, Info)),
        (
            Some("error"),
            None,
            tags(&["security", "external/cwe/cwe-79"]),
            (Security, Major),
        ),
        (
            Some("warning"),
            None,
            tags(&["Maintainability"]),
            (Maintainability, Minor),
        ),
        (
            Some("note"),
            None,
            tags(&["style"]),
            (Maintainability, Info),
        ),
    ] {
        assert_eq!(
            sarif_default(level, sec, &t),
            want,
            "{level:?}/{sec:?}/{t:?}"
        );
    }
}
