//! Whether a project complies with the server policy's `[compliance]` rules: a minimum grade,
//! no open critical (or worse) security finding, analysed recently enough. A plain function of
//! what the dashboard already knows about a project.

use super::score::Grade;
use serde::{Deserialize, Serialize};

/// The organisation's rules for every project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompliancePolicy {
    /// The worst grade a project's default branch may have (`C` by default).
    pub min_grade: Option<Grade>,
    /// No open critical or blocker security finding on the default branch (on by default).
    pub no_open_critical_security: bool,
    /// The default branch was analysed within this many days (30 by default).
    pub max_age_days: Option<u32>,
}

impl Default for CompliancePolicy {
    fn default() -> Self {
        CompliancePolicy {
            min_grade: Some(Grade::C),
            no_open_critical_security: true,
            max_age_days: Some(30),
        }
    }
}

/// What is known of a project's default branch.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    pub grade: Option<Grade>,
    /// Open security findings of critical or blocker severity.
    pub open_critical_security: u64,
    /// When it was last analysed (Unix ms), if ever.
    pub analysed_at: Option<i64>,
}

/// The rules a project breaks, each said in a sentence; empty when it complies.
pub fn violations(policy: &CompliancePolicy, s: &Standing, now_ms: i64) -> Vec<String> {
    let mut out = Vec::new();
    match (policy.min_grade, s.grade) {
        (Some(min), Some(g)) if !g.at_least(min) => {
            out.push(format!("grade {g} is below the minimum {min}"))
        }
        (Some(min), None) => out.push(format!("no grade yet (the minimum is {min})")),
        _ => {}
    }
    if policy.no_open_critical_security && s.open_critical_security > 0 {
        let n = s.open_critical_security;
        let plural = if n == 1 { "" } else { "s" };
        out.push(format!("{n} open critical security finding{plural}"));
    }
    if let Some(days) = policy.max_age_days {
        match s.analysed_at {
            None => out.push("never analysed".into()),
            Some(at) => {
                let age_days = (now_ms - at).max(0) / 86_400_000;
                if age_days > i64::from(days) {
                    out.push(format!(
                        "last analysed {age_days} days ago (at most {days})"
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn each_rule_says_what_it_found() {
        let p = CompliancePolicy::default();
        let now = 100 * DAY;
        let cases = [
            (Some(Grade::B), 0, Some(now - DAY), vec![]),
            (
                Some(Grade::D),
                0,
                Some(now - DAY),
                vec!["grade D is below the minimum C"],
            ),
            (
                None,
                0,
                None,
                vec!["no grade yet (the minimum is C)", "never analysed"],
            ),
            (
                Some(Grade::A),
                2,
                Some(now - 40 * DAY),
                vec![
                    "2 open critical security findings",
                    "last analysed 40 days ago (at most 30)",
                ],
            ),
        ];
        for (grade, critical, at, expected) in cases {
            let s = Standing {
                grade,
                open_critical_security: critical,
                analysed_at: at,
            };
            assert_eq!(violations(&p, &s, now), expected, "{s:?}");
        }
        let lenient = CompliancePolicy {
            min_grade: None,
            no_open_critical_security: false,
            max_age_days: None,
        };
        let worst = Standing {
            grade: Some(Grade::F),
            open_critical_security: 9,
            analysed_at: None,
        };
        assert!(violations(&lenient, &worst, now).is_empty());
    }
}
