//! The score and grade of a commit: deterministic and explainable.
//!
//! Each finding costs points by severity; each category's deduction is its points divided by the
//! code size in thousands of lines (at least 1); the score is 100 minus the three deductions.
//! The grade follows the score, capped by the worst open security finding.

use super::finding::{Category, Severity};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

pub fn points(severity: Severity) -> f64 {
    match severity {
        Severity::Blocker => 10.0,
        Severity::Critical => 5.0,
        Severity::Major => 2.0,
        Severity::Minor => 0.5,
        Severity::Info => 0.0,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Grade {
    A,
    B,
    C,
    D,
    F,
}

impl Grade {
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::A => "A",
            Grade::B => "B",
            Grade::C => "C",
            Grade::D => "D",
            Grade::F => "F",
        }
    }

    pub fn from_score(score: f64) -> Grade {
        if score >= 90.0 {
            Grade::A
        } else if score >= 80.0 {
            Grade::B
        } else if score >= 70.0 {
            Grade::C
        } else if score >= 60.0 {
            Grade::D
        } else {
            Grade::F
        }
    }

    /// True when `self` is at least as good as `other` (A is best).
    pub fn at_least(self, other: Grade) -> bool {
        self <= other
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Grade {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "A" => Ok(Grade::A),
            "B" => Ok(Grade::B),
            "C" => Ok(Grade::C),
            "D" => Ok(Grade::D),
            "F" => Ok(Grade::F),
            other => Err(format!(
                "unknown grade `{other}` (expected A, B, C, D or F)"
            )),
        }
    }
}

/// The score with how it was reached, for the check summary and PR comment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub score: f64,
    pub grade: Grade,
    pub security: f64,
    pub reliability: f64,
    pub maintainability: f64,
    pub ncloc: u64,
    /// The grade the score alone would give, when a security finding capped it lower.
    pub uncapped_grade: Grade,
}

fn one_decimal(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Scores a set of open findings, given as (category, severity) pairs, for `ncloc` lines of code.
pub fn score<I>(findings: I, ncloc: u64) -> Score
where
    I: IntoIterator<Item = (Category, Severity)>,
{
    let size = (ncloc.max(1000) as f64) / 1000.0;
    let (mut security, mut reliability, mut maintainability) = (0.0, 0.0, 0.0);
    let mut worst_security: Option<Severity> = None;
    for (category, severity) in findings {
        let p = points(severity);
        match category {
            Category::Security => {
                security += p;
                worst_security = worst_security.max(Some(severity));
            }
            Category::Reliability => reliability += p,
            Category::Maintainability => maintainability += p,
        }
    }
    let (security, reliability, maintainability) = (
        one_decimal(security / size),
        one_decimal(reliability / size),
        one_decimal(maintainability / size),
    );
    let score = one_decimal((100.0 - security - reliability - maintainability).max(0.0));
    let uncapped_grade = Grade::from_score(score);
    let cap = match worst_security {
        Some(Severity::Blocker) => Grade::F,
        Some(Severity::Critical) => Grade::D,
        _ => Grade::A,
    };
    Score {
        score,
        grade: uncapped_grade.max(cap),
        security,
        reliability,
        maintainability,
        ncloc,
        uncapped_grade,
    }
}

/// Why the grade is lower than the score alone gives, when it is: "grade D: capped by 1 open
/// critical security finding; the score alone would be B".
pub fn cap_explanation<I>(s: &Score, findings: I) -> Option<String>
where
    I: IntoIterator<Item = (Category, Severity)>,
{
    if s.grade == s.uncapped_grade {
        return None;
    }
    let capping = if s.grade == Grade::F {
        Severity::Blocker
    } else {
        Severity::Critical
    };
    let n = findings
        .into_iter()
        .filter(|(c, sev)| *c == Category::Security && *sev == capping)
        .count();
    let plural = if n == 1 { "" } else { "s" };
    Some(format!(
        "grade {}: capped by {n} open {capping} security finding{plural}; the score alone would be {}",
        s.grade, s.uncapped_grade
    ))
}

/// How a language writes comments, for counting lines of code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentStyle {
    /// `#` line comments (Python, shell, YAML, TOML, Ruby…).
    Hash,
    /// `//` line comments and `/* … */` blocks (Rust, C, Go, Java, JavaScript…).
    CLike,
    /// Unknown: both line markers count as comments, blocks count as code.
    Generic,
}

impl CommentStyle {
    /// The style of a file, from its name.
    pub fn of(path: &str) -> CommentStyle {
        let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        match ext {
            "py" | "pyi" | "sh" | "bash" | "rb" | "pl" | "yml" | "yaml" | "toml" | "r" => {
                CommentStyle::Hash
            }
            "rs" | "c" | "h" | "cc" | "cpp" | "hpp" | "go" | "java" | "kt" | "js" | "jsx"
            | "ts" | "tsx" | "cs" | "swift" | "scala" | "php" => CommentStyle::CLike,
            _ => CommentStyle::Generic,
        }
    }
}

