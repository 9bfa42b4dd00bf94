//! Findings people trust, with the real `analyze` binary and the real tools: test code is test
//! code (Bandit's B101 not reported there, security findings there minor at most, both
//! configurable and said in the report), and `--base` pairs copies of a finding along the diff.

mod harness;
mod support;

use harness::cli::{analyze, findings, git, project};
use serde_json::Value;

const APP: &str = "def f(x):\n    assert x\n    return x\n";
const TEST: &str =
    "from pkg.app import f\n\n\ndef test_f():\n    assert f(1)\n    assert f(2) == 2\n";
const CONFTEST: &str =
    "import subprocess\n\n\ndef run(cmd):\n    subprocess.call(cmd, shell=True)\n";

fn bandit<'a>(json: &'a Value, rule: &str) -> Vec<&'a Value> {
    findings(json)
        .into_iter()
        .filter(|f| f["backend"] == "bandit" && f["rule"] == rule)
        .collect()
}

#[test]
fn test_code_is_test_code() {
    let p = project(&[
        ("pkg/__init__.py", ""),
        ("pkg/app.py", APP),
        ("tests/test_app.py", TEST),
        ("tests/conftest.py", CONFTEST),
    ]);
    let out = analyze(p.path(), &["--format", "json"]);
    let json = out.json();
    // B101 only where it is not a test.
    let asserts = bandit(&json, "B101");
    assert_eq!(asserts.len(), 1, "{out}");
    assert_eq!(asserts[0]["path"], "pkg/app.py");
    assert_eq!(asserts[0]["in_tests"], false);
    // shell=True in a test helper: reported, in test code, minor at most.
    let shell = bandit(&json, "B602");
    assert_eq!(shell.len(), 1, "{out}");
    assert_eq!(
        (shell[0]["in_tests"].clone(), shell[0]["severity"].clone()),
        (true.into(), "minor".into())
    );
    assert_eq!(json["test_code"]["files"], 2, "{:#}", json["test_code"]);
    assert_eq!(
        json["test_code"]["ignored"],
        serde_json::json!([["bandit:B101", 2]])
    );
    let text = analyze(p.path(), &[]);
    assert!(
        text.stdout.contains(
            "Counted differently: test code (2 files, `[paths] tests`): not reported there: 2 × bandit:B101; 1 security finding there counted as minor at most"
        ),
        "{text}"
    );

    // The repository can count its tests like the rest.
    std::fs::write(
        p.path().join(".flext-quality.toml"),
        "[tests]\nignore = []\nmax_security_severity = \"blocker\"\n",
    )
    .unwrap();
    let json = analyze(p.path(), &["--format", "json"]).json();
    assert_eq!(bandit(&json, "B101").len(), 3);
    assert_ne!(bandit(&json, "B602")[0]["severity"], "minor");
    assert_eq!(json["test_code"]["ignored"], serde_json::json!([]));
}

#[test]
fn base_pairs_copies_along_the_diff() {
    let line = "assert __name__ != \"x\"";
    let checks = format!("VALUE = 1\n{line}\nprint(VALUE)\n{line}\n");
    let p = project(&[("checks.py", &checks)]);
    git(p.path(), &["init", "-q"]);
    git(p.path(), &["add", "-A"]);
    git(p.path(), &["commit", "-q", "-m", "base"]);
    std::fs::write(p.path().join("checks.py"), format!("{line}\n{checks}")).unwrap();
    let out = analyze(p.path(), &["--base", "HEAD", "--format", "json"]);
    let json = out.json();
    let new: Vec<i64> = bandit(&json, "B101")
        .iter()
        .filter(|f| f["is_new"] == true)
        .map(|f| f["start_line"].as_i64().unwrap())
        .collect();
    assert_eq!(new, [1], "the inserted line is the new one: {out}");

    // A rename is no change at all.
    std::fs::write(p.path().join("checks.py"), &checks).unwrap();
    git(p.path(), &["mv", "checks.py", "moved.py"]);
    let json = analyze(p.path(), &["--base", "HEAD", "--format", "json"]).json();
    assert!(
        findings(&json).iter().all(|f| f["is_new"] == false),
        "{json:#}"
    );
    assert_eq!(json["fixed"], serde_json::json!([]));
}
