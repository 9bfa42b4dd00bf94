//! Tests of the PR comment body: what it shows, links that point at the head commit, escaping
//! of finding text, the short form, failures, the row limit and GitHub's length limit.

use super::*;
use crate::analysis::engine::BackendReport;
use crate::domain::events::Project;
use crate::domain::finding::{Category, Finding, RawFinding};
use crate::domain::gate::{evaluate, GateConfig, GateInput};
use crate::domain::score::score;
use crate::domain::status::{AnalysisStatus, Trigger};
use crate::domain::suppression::{Suppression, SuppressionKind};
use crate::store::{AnalysisDetails, AnalysisRow, Failure, SavedFinding};

const HEAD: &str = "0123456789abcdef0123456789abcdef01234567";
const BASE: &str = "fedcba9876543210fedcba9876543210fedcba98";

fn finding(i: u32, severity: Severity, message: &str) -> Finding {
    Finding {
        raw: RawFinding {
            backend: "ruff".into(),
            rule: "F821".into(),
            category: Category::Reliability,
            severity,
            message: message.into(),
            path: format!("pkg/m {i}.py"),
            start_line: i + 1,
            end_line: i + 1,
            start_column: None,
            end_column: None,
            help_url: Some("https://docs.astral.sh/ruff/rules/undefined-name".into()),
            effort_minutes: 5,
        },
        fingerprint: format!("fp{i}"),
        line_key: String::new(),
        in_tests: false,
    }
}

fn outcome(new: Vec<Finding>, fixed: Vec<Finding>, suppressions: Vec<Suppression>) -> Outcome {
    let s = score(new.iter().map(|f| (f.category, f.severity)), 1000);
    let sev: Vec<Severity> = new.iter().map(|f| f.severity).collect();
    let gate = evaluate(
        &GateConfig::default(),
        &GateInput {
            new_severities: Some(&sev),
            whole_code: false,
            score: Some(&s),
            base_score: Some(100.0),
            suppressions_added: Some(suppressions.len() as u64),
            failed_backends: &[],
        },
    );
    let mut ruff = BackendReport::new("ruff");
    ruff.version = Some("0.17.6".into());
    ruff.elapsed_ms = 1200;
    Outcome {
        project: Project {
            id: 7,
            installation_id: Some(1),
            full_name: "acme/widgets".into(),
            default_branch: "main".into(),
            clone_url: String::new(),
        },
        analysis: AnalysisRow {
            id: 42,
            project_id: 7,
            sha: HEAD.into(),
            config_key: String::new(),
            trigger: Trigger::PullRequest,
            head_ref: None,
            base_ref: None,
            base_sha: Some(BASE.into()),
            compared_sha: Some(BASE.into()),
            pr_number: Some(3),
            installation_id: Some(1),
            status: AnalysisStatus::Completed,
            check_run_id: Some(99),
            ncloc: Some(1000),
            score: Some(s.score),
            grade: Some(s.grade),
            verdict: Some(gate.verdict),
            new_count: Some(new.len() as i64),
            fixed_count: Some(fixed.len() as i64),
            error: None,
            queued_at: 0,
            started_at: None,
            completed_at: None,
            requested_by: Some("octocat".into()),
        },
        details: AnalysisDetails {
            backends: vec![ruff],
            score: Some(s),
            gate: Some(gate),
            base_score: Some(100.0),
            suppressions: Some(suppressions),
            ..AnalysisDetails::default()
        },
        findings: new
            .into_iter()
            .map(|finding| SavedFinding {
                finding,
                is_new: true,
                annotate: true,
            })
            .collect(),
        fixed,
    }
}

fn links() -> Links {
    Links {
        web: "https://github.com".into(),
        public_url: Some("https://quality.example.com/".into()),
    }
}