/// Counts non-blank, non-comment lines of a file in the given comment style.
pub fn ncloc_with(source: &str, style: CommentStyle) -> u64 {
    let mut in_block = false;
    let mut count = 0;
    for line in source.lines().map(str::trim) {
        if in_block {
            if let Some(end) = line.find("*/") {
                in_block = false;
                if !line[end + 2..].trim().is_empty() {
                    count += 1;
                }
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let comment = match style {
            CommentStyle::Hash => line.starts_with('#'),
            CommentStyle::CLike => {
                if line.starts_with("/*") {
                    in_block = !line.contains("*/");
                    true
                } else {
                    line.starts_with("//")
                }
            }
            CommentStyle::Generic => line.starts_with('#') || line.starts_with("//"),
        };
        if !comment {
            count += 1;
        }
    }
    count
}

/// Counts non-blank, non-comment lines of a file, in the comment style its name implies.
pub fn ncloc(path: &str, source: &str) -> u64 {
    ncloc_with(source, CommentStyle::of(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Category::*;
    use Severity::*;

    #[test]
    fn score_table() {
        struct Case {
            findings: Vec<(Category, Severity)>,
            ncloc: u64,
            score: f64,
            grade: Grade,
        }
        let cases = [
            Case {
                findings: vec![],
                ncloc: 0,
                score: 100.0,
                grade: Grade::A,
            },
            Case {
                findings: vec![(Reliability, Major)],
                ncloc: 10,
                score: 98.0,
                grade: Grade::A,
            },
            // Size only counts above 1,000 lines: 4,000 lines divide the points by 4.
            Case {
                findings: vec![(Reliability, Major); 10],
                ncloc: 4000,
                score: 95.0,
                grade: Grade::A,
            },
            Case {
                findings: vec![(Maintainability, Minor); 31],
                ncloc: 500,
                score: 84.5,
                grade: Grade::B,
            },
            Case {
                findings: vec![(Reliability, Info); 100],
                ncloc: 500,
                score: 100.0,
                grade: Grade::A,
            },
            Case {
                findings: vec![(Reliability, Blocker); 11],
                ncloc: 500,
                score: 0.0,
                grade: Grade::F,
            },
            // A critical security finding caps the grade at D even with a high score.
            Case {
                findings: vec![(Security, Critical)],
                ncloc: 1000,
                score: 95.0,
                grade: Grade::D,
            },
            // A blocker caps at F.
            Case {
                findings: vec![(Security, Blocker)],
                ncloc: 10_000,
                score: 99.0,
                grade: Grade::F,
            },
            // A critical reliability finding does not cap.
            Case {
                findings: vec![(Reliability, Critical)],
                ncloc: 1000,
                score: 95.0,
                grade: Grade::A,
            },
            Case {
                findings: vec![(Security, Major); 5],
                ncloc: 1000,
                score: 90.0,
                grade: Grade::A,
            },
            Case {
                findings: vec![(Security, Major); 6],
                ncloc: 1000,
                score: 88.0,
                grade: Grade::B,
            },
            Case {
                findings: vec![(Reliability, Minor); 3],
                ncloc: 3000,
                score: 99.5,
                grade: Grade::A,
            },
        ];
        for (i, c) in cases.into_iter().enumerate() {
            let s = score(c.findings, c.ncloc);
            assert_eq!((s.score, s.grade), (c.score, c.grade), "case {i}");
        }
    }

    #[test]
    fn deductions_are_reported_per_category() {
        let s = score(
            vec![
                (Security, Major),
                (Reliability, Minor),
                (Maintainability, Critical),
            ],
            2000,
        );
        assert_eq!(
            (s.security, s.reliability, s.maintainability),
            (1.0, 0.3, 2.5)
        );
        assert_eq!(s.score, 96.2);
    }

    #[test]
    fn a_capped_grade_says_why() {
        let findings = vec![(Security, Critical), (Maintainability, Minor)];
        let s = score(findings.clone(), 1000);
        assert_eq!((s.grade, s.uncapped_grade), (Grade::D, Grade::A));
        assert_eq!(
            cap_explanation(&s, findings).as_deref(),
            Some("grade D: capped by 1 open critical security finding; the score alone would be A")
        );
        let blockers = vec![(Security, Blocker), (Security, Blocker)];
        let s = score(blockers.clone(), 100_000);
        assert_eq!(
            cap_explanation(&s, blockers).as_deref(),
            Some("grade F: capped by 2 open blocker security findings; the score alone would be A")
        );
        let clean = score(vec![(Reliability, Major)], 1000);
        assert_eq!(cap_explanation(&clean, vec![(Reliability, Major)]), None);
    }

    #[test]
    fn grade_boundaries() {
        for (score, grade) in [
            (100.0, Grade::A),
            (90.0, Grade::A),
            (89.9, Grade::B),
            (80.0, Grade::B),
            (79.9, Grade::C),
            (70.0, Grade::C),
            (60.0, Grade::D),
            (59.9, Grade::F),
            (0.0, Grade::F),
        ] {
            assert_eq!(Grade::from_score(score), grade, "score {score}");
        }
    }

    #[test]
    fn ncloc_skips_blanks_and_comments_per_language() {
        for (path, text, want) in [
            ("a.py", "import os\n\n# c\nx = 1  # trailing\n", 2),
            // `//` is floor division in Python, not a comment.
            ("a.py", "x = 7\n  // 2\n", 2),
            (
                "lib.rs",
                "// c\n/// doc\nfn f() {}\n/* a\n b */\n/* one */\nlet x = 1; /* t */\n",
                2,
            ),
            ("lib.rs", "/* a\n*/ fn g() {}\n", 1),
            ("notes.txt", "# heading\n// x\ntext\n", 1),
        ] {
            assert_eq!(ncloc(path, text), want, "{path}: {text:?}");
        }
    }
}
