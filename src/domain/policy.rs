//! Default severity and category of each backend's rules, and per-rule overrides.
//!
//! The defaults follow DESIGN.md; a repository config or the server policy can override any rule
//! with `"backend:RULE" = { severity = "...", category = "..." }`.

use super::finding::{Category, RawFinding, Severity};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Ruff rules: syntax errors and undefined names are reliability/major, other pyflakes and
/// bugbear rules reliability/minor, flake8-bandit (`S`) rules security at their Bandit
/// equivalent's severity, everything else maintainability/minor.
pub fn ruff_default(rule: &str) -> (Category, Severity) {
    const MAJOR_PREFIXES: [&str; 4] = ["E9", "F63", "F7", "F82"];
    if rule == "invalid-syntax"
        || rule == "syntax-error"
        || MAJOR_PREFIXES.iter().any(|p| rule.starts_with(p))
    {
        return (Category::Reliability, Severity::Major);
    }
    if let Some(number) = rule.strip_prefix('S') {
        if number.chars().all(|c| c.is_ascii_digit()) && !number.is_empty() {
            return (Category::Security, bandit_equivalent_severity(number));
        }
    }
    if rule.starts_with('F') || rule.starts_with('B') {
        return (Category::Reliability, Severity::Minor);
    }
    (Category::Maintainability, Severity::Minor)
}

/// Severity of a flake8-bandit rule, taken from the Bandit test with the same number: Bandit's
/// LOW-severity tests are minor, its HIGH-severity ones critical, the rest major.
fn bandit_equivalent_severity(number: &str) -> Severity {
    const LOW: [&str; 16] = [
        "101", "105", "106", "107", "110", "112", "311", "403", "404", "405", "406", "407", "408",
        "409", "603", "607",
    ];
    const HIGH: [&str; 12] = [
        "201", "324", "501", "502", "503", "504", "505", "506", "507", "602", "605", "701",
    ];
    if LOW.contains(&number) {
        Severity::Minor
    } else if HIGH.contains(&number) {
        Severity::Critical
    } else {
        Severity::Major
    }
}

/// An override of one rule's classification; unset fields keep the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleOverride {
    pub severity: Option<Severity>,
    pub category: Option<Category>,
}

/// Overrides keyed by `backend:RULE` (for example `ruff:E501`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleOverrides(pub BTreeMap<String, RuleOverride>);

impl RuleOverrides {
    /// Applies the override for this finding's rule, if any. Later layers (repository config)
    /// are applied after earlier ones (server policy), so the last word wins.
    pub fn apply(&self, finding: &mut RawFinding) {
        let key = format!("{}:{}", finding.backend, finding.rule);
        if let Some(o) = self.0.get(&key) {
            if let Some(severity) = o.severity {
                finding.severity = severity;
            }
            if let Some(category) = o.category {
                finding.category = category;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruff_default_mapping() {
        use Category::*;
        use Severity::*;
        let table = [
            ("F821", Reliability, Major),
            ("F822", Reliability, Major),
            ("E999", Reliability, Major),
            ("F632", Reliability, Major),
            ("F701", Reliability, Major),
            ("syntax-error", Reliability, Major),
            ("invalid-syntax", Reliability, Major),
            ("F401", Reliability, Minor),
            ("F841", Reliability, Minor),
            ("B006", Reliability, Minor),
            ("S101", Security, Minor),
            ("S608", Security, Major),
            ("S602", Security, Critical),
            ("E501", Maintainability, Minor),
            ("SIM108", Maintainability, Minor),
            ("UP006", Maintainability, Minor),
            ("I001", Maintainability, Minor),
        ];
        for (rule, category, severity) in table {
            assert_eq!(ruff_default(rule), (category, severity), "rule {rule}");
        }
    }

    #[test]
    fn override_changes_only_named_fields() {
        let mut overrides = RuleOverrides::default();
        overrides.0.insert(
            "ruff:E501".into(),
            RuleOverride {
                severity: Some(Severity::Info),
                category: None,
            },
        );
        let mut f = RawFinding {
            backend: "ruff".into(),
            rule: "E501".into(),
            category: Category::Maintainability,
            severity: Severity::Minor,
            message: String::new(),
            path: "a.py".into(),
            start_line: 1,
            end_line: 1,
            start_column: None,
            end_column: None,
            help_url: None,
            effort_minutes: 0,
        };
        overrides.apply(&mut f);
        assert_eq!(f.severity, Severity::Info);
        assert_eq!(f.category, Category::Maintainability);
        f.rule = "E502".into();
        f.severity = Severity::Minor;
        overrides.apply(&mut f);
        assert_eq!(f.severity, Severity::Minor);
    }
}
