use super::*;

fn engine(sarif_tools: Vec<SarifTool>) -> Engine {
    Engine {
        tools_dir: PathBuf::from("/nonexistent"),
        timeout: Duration::from_secs(30),
        cache_dir: None,
        trusted_build_scripts: false,
        policy: RuleOverrides::default(),
        sarif_tools,
    }
}

const SARIF: &str = r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"Leaky","rules":[
  {"id":"secret","properties":{"security-severity":"9.5"}}]}},
  "results":[{"ruleId":"secret","message":{"text":"a key"},
  "locations":[{"physicalLocation":{"artifactLocation":{"uri":"conf.py"},"region":{"startLine":1}}}]}]}]}"#;

#[tokio::test]
async fn an_operator_sarif_tool_runs_in_the_tree_and_its_findings_count() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("conf.py"), "KEY = 'abc'\n").unwrap();
    std::fs::write(dir.path().join("out.sarif"), SARIF).unwrap();
    // The "tool" prints a report and exits 1, as scanners do when they find something.
    let tool = SarifTool {
        name: "leaky".into(),
        command: vec![
            "/bin/sh".into(),
            "-c".into(),
            "cat out.sarif; exit 1".into(),
        ],
    };
    let config: RepoConfig = RepoConfig {
        backends: super::super::repo_config::BackendsConfig {
            explicit: true,
            ruff: None,
            mypy: None,
            bandit: None,
            semgrep: None,
            clippy: None,
        },
        ..RepoConfig::default()
    };
    let result = engine(vec![tool])
        .analyse(dir.path(), &config, "t", None)
        .await
        .unwrap();
    assert_eq!(result.findings.len(), 1, "{:?}", result.reports);
    let f = &result.findings[0];
    assert_eq!(
        (f.backend.as_str(), f.rule.as_str(), f.path.as_str()),
        ("leaky", "secret", "conf.py")
    );
    assert_eq!(f.severity, crate::domain::finding::Severity::Critical);
    let report = result.reports.iter().find(|r| r.name == "leaky").unwrap();
    assert_eq!(
        (report.status.clone(), report.findings),
        (BackendStatus::Ok, 1)
    );
    assert!(result.any_backend_ran());
}

#[tokio::test]
async fn a_broken_sarif_tool_is_reported_and_does_not_stop_the_analysis() {
    let dir = tempfile::tempdir().unwrap();
    let tool = SarifTool {
        name: "broken".into(),
        command: vec![
            "/bin/sh".into(),
            "-c".into(),
            "echo oops >&2; exit 3".into(),
        ],
    };
    let result = engine(vec![tool])
        .analyse(dir.path(), &RepoConfig::default(), "t", None)
        .await
        .unwrap();
    let report = result.reports.iter().find(|r| r.name == "broken").unwrap();
    match &report.status {
        BackendStatus::Failed(why) => assert!(why.contains("oops"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn sarif_tool_lists_are_validated() {
    assert!(SarifTool::parse_list(r#"[{"name":"x","command":["x","--sarif"]}]"#).is_ok());
    assert!(
        SarifTool::parse_list(r#"[{"name":"ruff","command":["ruff"]}]"#)
            .unwrap_err()
            .contains("built-in")
    );
    assert!(SarifTool::parse_list(r#"[{"name":"x","command":[]}]"#).is_err());
    assert!(SarifTool::parse_list(r#"[{"name":"x","command":["x"],"shell":true}]"#).is_err());
}

#[test]
fn semgrep_rule_paths_must_stay_inside_the_tree() {
    let outside = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("sneaky")).unwrap();
    let config = |path: &str| {
        super::super::repo_config::parse_repo_config(
            &format!("[backends]\nsemgrep = {{ config = [\"{path}\"] }}\n"),
            super::super::repo_config::ConfigSource::FlextToml,
        )
        .unwrap()
    };
    assert_eq!(semgrep_rules_inside(dir.path(), &config("rules")), Ok(()));
    let err = semgrep_rules_inside(dir.path(), &config("sneaky")).unwrap_err();
    assert!(err.contains("outside the repository"), "{err}");
    assert!(semgrep_rules_inside(dir.path(), &config("missing")).is_err());
}

#[tokio::test]
async fn clippy_runs_on_a_crate_in_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"probe\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("src/lib.rs"),
        "pub fn f() -> i32 {\n    return 1;\n}\n",
    )
    .unwrap();
    let config = super::super::repo_config::parse_repo_config(
        "[backends]\nclippy = {}\n",
        super::super::repo_config::ConfigSource::FlextToml,
    )
    .unwrap();
    let mut engine = engine(Vec::new());
    // Without the network sandbox Clippy only runs for trusted code; this test's code is.
    engine.trusted_build_scripts = true;
    engine.timeout = Duration::from_secs(300);
    let result = engine
        .analyse(dir.path(), &config, "t", None)
        .await
        .unwrap();
    let report = result.reports.iter().find(|r| r.name == "clippy").unwrap();
    assert_eq!(report.status, BackendStatus::Ok, "{report:?}");
    assert!(report.version.is_some(), "{report:?}");
    let f = result
        .findings
        .iter()
        .find(|f| f.rule == "clippy::needless_return")
        .unwrap_or_else(|| panic!("{:?}", result.findings));
    assert_eq!((f.path.as_str(), f.start_line), ("src/lib.rs", 2));
    assert!(
        !dir.path().join("target").exists(),
        "the build goes to a scratch directory"
    );
}
