//! Test code is test code: what the analysis does with findings in files the repository calls
//! tests (`[paths] tests`). An `assert` in a test is how tests are written, not a security
//! hole, and a hard-coded password in a fixture is not a leaked secret; counting them as such
//! turns healthy libraries into grade F and teaches people to ignore the security score.
//!
//! By default Bandit's B101 (`assert`) is not reported in test code, and security findings
//! there count as minor at most. Both are the repository's to change (`[tests]`), and the
//! summary says what they did.

use super::finding::{Category, RawFinding, Severity};
use serde::{Deserialize, Serialize};

/// What the repository says about findings in its test code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestCodePolicy {
    /// Rules (`backend:RULE`) not reported in test code.
    pub ignore: Vec<String>,
    /// The most severe a security finding in test code counts as.
    pub max_security_severity: Severity,
}

impl Default for TestCodePolicy {
    fn default() -> Self {
        TestCodePolicy {
            ignore: vec!["bandit:B101".into()],
            max_security_severity: Severity::Minor,
        }
    }
}

/// What the policy did, for the summary's "what was counted".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCodeCount {
    /// Analysed files that are test code.
    pub files: usize,
    /// Findings in test code not reported, by rule (`backend:RULE`).
    pub ignored: Vec<(String, usize)>,
    /// Security findings in test code whose severity was lowered.
    pub capped: usize,
    /// The cap, when any finding was lowered to it.
    pub cap: Option<Severity>,
}

impl TestCodeCount {
    /// One sentence of what was counted, or `None` when the policy changed nothing.
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.ignored.is_empty() {
            let rules: Vec<String> = self
                .ignored
                .iter()
                .map(|(rule, n)| format!("{n} × {rule}"))
                .collect();
            parts.push(format!("not reported there: {}", rules.join(", ")));
        }
        if let (n @ 1.., Some(cap)) = (self.capped, self.cap) {
            let plural = if n == 1 { "" } else { "s" };
            parts.push(format!(
                "{n} security finding{plural} there counted as {cap} at most"
            ));
        }
        if parts.is_empty() {
            return None;
        }
        let plural = if self.files == 1 { "" } else { "s" };
        Some(format!(
            "test code ({} file{plural}, `[paths] tests`): {}",
            self.files,
            parts.join("; ")
        ))
    }
}

/// Applies the policy to the findings; `in_tests(path)` says which files are test code.
pub fn apply(
    policy: &TestCodePolicy,
    findings: &mut Vec<RawFinding>,
    in_tests: impl Fn(&str) -> bool,
) -> TestCodeCount {
    let mut count = TestCodeCount::default();
    findings.retain(|f| {
        if !in_tests(&f.path) {
            return true;
        }
        let rule = format!("{}:{}", f.backend, f.rule);
        if !policy.ignore.contains(&rule) {
            return true;
        }
        match count.ignored.iter_mut().find(|(r, _)| *r == rule) {
            Some((_, n)) => *n += 1,
            None => count.ignored.push((rule, 1)),
        }
        false
    });
    count.ignored.sort();
    for f in findings.iter_mut() {
        if f.category == Category::Security
            && f.severity > policy.max_security_severity
            && in_tests(&f.path)
        {
            f.severity = policy.max_security_severity;
            count.capped += 1;
            count.cap = Some(policy.max_security_severity);
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(backend: &str, rule: &str, path: &str, category: Category, sev: Severity) -> RawFinding {
        RawFinding {
            backend: backend.into(),
            rule: rule.into(),
            category,
            severity: sev,
            message: "m".into(),
            path: path.into(),
            start_line: 1,
            end_line: 1,
            start_column: None,
            end_column: None,
            help_url: None,
            effort_minutes: 5,
        }
    }

    fn in_tests(path: &str) -> bool {
        path.starts_with("tests/")
    }

    #[test]
    fn asserts_in_tests_go_and_security_in_tests_is_capped() {
        use Category::*;
        use Severity::*;
        let mut found = vec![
            raw("bandit", "B101", "tests/test_a.py", Security, Minor),
            raw("bandit", "B101", "tests/test_b.py", Security, Minor),
            raw("bandit", "B101", "pkg/a.py", Security, Minor),
            raw("bandit", "B105", "tests/test_a.py", Security, Major),
            raw("bandit", "B602", "pkg/a.py", Security, Critical),
            raw("ruff", "F821", "tests/test_a.py", Reliability, Major),
        ];
        let count = apply(&TestCodePolicy::default(), &mut found, in_tests);
        let kept: Vec<(&str, &str, Severity)> = found
            .iter()
            .map(|f| (f.rule.as_str(), f.path.as_str(), f.severity))
            .collect();
        assert_eq!(
            kept,
            [
                ("B101", "pkg/a.py", Minor),
                ("B105", "tests/test_a.py", Minor),
                ("B602", "pkg/a.py", Critical),
                ("F821", "tests/test_a.py", Major),
            ]
        );
        assert_eq!(count.ignored, [("bandit:B101".to_owned(), 2)]);
        assert_eq!((count.capped, count.cap), (1, Some(Minor)));
        let counted = TestCodeCount { files: 2, ..count };
        assert_eq!(
            counted.describe().as_deref(),
            Some("test code (2 files, `[paths] tests`): not reported there: 2 × bandit:B101; 1 security finding there counted as minor at most")
        );
    }

    #[test]
    fn a_policy_can_report_everything() {
        let policy = TestCodePolicy {
            ignore: Vec::new(),
            max_security_severity: Severity::Blocker,
        };
        let mut found = vec![raw(
            "bandit",
            "B101",
            "tests/t.py",
            Category::Security,
            Severity::Major,
        )];
        let count = apply(&policy, &mut found, in_tests);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].severity, Severity::Major);
        assert_eq!(count.describe(), None);
    }
}
