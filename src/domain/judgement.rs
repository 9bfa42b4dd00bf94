//! Judging a commit: which findings are new and which fixed against the base, the score and
//! grade, and the gate's verdict. One pure function, used by the server and by `analyze`.

use super::diffmap::DiffMap;
use super::finding::{Finding, Severity};
use super::gate::{self, GateConfig, GateInput, GateResult};
use super::pairing;
use super::score::{score, Score};

/// What the gate counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateScope {
    /// Findings new against the base (a pull request; a push with an analysed predecessor;
    /// `analyze --base`).
    NewFindings,
    /// Every open finding (`analyze` without a base).
    WholeCode,
    /// A branch's first analysis, with no analysed predecessor: nothing is new, so only the
    /// conditions on the whole code's score and grade apply.
    FirstAnalysis,
}

/// Said in the gate of a branch's first analysis.
pub const NO_BASELINE: &str = "No earlier analysis of this branch to compare with: this one is the baseline, so no finding counts as new and only the score and grade conditions apply.";

/// The commit compared with.
#[derive(Debug, Clone, Copy)]
pub struct Baseline<'a> {
    pub findings: &'a [Finding],
    pub ncloc: u64,
}

/// Whether anything could be judged.
#[derive(Debug, Clone, Copy)]
pub enum Applicability<'a> {
    /// No backend applies to the tree (no Python, no Rust, …): nothing to judge.
    NothingApplies { why: &'a str },
    /// Backends ran; those that applied but failed, as "name: reason", and whether any of
    /// them produced a result (without one there is nothing to score).
    Ran {
        failed: &'a [String],
        any_succeeded: bool,
    },
}

pub struct JudgementInput<'a> {
    pub head: &'a [Finding],
    pub ncloc: u64,
    pub base: Option<Baseline<'a>>,
    /// How the change moved lines from the base to the head, when known: copies of a finding
    /// pair along it (without it, by fingerprint alone).
    pub diff: Option<&'a DiffMap>,
    pub scope: GateScope,
    pub gate: &'a GateConfig,
    pub backends: Applicability<'a>,
    /// Inline suppressions the change added, when there is a change to look at.
    pub suppressions_added: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// For each head finding, in order: new against the base. Without a base (a first push, no
    /// baseline yet) every finding is new.
    pub new: Vec<bool>,
    /// Base findings the head no longer has.
    pub fixed: Vec<Finding>,
    /// `None` when no backend produced a result: there is nothing to score or grade.
    pub score: Option<Score>,
    pub base_score: Option<f64>,
    pub gate: GateResult,
}

impl Judgement {
    pub fn new_count(&self) -> usize {
        self.new.iter().filter(|n| **n).count()
    }
}

