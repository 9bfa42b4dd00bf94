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

/// (path, line, code) of every MyPy error, from the bare tool's JSON lines.
fn bare_mypy_errors(root: &std::path::Path, args: &[&str]) -> Vec<(String, i64, String)> {
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(harness::tools::tool("mypy"))
        .args(["--output", "json", "--cache-dir"])
        .arg(home.path().join("cache"))
        .args(args)
        .current_dir(root)
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "bare mypy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut errors: Vec<(String, i64, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|d| d["severity"] == "error")
        .map(|d| {
            (
                d["file"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("./")
                    .to_owned(),
                d["line"].as_i64().unwrap(),
                d["code"].as_str().unwrap_or("misc").to_owned(),
            )
        })
        .collect();
    errors.sort();
    errors
}

fn our_mypy_findings(json: &Value) -> Vec<(String, i64, String)> {
    let mut ours: Vec<(String, i64, String)> = findings(json)
        .into_iter()
        .filter(|f| f["backend"] == "mypy" && f["severity"] != "info")
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["start_line"].as_i64().unwrap(),
                f["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    ours.sort();
    ours
}

const UNTYPED: &str =
    "def helper(x):\n    return x + 1\n\n\ndef use() -> int:\n    return helper(\"a\")\n";
const TYPED: &str = "def add(a: int, b: int) -> int:\n    return a + b\n\n\ndef bad() -> str:\n    return add(1, 2)\n";

#[test]
fn mypy_runs_as_the_project_runs_it() {
    // `files` and `strict` in pyproject.toml: only src/ is checked, strictly; the untyped tests
    // and examples are not (naming every file, as we once did, would check them strictly too).
    let p = project(&[
        (
            "pyproject.toml",
            "[tool.mypy]\nfiles = [\"src\"]\nstrict = true\n\n[[tool.mypy.overrides]]\nmodule = \"pkg.loose\"\ndisallow_untyped_defs = false\n",
        ),
        ("src/pkg/__init__.py", ""),
        ("src/pkg/core.py", TYPED),
        ("src/pkg/loose.py", UNTYPED),
        ("tests/test_core.py", UNTYPED),
        ("examples/demo.py", UNTYPED),
    ]);
    let bare = bare_mypy_errors(p.path(), &[]);
    assert!(
        bare.iter().any(|(path, _, _)| path == "src/pkg/core.py"),
        "the fixture should give MyPy errors: {bare:?}"
    );
    let ours = our_mypy_findings(&analyze(p.path(), &["--format", "json"]).json());
    assert_eq!(ours, bare, "our MyPy findings vs the project's own `mypy`");
    assert!(ours.iter().all(|(path, _, _)| path.starts_with("src/")));

    // Without `files`, the tree is checked with the project's `exclude` applied.
    let q = project(&[
        (
            "mypy.ini",
            "[mypy]\nexclude = (^examples/|^tests/)\ncheck_untyped_defs = True\n",
        ),
        ("pkg/__init__.py", ""),
        ("pkg/core.py", TYPED),
        ("pkg/loose.py", UNTYPED),
        ("tests/test_core.py", UNTYPED),
        ("examples/demo.py", UNTYPED),
    ]);
    let bare = bare_mypy_errors(q.path(), &["."]);
    assert!(!bare.is_empty());
    let ours = our_mypy_findings(&analyze(q.path(), &["--format", "json"]).json());
    assert_eq!(ours, bare, "our MyPy findings vs `mypy .`");
}
