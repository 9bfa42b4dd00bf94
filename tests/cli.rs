//! The real `flext-quality analyze` binary on projects (and git repositories) written by the
//! tests, with the real pinned tools (`FLEXT_QUALITY_TOOLS_DIR`, or the default tools dir) and a
//! fresh `FLEXT_QUALITY_DATA_DIR` per run.
//!
//! Covers: the exit codes (0 gate passed, 1 gate failed, 2 bad path or invalid config, the
//! message naming the file, line and key), `--base REV` marking exactly the added findings new
//! and listing the fixed ones, `--format sarif` being structurally valid SARIF 2.1.0,
//! `--format markdown` carrying the score line, `--sarif FILE` importing another tool's
//! findings, `--config FILE` replacing the tree's config, reports that lead with what changed,
//! Markdown within GitHub's comment limit, options checked before any tool runs, and an empty
//! folder that has nothing to analyse.
//!
//! A missing tool fails the tests with the path it was looked for in; nothing skips.

mod harness;
mod support;

use harness::cli::{analyze, analyze_with, backend, findings, git, project};
use harness::tools::tool;

use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

const CLEAN: &str = "\"\"\"Math helpers.\"\"\"\n\n\ndef add(a: int, b: int) -> int:\n    \"\"\"Add two numbers.\"\"\"\n    return a + b\n";

/// Findings for Ruff (F401, F821), MyPy (return-value, name-defined) and Bandit (B404, B602).
const PROBLEMS: &str = "import os\nimport subprocess\n\n\ndef run(cmd: str) -> int:\n    return subprocess.call(cmd, shell=True)\n\n\ndef convert(x: int) -> str:\n    return x\n\n\ndef check() -> None:\n    print(undefined_name)\n";

#[test]
fn a_clean_project_passes_with_exit_0() {
    let p = project(&[("calc.py", CLEAN)]);
    let out = analyze(p.path(), &[]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("gate passed"), "{out}");
    let json = analyze(p.path(), &["--format", "json"]).json();
    for name in ["ruff", "mypy", "bandit"] {
        assert_eq!(
            backend(&json, name)["status"]["state"],
            "ok",
            "{name}: {json:#}"
        );
    }
}

#[test]
fn a_new_undefined_name_fails_the_gate_with_exit_1() {
    let p = project(&[("calc.py", CLEAN), ("bad.py", "print(undefined_name)\n")]);
    let out = analyze(p.path(), &["--format", "json"]);
    assert_eq!(out.code, 1, "{out}");
    let json = out.json();
    assert_eq!(json["gate"]["verdict"], "failure", "{json:#}");
    let f821 = findings(&json)
        .into_iter()
        .find(|f| f["rule"] == "F821")
        .expect("F821");
    assert_eq!(
        (f821["path"].as_str(), f821["severity"].as_str()),
        (Some("bad.py"), Some("major"))
    );
}