pub fn judge(input: &JudgementInput<'_>) -> Judgement {
    let (new, fixed) = match &input.base {
        Some(base) => {
            let p = pairing::pair(input.head, base.findings, input.diff);
            let fixed = p.fixed.iter().map(|i| base.findings[*i].clone()).collect();
            (p.new, fixed)
        }
        None if input.scope == GateScope::FirstAnalysis => {
            (vec![false; input.head.len()], Vec::new())
        }
        None => (vec![true; input.head.len()], Vec::new()),
    };
    let s = match input.backends {
        Applicability::Ran {
            any_succeeded: true,
            ..
        } => Some(score(
            input.head.iter().map(|f| (f.category, f.severity)),
            input.ncloc,
        )),
        _ => None,
    };
    let base_score = input
        .base
        .map(|b| score(b.findings.iter().map(|f| (f.category, f.severity)), b.ncloc).score);
    let gate = match input.backends {
        Applicability::NothingApplies { why } => {
            gate::neutral(format!("nothing to analyse ({why})"))
        }
        Applicability::Ran { failed, .. } => {
            let counted: Vec<Severity> = input
                .head
                .iter()
                .zip(&new)
                .filter(|(_, is_new)| input.scope == GateScope::WholeCode || **is_new)
                .map(|(f, _)| f.severity)
                .collect();
            let mut result = gate::evaluate(
                input.gate,
                &GateInput {
                    new_severities: (input.scope != GateScope::FirstAnalysis).then_some(&counted),
                    whole_code: input.scope == GateScope::WholeCode,
                    score: s.as_ref(),
                    base_score,
                    suppressions_added: input.suppressions_added,
                    failed_backends: failed,
                },
            );
            if input.scope == GateScope::FirstAnalysis {
                result.note = Some(NO_BASELINE.into());
            }
            result
        }
    };
    Judgement {
        new,
        fixed,
        score: s,
        base_score,
        gate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::finding::{Category, RawFinding};
    use crate::domain::gate::Verdict;

    fn f(print: &str, severity: Severity) -> Finding {
        Finding {
            raw: RawFinding {
                backend: "ruff".into(),
                rule: "X1".into(),
                category: Category::Reliability,
                severity,
                message: "m".into(),
                path: "a.py".into(),
                start_line: 1,
                end_line: 1,
                start_column: None,
                end_column: None,
                help_url: None,
                effort_minutes: 5,
            },
            fingerprint: print.into(),
            line_key: String::new(),
            in_tests: false,
        }
    }

    fn judged(head: &[Finding], base: Option<&[Finding]>, scope: GateScope) -> Judgement {
        judge(&JudgementInput {
            head,
            ncloc: 1000,
            base: base.map(|findings| Baseline {
                findings,
                ncloc: 1000,
            }),
            diff: None,
            scope,
            gate: &GateConfig::default(),
            backends: Applicability::Ran {
                failed: &[],
                any_succeeded: true,
            },
            suppressions_added: None,
        })
    }

    #[test]
    fn new_and_fixed_by_fingerprint() {
        use Severity::*;
        let base = [f("a", Major), f("b", Minor)];
        let head = [f("a", Major), f("c", Major), f("d", Minor)];
        let j = judged(&head, Some(&base), GateScope::NewFindings);
        assert_eq!(j.new, [false, true, true]);
        assert_eq!(
            j.fixed
                .iter()
                .map(|f| f.fingerprint.as_str())
                .collect::<Vec<_>>(),
            ["b"]
        );
        assert_eq!(j.new_count(), 2);
        // The new major finding fails the default gate; the old one alone would not.
        assert_eq!(j.gate.verdict, Verdict::Failure);
        let only_old = judged(&[f("a", Major)], Some(&base), GateScope::NewFindings);
        assert_eq!(only_old.gate.verdict, Verdict::Success);
        assert_eq!(only_old.base_score, Some(97.5));
        assert_eq!(only_old.score.map(|s| s.score), Some(98.0));
    }

    #[test]
    fn whole_code_counts_every_open_finding() {
        let head = [f("a", Severity::Major)];
        let j = judged(&head, Some(&head), GateScope::WholeCode);
        assert_eq!(j.new, [false]);
        assert_eq!(j.gate.verdict, Verdict::Failure);
        assert!(j.gate.conditions[0].name.contains("whole code"));
        let no_base = judged(&head, None, GateScope::WholeCode);
        assert_eq!(
            (no_base.new.clone(), no_base.base_score),
            (vec![true], None)
        );
        assert_eq!(no_base.gate.verdict, Verdict::Failure);
    }

    #[test]
    fn a_first_analysis_counts_no_finding_and_says_why() {
        let head = [f("a", Severity::Blocker), f("b", Severity::Major)];
        let j = judged(&head, None, GateScope::FirstAnalysis);
        assert_eq!(j.new, [false, false]);
        assert_eq!(j.gate.verdict, Verdict::Success);
        assert!(j.gate.conditions.is_empty(), "{:?}", j.gate.conditions);
        assert_eq!(j.gate.note.as_deref(), Some(NO_BASELINE));
        // The conditions on the whole code still apply.
        let strict = GateConfig {
            min_score: 99.0,
            ..GateConfig::default()
        };
        let j = judge(&JudgementInput {
            head: &head,
            ncloc: 1000,
            base: None,
            diff: None,
            scope: GateScope::FirstAnalysis,
            gate: &strict,
            backends: Applicability::Ran {
                failed: &[],
                any_succeeded: true,
            },
            suppressions_added: None,
        });
        assert_eq!(j.gate.verdict, Verdict::Failure);
        assert_eq!(j.gate.conditions.len(), 1);
        assert_eq!(j.gate.conditions[0].name, "score");
    }

    #[test]
    fn nothing_to_analyse_is_neutral_and_failures_fail() {
        let neutral = judge(&JudgementInput {
            head: &[],
            ncloc: 0,
            base: None,
            diff: None,
            scope: GateScope::NewFindings,
            gate: &GateConfig::default(),
            backends: Applicability::NothingApplies {
                why: "no Python files",
            },
            suppressions_added: None,
        });
        assert_eq!(neutral.gate.verdict, Verdict::Neutral);
        assert_eq!(
            neutral.gate.reason.as_deref(),
            Some("nothing to analyse (no Python files)")
        );
        let failed = ["mypy: exited with 2".to_owned()];
        let j = judge(&JudgementInput {
            head: &[],
            ncloc: 0,
            base: None,
            diff: None,
            scope: GateScope::NewFindings,
            gate: &GateConfig::default(),
            backends: Applicability::Ran {
                failed: &failed,
                any_succeeded: true,
            },
            suppressions_added: Some(0),
        });
        assert_eq!(j.gate.verdict, Verdict::Failure);
        assert!(j.score.is_some());
    }

    #[test]
    fn when_no_backend_ran_there_is_no_score_and_no_pass() {
        let failed = ["ruff: not run".to_owned(), "mypy: not run".to_owned()];
        let lenient = GateConfig {
            allow_backend_failure: Some(true),
            ..GateConfig::default()
        };
        for (gate, any_succeeded, verdict, scored) in [
            (&lenient, false, Verdict::Failure, false),
            (&GateConfig::default(), false, Verdict::Failure, false),
            (&lenient, true, Verdict::Success, true),
        ] {
            let j = judge(&JudgementInput {
                head: &[],
                ncloc: 10,
                base: None,
                diff: None,
                scope: GateScope::NewFindings,
                gate,
                backends: Applicability::Ran {
                    failed: &failed,
                    any_succeeded,
                },
                suppressions_added: None,
            });
            assert_eq!(j.gate.verdict, verdict, "{any_succeeded} {:?}", j.gate);
            assert_eq!(j.score.is_some(), scored);
            assert!(
                !j.gate
                    .conditions
                    .iter()
                    .any(|c| c.name == "grade" && !scored),
                "no grade condition without a score"
            );
        }
    }
}
