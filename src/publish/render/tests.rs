//! Tests of the check run rendering: annotation batches, the annotation cap, columns, limits.

use super::*;
use crate::domain::finding::{Category, RawFinding};
use crate::domain::gate::{evaluate, GateConfig, GateInput};
use crate::domain::score::score;
use serde_json::Value;

fn finding(i: u32, severity: Severity, lines: (u32, u32)) -> Finding {
    Finding {
        raw: RawFinding {
            backend: "ruff".into(),
            rule: "F821".into(),
            category: Category::Reliability,
            severity,
            message: format!("problem {i}"),
            path: format!("pkg/m{i}.py"),
            start_line: lines.0,
            end_line: lines.1,
            start_column: Some(3),
            end_column: Some(9),
            help_url: Some("https://docs.astral.sh/ruff/rules/undefined-name".into()),
            effort_minutes: 5,
        },
        fingerprint: format!("fp{i}"),
        line_key: format!("lk{i}"),
        in_tests: false,
    }
}

fn requests(findings: &[Finding], max: usize) -> Vec<Value> {
    let saved: Vec<SavedFinding> = findings
        .iter()
        .map(|f| SavedFinding {
            finding: f.clone(),
            is_new: true,
            annotate: true,
        })
        .collect();
    let s = score(findings.iter().map(|f| (f.category, f.severity)), 1000);
    let sev: Vec<Severity> = findings.iter().map(|f| f.severity).collect();
    let gate = evaluate(
        &GateConfig::default(),
        &GateInput {
            new_severities: Some(&sev),
            whole_code: false,
            score: Some(&s),
            base_score: None,
            suppressions_added: None,
            failed_backends: &[],
        },
    );
    let report = Report {
        score: Some(&s),
        base_score: Some(100.0),
        gate: &gate,
        findings: &saved,
        fixed: &[],
        compared_sha: Some("0123456789abcdef"),
        backends: &[],
        max_annotations: max,
        suppressions: &[],
        jail: None,
        test_code: None,
    };
    completion_requests(&report, "2026-11-24T06:00:00Z")
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect()
}

#[test]
fn annotations_go_in_batches_of_fifty_and_the_last_request_completes() {
    let findings: Vec<Finding> = (0..120)
        .map(|i| finding(i, Severity::Minor, (1, 1)))
        .collect();
    let bodies = requests(&findings, 1000);
    let sizes: Vec<usize> = bodies
        .iter()
        .map(|b| b["output"]["annotations"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [50, 50, 20]);
    assert!(bodies[..2].iter().all(|b| b.get("conclusion").is_none()));
    assert_eq!(bodies[2]["conclusion"], "success");
    assert_eq!(bodies[2]["status"], "completed");
    assert_eq!(
        bodies[0]["output"]["title"],
        "Grade F · 40.0 · 120 new findings"
    );
}

#[test]
fn the_annotation_cap_is_stated_in_the_summary() {
    let findings: Vec<Finding> = (0..30)
        .map(|i| finding(i, Severity::Major, (2, 2)))
        .collect();
    let bodies = requests(&findings, 10);
    assert_eq!(bodies.len(), 1);
    assert_eq!(
        bodies[0]["output"]["annotations"].as_array().unwrap().len(),
        10
    );
    let summary = bodies[0]["output"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("Only the first 10 of 30 findings to annotate are annotated"),
        "{summary}"
    );
    assert_eq!(bodies[0]["conclusion"], "failure");
    assert!(
        summary.contains("| new major findings | 30 | ≤ 0 | **fail** |"),
        "{summary}"
    );
}

#[test]
fn no_findings_still_completes_with_one_request() {
    let bodies = requests(&[], 1000);
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["conclusion"], "success");
    assert_eq!(
        bodies[0]["output"]["title"],
        "Grade A · 100.0 · 0 new findings"
    );
}

#[test]
fn columns_only_on_single_line_annotations() {
    let one = serde_json::to_value(annotation(&finding(1, Severity::Minor, (4, 4)))).unwrap();
    assert_eq!(
        (one["start_column"].as_u64(), one["end_column"].as_u64()),
        (Some(3), Some(9))
    );
    let multi = serde_json::to_value(annotation(&finding(2, Severity::Minor, (4, 6)))).unwrap();
    assert!(multi.get("start_column").is_none() && multi.get("end_column").is_none());
    assert_eq!(multi["annotation_level"], "warning");
}

#[test]
fn summary_stays_within_githubs_limit() {
    let mut findings: Vec<Finding> = (0..500)
        .map(|i| finding(i, Severity::Minor, (1, 1)))
        .collect();
    for f in &mut findings {
        f.raw.message = "x".repeat(2000);
    }
    let bodies = requests(&findings, 1000);
    let summary = bodies[0]["output"]["summary"].as_str().unwrap();
    assert!(summary.chars().count() <= MAX_SUMMARY_CHARS);
}
