//! Tests of the engine with the real jail: operator SARIF tools, a broken tool, Clippy.

use super::*;
use crate::analysis::backends::LocalFiles;
use crate::analysis::repo_config::{parse_repo_config, BackendsConfig, ConfigSource};

fn engine(sarif_tools: Vec<SarifTool>) -> Engine {
    Engine {
        jail: crate::analysis::backends::testutil::jail(),
        timeout: Duration::from_secs(30),
        result_cache: None,
        tool_cache: None,
        policy: RuleOverrides::default(),
        sarif_tools,
        max_findings: DEFAULT_MAX_FINDINGS,
        runs: Default::default(),
    }
}

fn input(root: &Path, config: RepoConfig) -> AnalysisInput {
    AnalysisInput {
        root: root.to_path_buf(),
        config,
        config_files: Arc::new(LocalFiles {
            root: root.to_path_buf(),
        }),
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
        backends: BackendsConfig {
            explicit: true,
            enabled: Default::default(),
        },
        ..RepoConfig::default()
    };
    let result = engine(vec![tool])
        .analyse(&input(dir.path(), config), None)
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
        .analyse(&input(dir.path(), RepoConfig::default()), None)
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
    let config = parse_repo_config("[backends]\nclippy = {}\n", ConfigSource::FlextToml).unwrap();
    let mut engine = engine(Vec::new());
    engine.timeout = Duration::from_secs(300);
    let result = engine
        .analyse(&input(dir.path(), config), None)
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
        !dir.path().join("target").exists() && !dir.path().join("Cargo.lock").exists(),
        "the build goes to a scratch directory, and the tree is left as it was"
    );
}
