//! Findings: what every analysis backend's output is normalised into.
//!
//! A backend parser produces [`RawFinding`]s; [`crate::domain::fingerprint`] turns them into
//! [`Finding`]s once the source lines are known.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How bad a finding is. Ordered from least to most severe, so `>=` reads naturally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Minor,
    Major,
    Critical,
    Blocker,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Blocker,
        Severity::Critical,
        Severity::Major,
        Severity::Minor,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Minor => "minor",
            Severity::Major => "major",
            Severity::Critical => "critical",
            Severity::Blocker => "blocker",
        }
    }

    /// How many of `severities` are of each severity, in the order of [`Severity::ALL`].
    pub fn counts(severities: impl Iterator<Item = Severity>) -> [usize; 5] {
        let mut counts = [0; 5];
        for s in severities {
            let i = Severity::ALL.iter().position(|x| *x == s).unwrap_or(4);
            counts[i] += 1;
        }
        counts
    }

    /// One step less severe (used when a tool says it is not confident).
    pub fn lowered(self) -> Severity {
        match self {
            Severity::Blocker => Severity::Critical,
            Severity::Critical => Severity::Major,
            Severity::Major => Severity::Minor,
            Severity::Minor | Severity::Info => Severity::Info,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "info" => Ok(Severity::Info),
            "minor" => Ok(Severity::Minor),
            "major" => Ok(Severity::Major),
            "critical" => Ok(Severity::Critical),
            "blocker" => Ok(Severity::Blocker),
            other => Err(format!(
                "unknown severity `{other}` (expected info, minor, major, critical or blocker)"
            )),
        }
    }
}

/// What kind of quality a finding is about; the score deducts per category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Security,
    Reliability,
    Maintainability,
}

impl Category {
    pub const ALL: [Category; 3] = [
        Category::Security,
        Category::Reliability,
        Category::Maintainability,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Security => "security",
            Category::Reliability => "reliability",
            Category::Maintainability => "maintainability",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "security" => Ok(Category::Security),
            "reliability" => Ok(Category::Reliability),
            "maintainability" => Ok(Category::Maintainability),
            other => Err(format!(
                "unknown category `{other}` (expected security, reliability or maintainability)"
            )),
        }
    }
}

/// A finding as a backend parser reports it, before it is fingerprinted.
///
/// `path` is relative to the repository root with `/` separators; lines and columns start at 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawFinding {
    pub backend: String,
    pub rule: String,
    pub category: Category,
    pub severity: Severity,
    pub message: String,
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub start_column: Option<u32>,
    pub end_column: Option<u32>,
    pub help_url: Option<String>,
    pub effort_minutes: u32,
}

/// A normalised finding with its stable fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    #[serde(flatten)]
    pub raw: RawFinding,
    pub fingerprint: String,
    /// The fingerprint without the path and the occurrence index: findings of one file that
    /// share it are interchangeable copies, paired with the base by the diff's line map.
    /// Empty for findings saved before it existed (they pair by fingerprint alone).
    #[serde(skip)]
    pub line_key: String,
    /// The finding is in test code (`[paths] tests`).
    #[serde(default)]
    pub in_tests: bool,
}

impl std::ops::Deref for Finding {
    type Target = RawFinding;
    fn deref(&self) -> &RawFinding {
        &self.raw
    }
}

/// Default remediation effort by severity, in minutes, when a tool gives none.
pub fn default_effort_minutes(severity: Severity) -> u32 {
    match severity {
        Severity::Info => 0,
        Severity::Minor => 5,
        Severity::Major => 15,
        Severity::Critical => 30,
        Severity::Blocker => 60,
    }
}
