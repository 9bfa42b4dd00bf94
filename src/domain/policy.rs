//! Per-rule overrides of the default severity and category each backend gives its findings.
//!
//! A repository config or the server policy can override any rule with
//! `"backend:RULE" = { severity = "...", category = "..." }`.

use super::finding::{Category, RawFinding, Severity};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
        if self.0.is_empty() {
            return;
        }
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
