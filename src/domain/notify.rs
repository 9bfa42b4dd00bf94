//! When a channel hears about a branch: on changes of state, not on every push. A team lead
//! wants to know when the default branch starts failing its gate, when its grade drops, and
//! when it recovers — and nothing while it stays the same.

use super::gate::Verdict;
use super::score::Grade;

/// A branch's state after an analysis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BranchState {
    pub verdict: Verdict,
    /// `None` when no tool ran.
    pub grade: Option<Grade>,
    pub score: Option<f64>,
}

/// What changed, worth a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The gate passed (or gave no verdict) before and fails now.
    Failed,
    /// The gate failed before and passes now.
    Recovered,
    /// The grade fell by at least one letter while the gate's verdict stayed.
    GradeDropped,
    /// A pull request failed its gate (only when the repository asks for these).
    PullRequestFailed,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Failed => "failed",
            Transition::Recovered => "recovered",
            Transition::GradeDropped => "grade_dropped",
            Transition::PullRequestFailed => "pull_request_failed",
        }
    }

    pub fn parse(s: &str) -> Option<Transition> {
        Some(match s {
            "failed" => Transition::Failed,
            "recovered" => Transition::Recovered,
            "grade_dropped" => Transition::GradeDropped,
            "pull_request_failed" => Transition::PullRequestFailed,
            _ => return None,
        })
    }
}

/// The change from `before` (the branch's previous analysed commit, if any) to `after`.
/// Without a previous state there is no change to report: a first analysis is a baseline.
pub fn branch_transition(before: Option<&BranchState>, after: &BranchState) -> Option<Transition> {
    let before = before?;
    match (before.verdict, after.verdict) {
        (Verdict::Success | Verdict::Neutral, Verdict::Failure) => Some(Transition::Failed),
        (Verdict::Failure, Verdict::Success) => Some(Transition::Recovered),
        _ => match (before.grade, after.grade) {
            (Some(b), Some(a)) if b.at_least(a) && b != a => Some(Transition::GradeDropped),
            _ => None,
        },
    }
}

/// Whether the repository wants to hear about a pull request analysis with this verdict.
pub fn pull_request_transition(wanted: bool, verdict: Verdict) -> Option<Transition> {
    (wanted && verdict == Verdict::Failure).then_some(Transition::PullRequestFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(verdict: Verdict, grade: Option<Grade>) -> BranchState {
        BranchState {
            verdict,
            grade,
            score: None,
        }
    }

    #[test]
    fn only_changes_are_told() {
        use Grade::*;
        use Verdict::*;
        let cases = [
            (None, (Failure, Some(F)), None),
            (
                Some((Success, Some(A))),
                (Failure, Some(A)),
                Some(Transition::Failed),
            ),
            (
                Some((Neutral, None)),
                (Failure, Some(B)),
                Some(Transition::Failed),
            ),
            (Some((Failure, Some(C))), (Failure, Some(C)), None),
            (
                Some((Failure, Some(C))),
                (Failure, Some(D)),
                Some(Transition::GradeDropped),
            ),
            (
                Some((Failure, Some(C))),
                (Success, Some(C)),
                Some(Transition::Recovered),
            ),
            (
                Some((Success, Some(B))),
                (Success, Some(C)),
                Some(Transition::GradeDropped),
            ),
            (Some((Success, Some(B))), (Success, Some(A)), None),
            (Some((Success, Some(B))), (Success, Some(B)), None),
            (Some((Success, Some(B))), (Success, None), None),
            (Some((Failure, Some(B))), (Neutral, None), None),
        ];
        for (before, (verdict, grade), expected) in cases {
            let before = before.map(|(v, g)| state(v, g));
            assert_eq!(
                branch_transition(before.as_ref(), &state(verdict, grade)),
                expected,
                "{before:?} → {verdict:?} {grade:?}"
            );
        }
    }

    #[test]
    fn pull_requests_only_when_asked_and_failing() {
        assert_eq!(
            pull_request_transition(true, Verdict::Failure),
            Some(Transition::PullRequestFailed)
        );
        assert_eq!(pull_request_transition(false, Verdict::Failure), None);
        assert_eq!(pull_request_transition(true, Verdict::Success), None);
        for t in [
            Transition::Failed,
            Transition::Recovered,
            Transition::GradeDropped,
            Transition::PullRequestFailed,
        ] {
            assert_eq!(Transition::parse(t.as_str()), Some(t));
        }
    }
}
