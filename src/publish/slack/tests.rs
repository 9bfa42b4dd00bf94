//! Tests of the Slack message: what it says, escaping, and Slack's limits.

use super::*;
use crate::domain::events::Project;
use crate::domain::gate::{Condition, GateResult};
use crate::domain::score::Grade;
use crate::domain::status::{AnalysisStatus, Trigger};
use crate::store::{AnalysisDetails, AnalysisRow};

fn outcome(requested_by: &str, failing: usize) -> Outcome {
    let conditions = (0..failing)
        .map(|i| Condition {
            name: format!("new major findings {i}"),
            actual: "<!channel> 3".into(),
            threshold: "≤ 0".into(),
            passed: false,
        })
        .collect();
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
            sha: "0123456789abcdef0123456789abcdef01234567".into(),
            config_key: String::new(),
            trigger: Trigger::Push,
            head_ref: Some("refs/heads/main".into()),
            base_ref: None,
            base_sha: None,
            compared_sha: Some("f".repeat(40)),
            pr_number: None,
            installation_id: Some(1),
            status: AnalysisStatus::Completed,
            check_run_id: Some(99),
            ncloc: Some(1000),
            score: Some(72.0),
            grade: Some(Grade::C),
            verdict: Some(Verdict::Failure),
            new_count: Some(3),
            fixed_count: Some(0),
            error: None,
            queued_at: 0,
            started_at: None,
            completed_at: None,
            requested_by: Some(requested_by.into()),
        },
        details: AnalysisDetails {
            gate: Some(GateResult {
                verdict: Verdict::Failure,
                conditions,
                reason: None,
                note: None,
            }),
            ..AnalysisDetails::default()
        },
        findings: Vec::new(),
        fixed: Vec::new(),
    }
}

fn before() -> BranchState {
    BranchState {
        verdict: Verdict::Success,
        grade: Some(Grade::B),
        score: Some(84.5),
    }
}

#[test]
fn a_failure_says_where_who_what_and_links_the_check_run() {
    let m = message(
        &outcome("octocat", 1),
        Transition::Failed,
        Some(&before()),
        "https://github.com",
    );
    assert_eq!(
        m["blocks"][0]["text"]["text"],
        "🔴 acme/widgets main: quality gate failed"
    );
    let section = m["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(section.contains("<https://github.com/acme/widgets/commit/0123456789abcdef0123456789abcdef01234567|0123456>"), "{section}");
    assert!(section.contains("by octocat"), "{section}");
    assert!(section.contains("*Grade* B · 84.5 → C · 72.0"), "{section}");
    assert!(
        section.contains("• new major findings 0: &lt;!channel&gt; 3 (required ≤ 0)"),
        "{section}"
    );
    assert_eq!(
        m["blocks"][2]["elements"][0]["text"],
        "<https://github.com/acme/widgets/runs/99|Check run>"
    );
    assert_eq!(
        m["text"],
        "acme/widgets main: quality gate failed at 0123456 by octocat (B · 84.5 → C · 72.0)"
    );
}

#[test]
fn nothing_from_outside_can_mention_or_link() {
    let m = message(
        &outcome("<!here|x> & <https://evil.example|click>", 1),
        Transition::GradeDropped,
        Some(&before()),
        "https://github.com",
    );
    let all = m.to_string();
    assert!(!all.contains("<!here"), "{all}");
    assert!(!all.contains("<https://evil"), "{all}");
}

#[test]
fn limits_hold_with_many_failing_conditions() {
    let m = message(
        &outcome(&"u".repeat(500), 200),
        Transition::Failed,
        None,
        "https://github.com",
    );
    let blocks = m["blocks"].as_array().unwrap();
    assert!(blocks.len() <= MAX_BLOCKS);
    assert!(m["text"].as_str().unwrap().chars().count() <= MAX_TEXT_CHARS);
    assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= MAX_HEADER_CHARS);
    assert!(blocks[1]["text"]["text"].as_str().unwrap().chars().count() <= MAX_SECTION_CHARS);
    assert_eq!(
        blocks[1]["text"]["text"]
            .as_str()
            .unwrap()
            .matches('•')
            .count(),
        10
    );
}
