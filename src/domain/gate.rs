//! The quality gate: conditions on new findings and the score, each reported pass or fail.
//!
//! Default ("clean as you code"): no new finding of major severity or worse. Repository config can
//! tighten it with allowed new findings per severity, a minimum score, a minimum grade and a
//! maximum score drop against the base.

use super::finding::Severity;
use super::score::{Grade, Score};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateConfig {
    /// Allowed new findings per severity; a severity absent here is unlimited.
    pub new: BTreeMap<Severity, u64>,
    pub min_score: f64,
    pub min_grade: Grade,
    pub max_score_drop: f64,
    /// Inline suppressions (`# noqa`, `# nosec`, …) a change may add; `None` is no limit.
    pub new_suppressions: Option<u64>,
    /// Whether a backend that applies but fails still lets the gate pass. `None` is unset
    /// (no); a server policy that says `Some(false)` cannot be overridden by a repository.
    pub allow_backend_failure: Option<bool>,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            new: BTreeMap::from([
                (Severity::Blocker, 0),
                (Severity::Critical, 0),
                (Severity::Major, 0),
            ]),
            min_score: 0.0,
            min_grade: Grade::F,
            max_score_drop: 100.0,
            new_suppressions: None,
            allow_backend_failure: None,
        }
    }
}

impl GateConfig {
    /// The stricter of two gates, condition by condition: a repository's config can tighten
    /// the server's gate but never loosen it.
    pub fn tightened_by(&self, other: &GateConfig) -> GateConfig {
        let mut new = self.new.clone();
        for (severity, allowed) in &other.new {
            new.entry(*severity)
                .and_modify(|a| *a = (*a).min(*allowed))
                .or_insert(*allowed);
        }
        GateConfig {
            new,
            min_score: self.min_score.max(other.min_score),
            min_grade: self.min_grade.min(other.min_grade),
            max_score_drop: self.max_score_drop.min(other.max_score_drop),
            new_suppressions: match (self.new_suppressions, other.new_suppressions) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            allow_backend_failure: match self.allow_backend_failure {
                Some(false) => Some(false),
                mine => other.allow_backend_failure.or(mine),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Success,
    Failure,
    Neutral,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Success => "success",
            Verdict::Failure => "failure",
            Verdict::Neutral => "neutral",
        }
    }
}

/// One gate condition with the values it compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// A human sentence of the rule, e.g. "new major findings ≤ 0".
    pub name: String,
    pub actual: String,
    pub threshold: String,
    pub passed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    pub verdict: Verdict,
    pub conditions: Vec<Condition>,
    /// Why the verdict is neutral, when it is.
    pub reason: Option<String>,
    /// What the reader should know about what was counted (a first analysis, say).
    #[serde(default)]
    pub note: Option<String>,
}

/// What the gate looks at.
pub struct GateInput<'a> {
    /// Severities of the findings the gate counts: those new against the base, or all of
    /// them when `whole_code`; `None` counts no findings (a branch's first analysis).
    pub new_severities: Option<&'a [Severity]>,
    /// The counted findings are the whole code's, not the change's: conditions say so.
    pub whole_code: bool,
    /// `None` when no backend produced a result: nothing to score, and the gate cannot pass.
    pub score: Option<&'a Score>,
    /// The base's score, when there is a base to compare with.
    pub base_score: Option<f64>,
    /// Inline suppressions the change added, when known.
    pub suppressions_added: Option<u64>,
    /// Backends that applied but failed, each as "name: reason".
    pub failed_backends: &'a [String],
}

fn fmt_score(x: f64) -> String {
    format!("{x:.1}")
}