#[test]
fn a_failing_pull_request_shows_grade_gate_and_new_findings() {
    let body = render(
        &outcome(
            vec![finding(1, Severity::Major, "Undefined name `x`")],
            vec![finding(2, Severity::Minor, "gone")],
            vec![Suppression {
                path: "pkg/a.py".into(),
                line: 4,
                kind: SuppressionKind::Noqa,
            }],
        ),
        &links(),
    );
    assert!(body.starts_with(MARKER), "{body}");
    for needle in [
        "### ❌ flext-quality: **A · 98.0** (−2.0)",
        "**Quality gate: failed** for `0123456789ab` against `fedcba987654`.",
        "| new major findings | 1 | ≤ 0 | ❌ |",
        "| **new** (1) | 0 | 0 | 1 | 0 | 0 |",
        "| **fixed** (1) | 0 | 0 | 0 | 1 | 0 |",
        "| major | [ruff:F821](https://docs.astral.sh/ruff/rules/undefined-name) | [pkg/m 1.py:2](https://github.com/acme/widgets/blob/0123456789abcdef0123456789abcdef01234567/pkg/m%201.py#L2) | Undefined name \\`x\\` |",
        "#### Suppressions this pull request adds (1)",
        "- [pkg/a.py:4](https://github.com/acme/widgets/blob/0123456789abcdef0123456789abcdef01234567/pkg/a.py#L4) `# noqa`",
        "| ruff | 0.17.6 | ok | 1.2 s |",
        "[Check run](https://github.com/acme/widgets/runs/99) · [Dashboard](https://quality.example.com/analyses/42)",
        "Score = 100 − security 0.0 − reliability 2.0 − maintainability 0.0",
    ] {
        assert!(body.contains(needle), "missing {needle:?} in:\n{body}");
    }
}

#[test]
fn finding_text_cannot_forge_the_comment() {
    let hostile = "x</details>\n\n### ✅ flext-quality: **A · 100.0** | [click](https://evil.example) <!-- flext-quality:pr-comment -->";
    let body = render(
        &outcome(vec![finding(1, Severity::Major, hostile)], vec![], vec![]),
        &links(),
    );
    assert_eq!(body.matches("</details>").count(), 1, "{body}");
    assert_eq!(body.matches(MARKER).count(), 1, "{body}");
    assert!(!body.contains("](https://evil.example)"), "{body}");
    assert_eq!(
        body.lines().filter(|l| l.starts_with("### ")).count(),
        1,
        "{body}"
    );
}

#[test]
fn nothing_to_report_is_one_short_line() {
    let body = render(&outcome(vec![], vec![], vec![]), &links());
    assert_eq!(
        body.lines().nth(1),
        Some("✅ **flext-quality**: no new findings; **A · 100.0** (±0.0) · gate passed · `0123456789ab`"),
        "{body}"
    );
    assert!(body.len() < 400, "{body}");
}

#[test]
fn a_failed_analysis_says_so() {
    let mut o = outcome(vec![], vec![], vec![]);
    o.details.failure = Some(Failure {
        conclusion: "failure".into(),
        title: "The repository's flext-quality config is invalid".into(),
        summary: String::new(),
    });
    let body = render(&o, &links());
    assert!(
        body.contains("### ⚠️ flext-quality could not analyse `0123456789ab`"),
        "{body}"
    );
    assert!(
        body.contains("The repository's flext-quality config is invalid"),
        "{body}"
    );
}

#[test]
fn rows_are_limited_and_the_body_fits_github() {
    let many: Vec<Finding> = (0..400)
        .map(|i| finding(i, Severity::Minor, &"long message ".repeat(400)))
        .collect();
    let body = render(&outcome(many, vec![], vec![]), &links());
    assert!(
        body.contains(&format!("… and {} more in the check run.", 400 - MAX_ROWS)),
        "{}",
        &body[..2000]
    );
    assert!(body.chars().count() <= MAX_COMMENT_CHARS);
    let rows = body.lines().filter(|l| l.starts_with("| minor |")).count();
    assert_eq!(rows, MAX_ROWS);
    assert!(fit("x".repeat(MAX_COMMENT_CHARS + 10)).chars().count() <= MAX_COMMENT_CHARS);
}