#[test]
fn a_bad_path_and_an_invalid_config_exit_2_with_a_precise_message() {
    let p = project(&[("calc.py", CLEAN)]);
    let out = analyze(&p.path().join("no-such-dir"), &[]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("no-such-dir") && out.stderr.contains("does not exist"),
        "{out}"
    );

    let p = project(&[
        ("calc.py", CLEAN),
        (".flext-quality.toml", "[gate]\nmin_scor = 50\n"),
    ]);
    let out = analyze(p.path(), &[]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains(".flext-quality.toml:2: unknown key"),
        "{out}"
    );
    assert!(out.stderr.contains("min_scor"), "{out}");
    assert!(
        out.stdout.trim().is_empty(),
        "no report on a config error: {out}"
    );

    let p = project(&[
        ("calc.py", CLEAN),
        ("f.toml", "[backends]\nruff = { select = 3 }\n"),
    ]);
    let config = p.path().join("f.toml");
    let out = analyze(p.path(), &["--config", config.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains(":2:") && out.stderr.contains("backends.ruff.select"),
        "{out}"
    );
}

const BASE_V1: &str = "import os\n\n\ndef old() -> None:\n    print(undefined_one)\n\n\ndef keep(x: int) -> str:\n    return x\n";

const BASE_V2: &str = "import os\n\nA = 1\nB = 2\nC = 3\n\n\ndef old() -> None:\n    print(os.sep)\n\n\ndef keep(x: int) -> str:\n    return x\n\n\ndef new() -> None:\n    print(undefined_two)\n";

#[test]
fn base_marks_exactly_the_added_findings_new_and_lists_the_fixed() {
    let p = project(&[("app.py", BASE_V1), ("calc.py", CLEAN)]);
    git(p.path(), &["init", "-q"]);
    git(p.path(), &["add", "-A"]);
    git(p.path(), &["commit", "-q", "-m", "v1"]);
    std::fs::write(p.path().join("app.py"), BASE_V2).unwrap();

    let out = analyze(p.path(), &["--base", "HEAD", "--format", "json"]);
    assert_eq!(out.code, 1, "a new undefined name fails the gate: {out}");
    let json = out.json();
    assert_eq!(json["base"], "HEAD");
    let head = findings(&json);
    for f in &head {
        let added = f["message"].as_str().unwrap().contains("undefined_two");
        assert_eq!(f["is_new"], Value::Bool(added), "{f:#}");
    }
    let new: BTreeSet<(&str, &str)> = head
        .iter()
        .filter(|f| f["is_new"] == true)
        .map(|f| (f["backend"].as_str().unwrap(), f["rule"].as_str().unwrap()))
        .collect();
    assert_eq!(
        new,
        BTreeSet::from([("mypy", "name-defined"), ("ruff", "F821")])
    );
    // The untouched finding moved down three lines and is still not new.
    let kept = head
        .iter()
        .find(|f| f["rule"] == "return-value")
        .expect("return-value");
    assert_eq!(
        (kept["start_line"].as_u64(), &kept["is_new"]),
        (Some(13), &Value::Bool(false))
    );

    let fixed: BTreeSet<(&str, &str)> = json["fixed"]
        .as_array()
        .expect("fixed")
        .iter()
        .map(|f| (f["backend"].as_str().unwrap(), f["rule"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fixed,
        BTreeSet::from([("mypy", "name-defined"), ("ruff", "F401"), ("ruff", "F821")]),
        "{:#}",
        json["fixed"]
    );
    for f in json["fixed"].as_array().unwrap() {
        assert!(
            !f["message"].as_str().unwrap().contains("undefined_two"),
            "{f:#}"
        );
    }
}

#[test]
fn sarif_output_is_structurally_valid_sarif_2_1_0() {
    let p = project(&[("app.py", PROBLEMS), ("pkg/util.py", PROBLEMS)]);
    let json = analyze(p.path(), &["--format", "json"]).json();
    let out = analyze(p.path(), &["--format", "sarif"]);
    assert_eq!(out.code, 1, "{out}");
    let sarif = out.json();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(
        sarif["$schema"]
            .as_str()
            .is_some_and(|s| s.contains("sarif-2.1.0")),
        "{sarif:#}"
    );
    let ran: Vec<&str> = json["backends"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["status"]["state"] == "ok")
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(ran, ["ruff", "mypy", "bandit"], "{:#}", json["backends"]);
    let runs = sarif["runs"].as_array().expect("runs");
    let names: Vec<&str> = runs
        .iter()
        .map(|r| r["tool"]["driver"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ran, "one run per backend that ran");
    let mut results = 0;
    for run in runs {
        let driver = &run["tool"]["driver"];
        let name = driver["name"].as_str().unwrap();
        assert!(
            driver["version"].as_str().is_some_and(|v| !v.is_empty()),
            "{name}: {driver:#}"
        );
        let rules: Vec<&str> = driver["rules"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no rules array"))
            .iter()
            .map(|r| r["id"].as_str().expect("rule id"))
            .collect();
        let run_results = run["results"].as_array().expect("results");
        assert!(
            !run_results.is_empty(),
            "{name} has findings on this project"
        );
        for r in run_results {
            let id = r["ruleId"].as_str().expect("ruleId");
            let index = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
            assert_eq!(
                rules.get(index),
                Some(&id),
                "{name}: ruleIndex points at ruleId: {r:#}"
            );
            assert!(
                ["error", "warning", "note"].contains(&r["level"].as_str().unwrap_or("")),
                "{r:#}"
            );
            assert!(
                r["message"]["text"].as_str().is_some_and(|t| !t.is_empty()),
                "{r:#}"
            );
            let location = &r["locations"][0]["physicalLocation"];
            let uri = location["artifactLocation"]["uri"].as_str().expect("uri");
            assert!(
                p.path().join(uri).is_file(),
                "{uri} names a file of the project"
            );
            assert!(
                location["region"]["startLine"]
                    .as_u64()
                    .is_some_and(|l| l >= 1),
                "{r:#}"
            );
        }
        results += run_results.len();
    }
    assert_eq!(
        results,
        findings(&json).len(),
        "every finding is a SARIF result"
    );
}

#[test]
fn markdown_carries_the_score_line() {
    let p = project(&[("app.py", PROBLEMS)]);
    let score = analyze(p.path(), &["--format", "json"]).json()["score"].clone();
    let out = analyze(p.path(), &["--format", "markdown"]);
    assert_eq!(out.code, 1, "{out}");
    let header = format!(
        "## flext-quality: grade {} · {:.1}",
        score["grade"].as_str().unwrap(),
        score["score"].as_f64().unwrap()
    );
    assert!(out.stdout.contains(&header), "no `{header}` in:\n{out}");
    assert!(out.stdout.contains("Score = 100 − security"), "{out}");
    assert!(out.stdout.contains("| `app.py:"), "{out}");
}

#[test]
fn reports_against_a_base_lead_with_what_changed() {
    let p = project(&[("app.py", BASE_V1), ("calc.py", CLEAN)]);
    git(p.path(), &["init", "-q"]);
    git(p.path(), &["add", "-A"]);
    git(p.path(), &["commit", "-q", "-m", "v1"]);
    std::fs::write(p.path().join("app.py"), BASE_V2).unwrap();
    let text = analyze(p.path(), &["--base", "HEAD"]).stdout;
    let new_at = text.find("New findings against HEAD: 2").expect(&text);
    let fixed_at = text.find("Fixed findings: 3").expect(&text);
    let rest_at = text.find("Other open findings: 1 (").expect(&text);
    assert!(new_at < fixed_at && fixed_at < rest_at, "{text}");
    assert!(
        !text.contains("return-value"),
        "the rest is counted, not listed: {text}"
    );
    assert!(text.contains("new major findings: 2"), "{text}");
    assert!(analyze(p.path(), &["--base", "HEAD", "--all"])
        .stdout
        .contains("return-value"));

    let md = analyze(p.path(), &["--base", "HEAD", "--format", "markdown"]).stdout;
    for needle in [
        "### New findings against `HEAD` (2)",
        "### Fixed findings (3)",
        "Other open findings: 1",
        "| ruff | 0.17",
        "| 1 finding |",
    ] {
        assert!(md.contains(needle), "{needle:?} in:\n{md}");
    }
    // Without a base the gate counts the whole code, and says so.
    let whole = analyze(p.path(), &[]).stdout;
    assert!(whole.contains("major findings (whole code)"), "{whole}");
}

#[test]
fn markdown_stays_within_a_github_comment() {
    let long = "x".repeat(120);
    let code: String = (0..1500)
        .map(|i| format!("v{i} = undefined_{long}_{i}\n"))
        .collect();
    let p = project(&[
        (".flext-quality.toml", "[backends]\nruff = {}\n"),
        ("many.py", &code),
    ]);
    let md = analyze(p.path(), &["--format", "markdown"]).stdout;
    assert!(
        md.chars().count() < 60_000,
        "{} characters",
        md.chars().count()
    );
    assert!(
        md.contains("more findings not shown here"),
        "{}",
        &md[md.len() - 400..]
    );
    assert!(md.contains("| ruff |"), "backends are always shown");
}

#[test]
fn options_are_checked_before_any_tool_runs_and_an_empty_folder_is_fine() {
    let p = project(&[("app.py", BASE_V1)]);
    git(p.path(), &["init", "-q"]);
    git(p.path(), &["add", "-A"]);
    git(p.path(), &["commit", "-q", "-m", "v1"]);
    let started = std::time::Instant::now();
    let out = analyze(p.path(), &["--base", "no-such-branch"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("--base no-such-branch"), "{out}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let out = analyze(p.path(), &["--config", "/nonexistent.toml"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("/nonexistent.toml"), "{out}");
    let file = p.path().join("app.py");
    let out = analyze(&file, &[]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("is not a directory"), "{out}");

    let empty = tempfile::tempdir().unwrap();
    let out = analyze(empty.path(), &[]);
    assert_eq!(out.code, 0, "nothing to analyse is not an error: {out}");
    assert!(out.stdout.contains("nothing to analyse"), "{out}");
    assert!(
        !out.stdout.contains("score"),
        "no score when nothing ran: {out}"
    );
}

#[test]
fn when_no_tool_ran_there_is_no_score() {
    let p = project(&[("app.py", BASE_V1)]);
    for format in ["text", "json", "markdown"] {
        let out = analyze_with(
            p.path(),
            &["--format", format],
            &[("FLEXT_QUALITY_ANALYSIS_TIMEOUT_SECS", "0")],
        );
        assert_eq!(out.code, 2, "a backend error exits 2: {out}");
        match format {
            "json" => assert!(out.json()["score"].is_null(), "{out}"),
            _ => {
                assert!(
                    out.stdout.contains("No score: no analysis tool ran"),
                    "{out}"
                );
                assert!(!out.stdout.contains("grade A"), "{out}");
            }
        }
    }
}

#[test]
fn sarif_import_adds_that_reports_findings() {
    // Only Bandit runs natively; the Ruff findings come from Ruff's own SARIF report.
    let p = project(&[
        ("app.py", PROBLEMS),
        (".flext-quality.toml", "[backends]\nbandit = {}\n"),
    ]);
    let reports = tempfile::tempdir().unwrap();
    let sarif_file = reports.path().join("ruff.sarif");
    let ruff = Command::new(tool("ruff"))
        .args([
            "check",
            "--output-format=sarif",
            "--isolated",
            "--no-cache",
            "--exit-zero",
            ".",
        ])
        .current_dir(p.path())
        .output()
        .expect("running ruff");
    assert!(
        ruff.status.success(),
        "{}",
        String::from_utf8_lossy(&ruff.stderr)
    );
    std::fs::write(&sarif_file, &ruff.stdout).unwrap();
    let sarif: Value = serde_json::from_slice(&ruff.stdout).unwrap();
    let mut expected: Vec<(String, u64, String)> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let loc = &r["locations"][0]["physicalLocation"];
            let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
            let name = uri.rsplit('/').next().unwrap().to_owned();
            (
                name,
                loc["region"]["startLine"].as_u64().unwrap(),
                r["ruleId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        expected.len() >= 2,
        "ruff finds F401 and F821: {expected:?}"
    );

    let out = analyze(
        p.path(),
        &["--format", "json", "--sarif", sarif_file.to_str().unwrap()],
    );
    assert_eq!(out.code, 1, "the imported F821 fails the gate: {out}");
    let json = out.json();
    let mut imported: Vec<(String, u64, String)> = findings(&json)
        .iter()
        .filter(|f| f["backend"] == "ruff")
        .map(|f| {
            let key = (
                f["path"].as_str().unwrap(),
                f["start_line"].as_u64().unwrap(),
            );
            (
                key.0.to_owned(),
                key.1,
                f["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    expected.sort();
    imported.sort();
    assert_eq!(imported, expected);
    assert!(findings(&json).iter().any(|f| f["backend"] == "bandit"));
    let ruff = backend(&json, "ruff");
    assert!(
        ruff["version"]
            .as_str()
            .is_some_and(|v| v.starts_with("imported from")),
        "{ruff:#}"
    );
    assert_eq!(backend(&json, "mypy")["status"]["state"], "not_applicable");
}

#[test]
fn config_option_replaces_the_trees_config() {
    let p = project(&[
        ("app.py", "import os\n"),
        (".flext-quality.toml", "[backends]\nbandit = {}\n"),
    ]);
    let out = analyze(p.path(), &["--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let json = out.json();
    assert_eq!(
        backend(&json, "ruff")["status"]["state"],
        "not_applicable",
        "the tree's config"
    );

    let elsewhere = tempfile::tempdir().unwrap();
    let file = elsewhere.path().join("strict.toml");
    std::fs::write(
        &file,
        "[backends]\nruff = {}\n\n[rules]\n\"ruff:F401\" = { severity = \"major\" }\n",
    )
    .unwrap();
    let out = analyze(
        p.path(),
        &["--format", "json", "--config", file.to_str().unwrap()],
    );
    assert_eq!(
        out.code, 1,
        "F401 made major by --config fails the gate: {out}"
    );
    let json = out.json();
    assert_eq!(backend(&json, "ruff")["status"]["state"], "ok");
    for name in ["mypy", "bandit"] {
        assert_eq!(
            backend(&json, name)["status"]["state"],
            "not_applicable",
            "{name}"
        );
    }
    let f401 = findings(&json)
        .into_iter()
        .find(|f| f["rule"] == "F401")
        .expect("F401");
    assert_eq!(f401["severity"], "major");

    let out = analyze(
        p.path(),
        &[
            "--config",
            elsewhere.path().join("missing.toml").to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("--config") && out.stderr.contains("missing.toml"),
        "{out}"
    );
}