pub fn evaluate(config: &GateConfig, input: &GateInput<'_>) -> GateResult {
    let mut conditions = Vec::new();
    let counted = input.new_severities.map_or(&[][..], |s| s);
    for (&severity, &allowed) in config
        .new
        .iter()
        .rev()
        .filter(|_| input.new_severities.is_some())
    {
        let count = counted.iter().filter(|s| **s == severity).count() as u64;
        conditions.push(Condition {
            name: if input.whole_code {
                format!("{severity} findings (whole code)")
            } else {
                format!("new {severity} findings")
            },
            actual: count.to_string(),
            threshold: format!("≤ {allowed}"),
            passed: count <= allowed,
        });
    }
    if let Some(score) = input.score {
        score_conditions(config, score, input.base_score, &mut conditions);
    }
    if let (Some(allowed), Some(added)) = (config.new_suppressions, input.suppressions_added) {
        conditions.push(Condition {
            name: "suppressions added".into(),
            actual: added.to_string(),
            threshold: format!("≤ {allowed}"),
            passed: added <= allowed,
        });
    }
    if !input.failed_backends.is_empty() {
        let allowed = config.allow_backend_failure == Some(true);
        // Allowing a backend to fail never lets a commit pass on which no tool ran at all.
        let nothing_ran = input.score.is_none();
        conditions.push(Condition {
            name: "backends that failed".into(),
            actual: input.failed_backends.join("; "),
            threshold: match (allowed, nothing_ran) {
                (true, false) => "allowed (`allow_backend_failure`)".into(),
                (true, true) => "not all of them (`allow_backend_failure`)".into(),
                (false, _) => "none".into(),
            },
            passed: allowed && !nothing_ran,
        });
    }
    let verdict = if conditions.iter().all(|c| c.passed) {
        Verdict::Success
    } else {
        Verdict::Failure
    };
    GateResult {
        verdict,
        conditions,
        reason: None,
        note: None,
    }
}

/// The conditions on the score and grade, and on the drop against the base's score.
fn score_conditions(
    config: &GateConfig,
    score: &Score,
    base_score: Option<f64>,
    conditions: &mut Vec<Condition>,
) {
    if config.min_score > 0.0 {
        conditions.push(Condition {
            name: "score".into(),
            actual: fmt_score(score.score),
            threshold: format!("≥ {}", fmt_score(config.min_score)),
            passed: score.score >= config.min_score,
        });
    }
    if config.min_grade != Grade::F {
        conditions.push(Condition {
            name: "grade".into(),
            actual: score.grade.to_string(),
            threshold: format!("{} or better", config.min_grade),
            passed: score.grade.at_least(config.min_grade),
        });
    }
    if config.max_score_drop < 100.0 {
        if let Some(base) = base_score {
            let drop = ((base - score.score) * 10.0).round() / 10.0;
            conditions.push(Condition {
                name: "score drop".into(),
                actual: fmt_score(drop.max(0.0)),
                threshold: format!("≤ {}", fmt_score(config.max_score_drop)),
                passed: drop <= config.max_score_drop,
            });
        }
    }
}

