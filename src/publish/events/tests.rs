//! Tests of outgoing events: the body, what an answer means, and that nothing of a hook's URL
//! but its host, nor its secret, is ever recorded.

use super::*;
use crate::domain::events::Project;
use crate::domain::score::Grade;
use crate::domain::status::{AnalysisStatus, Trigger};
use crate::store::{AnalysisDetails, AnalysisRow};

fn outcome() -> Outcome {
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
            trigger: Trigger::PullRequest,
            head_ref: Some("refs/pull/3/head".into()),
            base_ref: Some("refs/heads/main".into()),
            base_sha: None,
            compared_sha: None,
            pr_number: Some(3),
            installation_id: Some(1),
            status: AnalysisStatus::Completed,
            check_run_id: Some(99),
            ncloc: Some(1000),
            score: Some(72.5),
            grade: Some(Grade::C),
            verdict: Some(Verdict::Failure),
            new_count: Some(3),
            fixed_count: Some(1),
            error: None,
            queued_at: 0,
            started_at: None,
            completed_at: Some(1_700_000_000_000),
            requested_by: None,
        },
        details: AnalysisDetails::default(),
        findings: Vec::new(),
        fixed: Vec::new(),
    }
}

#[test]
fn the_body_says_what_happened_to_which_analysis() {
    let o = outcome();
    let body = payload(
        &o,
        HookEvent::GateChanged,
        17,
        Some(Verdict::Success),
        "https://github.com",
    );
    assert_eq!(
        body,
        json!({
            "event": "gate.changed",
            "delivery": 17,
            "project": { "id": 7, "full_name": "acme/widgets" },
            "analysis": {
                "id": 42,
                "sha": "0123456789abcdef0123456789abcdef01234567",
                "ref": "refs/pull/3/head",
                "pr_number": 3,
                "score": 72.5,
                "grade": "C",
                "verdict": "failure",
                "new_count": 3,
                "fixed_count": 1,
                "completed_at": 1_700_000_000_000i64,
                "url": "https://github.com/acme/widgets/runs/99",
            },
            "previous_verdict": "success",
        })
    );
    // analysis.completed carries no previous verdict; without a check run, the commit's URL.
    let mut o = outcome();
    o.analysis.check_run_id = None;
    let body = payload(
        &o,
        HookEvent::AnalysisCompleted,
        18,
        None,
        "https://github.com",
    );
    assert!(body.get("previous_verdict").is_none());
    assert_eq!(
        body["analysis"]["url"],
        "https://github.com/acme/widgets/commit/0123456789abcdef0123456789abcdef01234567"
    );
}

#[test]
fn answers_decide_between_delivered_retried_waited_and_refused() {
    let h = "hooks.example.com";
    assert_eq!(classify(h, 200, None, "ok"), Attempt::Delivered);
    assert_eq!(classify(h, 204, None, ""), Attempt::Delivered);
    assert_eq!(
        classify(h, 500, None, "boom"),
        Attempt::Retry("hooks.example.com answered 500: boom".into())
    );
    assert!(matches!(classify(h, 503, None, ""), Attempt::Retry(_)));
    assert!(matches!(classify(h, 408, None, ""), Attempt::Retry(_)));
    assert_eq!(
        classify(h, 429, Some(7), ""),
        Attempt::Wait(
            Duration::from_secs(7),
            "hooks.example.com is rate limiting us (429)".into()
        )
    );
    assert!(matches!(
        classify(h, 429, None, ""),
        Attempt::Wait(d, _) if d == Duration::from_secs(30)
    ));
    assert_eq!(
        classify(h, 404, None, "no such hook"),
        Attempt::Refused("hooks.example.com refused the event: 404: no such hook".into())
    );
    assert!(matches!(classify(h, 301, None, ""), Attempt::Refused(_)));
    for (code, settled) in [
        (None, false),
        (Some(500), false),
        (Some(429), false),
        (Some(408), false),
        (Some(404), true),
        (Some(401), true),
        (Some(302), true),
        (Some(200), false),
    ] {
        assert_eq!(refused_for_good(code), settled, "{code:?}");
    }
}

#[test]
fn nothing_of_the_url_but_its_host_nor_the_secret_is_recorded() {
    let url = "https://bot:p4ssw0rd@hooks.example.com/in/T0KEN-abcdef123/x?token=canary&team=acme";
    let secret = "the-hook-secret";
    for text in [
        format!("error sending request for url ({url})"),
        "GET /in/T0KEN-abcdef123/x?token=canary&team=acme failed".to_owned(),
        "bad token canary for T0KEN-abcdef123".to_owned(),
        "signed with the-hook-secret by bot:p4ssw0rd".to_owned(),
        "hooks.example.com answered 500: /in/T0KEN-abcdef123/x".to_owned(),
    ] {
        let s = scrub(&text, url, secret);
        for hidden in ["canary", "T0KEN", "the-hook-secret", "p4ssw0rd", "/in/"] {
            assert!(!s.contains(hidden), "{hidden} in {s}");
        }
    }
    assert_eq!(
        scrub("hooks.example.com answered 500: oops", url, secret),
        "hooks.example.com answered 500: oops"
    );
}

#[test]
fn signatures_are_githubs_format_over_the_exact_body() {
    let secret = SecretString::from("s3cret".to_owned());
    let sig = crate::github::signature::sign(&secret, b"{\"event\":\"gate.changed\"}");
    assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64, "{sig}");
    assert!(crate::github::signature::verify(
        &[secret],
        Some(&sig),
        b"{\"event\":\"gate.changed\"}"
    )
    .is_ok());
}