/// The verdict when no backend could run: neither pass nor fail.
pub fn neutral(reason: impl Into<String>) -> GateResult {
    GateResult {
        verdict: Verdict::Neutral,
        conditions: Vec::new(),
        reason: Some(reason.into()),
        note: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::score::score;

    fn run(
        config: &GateConfig,
        new: &[Severity],
        score_value: f64,
        base: Option<f64>,
    ) -> GateResult {
        let mut s = score(Vec::new(), 1000);
        s.score = score_value;
        s.grade = Grade::from_score(score_value);
        evaluate(
            config,
            &GateInput {
                new_severities: Some(new),
                whole_code: false,
                score: Some(&s),
                base_score: base,
                suppressions_added: None,
                failed_backends: &[],
            },
        )
    }

    #[test]
    fn default_gate_fails_on_new_major_or_worse() {
        let c = GateConfig::default();
        use Severity::*;
        for (new, verdict) in [
            (vec![], Verdict::Success),
            (vec![Minor, Minor, Info], Verdict::Success),
            (vec![Major], Verdict::Failure),
            (vec![Critical], Verdict::Failure),
            (vec![Blocker, Minor], Verdict::Failure),
        ] {
            assert_eq!(run(&c, &new, 50.0, None).verdict, verdict, "{new:?}");
        }
    }

    #[test]
    fn each_condition_names_its_values() {
        let mut c = GateConfig::default();
        c.new.insert(Severity::Minor, 1);
        c.min_score = 80.0;
        c.min_grade = Grade::B;
        c.max_score_drop = 2.0;
        let r = run(&c, &[Severity::Minor, Severity::Minor], 79.0, Some(85.0));
        let failed: Vec<_> = r
            .conditions
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            failed,
            ["new minor findings", "score", "grade", "score drop"]
        );
        let drop = r
            .conditions
            .iter()
            .find(|c| c.name == "score drop")
            .unwrap();
        assert_eq!(
            (drop.actual.as_str(), drop.threshold.as_str()),
            ("6.0", "≤ 2.0")
        );
        assert_eq!(r.verdict, Verdict::Failure);

        let ok = run(&c, &[Severity::Minor], 84.0, Some(85.0));
        assert_eq!(ok.verdict, Verdict::Success, "{:?}", ok.conditions);
    }

    #[test]
    fn score_drop_needs_a_base() {
        let c = GateConfig {
            max_score_drop: 0.0,
            ..GateConfig::default()
        };
        assert!(run(&c, &[], 10.0, None)
            .conditions
            .iter()
            .all(|c| c.name != "score drop"));
        assert_eq!(run(&c, &[], 10.0, Some(10.5)).verdict, Verdict::Failure);
    }

    #[test]
    fn a_repository_can_tighten_but_not_loosen() {
        let server = GateConfig::default();
        let mut repo = GateConfig::default();
        repo.new.insert(Severity::Major, 5); // looser: ignored
        repo.new.insert(Severity::Minor, 3); // new condition: kept
        repo.min_score = 70.0;
        repo.min_grade = Grade::C;
        repo.max_score_drop = 1.0;
        let g = server.tightened_by(&repo);
        assert_eq!(g.new.get(&Severity::Major), Some(&0));
        assert_eq!(g.new.get(&Severity::Minor), Some(&3));
        assert_eq!(
            (g.min_score, g.min_grade, g.max_score_drop),
            (70.0, Grade::C, 1.0)
        );
        let loose = GateConfig {
            min_score: 0.0,
            min_grade: Grade::F,
            max_score_drop: 100.0,
            new: BTreeMap::new(),
            new_suppressions: None,
            allow_backend_failure: None,
        };
        assert_eq!(g.tightened_by(&loose), g);
    }

    #[test]
    fn suppression_and_backend_failure_conditions() {
        let s = score(Vec::new(), 1000);
        let eval = |c: &GateConfig, added: Option<u64>, failed: &[String]| {
            evaluate(
                c,
                &GateInput {
                    new_severities: Some(&[]),
                    whole_code: false,
                    score: Some(&s),
                    base_score: None,
                    suppressions_added: added,
                    failed_backends: failed,
                },
            )
        };
        let mut c = GateConfig::default();
        // No limit by default: the count is shown elsewhere, not gated.
        assert_eq!(eval(&c, Some(3), &[]).verdict, Verdict::Success);
        c.new_suppressions = Some(0);
        let r = eval(&c, Some(1), &[]);
        assert_eq!(r.verdict, Verdict::Failure);
        assert_eq!(r.conditions.last().unwrap().name, "suppressions added");
        assert_eq!(eval(&c, Some(0), &[]).verdict, Verdict::Success);
        let failed = ["mypy: exited with 2".to_owned()];
        let r = eval(&GateConfig::default(), None, &failed);
        assert_eq!(r.verdict, Verdict::Failure);
        assert_eq!(r.conditions.last().unwrap().actual, "mypy: exited with 2");
        let allowing = GateConfig {
            allow_backend_failure: Some(true),
            ..GateConfig::default()
        };
        assert_eq!(eval(&allowing, None, &failed).verdict, Verdict::Success);
        // The server can forbid what a repository allows, not the other way round.
        let strict_server = GateConfig {
            allow_backend_failure: Some(false),
            ..GateConfig::default()
        };
        assert_eq!(
            strict_server.tightened_by(&allowing).allow_backend_failure,
            Some(false)
        );
        assert_eq!(
            GateConfig::default()
                .tightened_by(&allowing)
                .allow_backend_failure,
            Some(true)
        );
        let a = GateConfig {
            new_suppressions: Some(2),
            ..GateConfig::default()
        };
        let b = GateConfig {
            new_suppressions: Some(5),
            ..GateConfig::default()
        };
        assert_eq!(a.tightened_by(&b).new_suppressions, Some(2));
        assert_eq!(
            GateConfig::default().tightened_by(&b).new_suppressions,
            Some(5)
        );
    }

    #[test]
    fn whole_code_conditions_say_so() {
        let mut s = score(Vec::new(), 1000);
        s.score = 50.0;
        let r = evaluate(
            &GateConfig::default(),
            &GateInput {
                new_severities: Some(&[Severity::Major]),
                whole_code: true,
                score: Some(&s),
                base_score: None,
                suppressions_added: None,
                failed_backends: &[],
            },
        );
        assert!(r
            .conditions
            .iter()
            .any(|c| c.name == "major findings (whole code)" && !c.passed));
    }

    #[test]
    fn neutral_carries_its_reason() {
        let r = neutral("no backend applies");
        assert_eq!(r.verdict, Verdict::Neutral);
        assert_eq!(r.reason.as_deref(), Some("no backend applies"));
    }
}
