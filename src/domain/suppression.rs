//! Inline suppressions a change adds: `# noqa`, `# nosec`, `# type: ignore`, `# nosemgrep`,
//! `#[allow(clippy::…)]` and their file- and crate-wide forms.
//!
//! A pull request cannot change the configuration it is judged by, but it can still silence a
//! finding on its own lines. Existing suppressions keep working; the ones a change adds are
//! counted, listed in the summary and can be gated (`[gate] new_suppressions`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SuppressionKind {
    /// `# noqa`, `# noqa: E501`, `# ruff: noqa` (Ruff, flake8).
    Noqa,
    /// `# nosec`, `# nosec B101` (Bandit).
    Nosec,
    /// `# type: ignore`, `# type: ignore[code]` (MyPy).
    TypeIgnore,
    /// `# mypy: ignore-errors` (MyPy, whole file).
    MypyIgnoreErrors,
    /// `nosemgrep` in a comment (Semgrep).
    Nosemgrep,
    /// `#[allow(clippy::…)]`, `#[expect(clippy::…)]`, or any crate-wide `#![allow(…)]`.
    RustAllow,
}

impl SuppressionKind {
    pub fn label(self) -> &'static str {
        match self {
            SuppressionKind::Noqa => "# noqa",
            SuppressionKind::Nosec => "# nosec",
            SuppressionKind::TypeIgnore => "# type: ignore",
            SuppressionKind::MypyIgnoreErrors => "# mypy: ignore-errors",
            SuppressionKind::Nosemgrep => "nosemgrep",
            SuppressionKind::RustAllow => "#[allow(…)]",
        }
    }
}

/// One suppression on a line a change added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    pub path: String,
    pub line: u32,
    pub kind: SuppressionKind,
}

/// A line a change added: path, 1-based line number in the new version, text.
pub type AddedLine = (String, u32, String);

/// The suppressions on the lines a change added, in the order of the lines.
pub fn added(lines: &[AddedLine]) -> Vec<Suppression> {
    let mut out = Vec::new();
    for (path, line, text) in lines {
        for kind in kinds_in(path, text) {
            out.push(Suppression {
                path: path.clone(),
                line: *line,
                kind,
            });
        }
    }
    out
}

/// The suppressions one line carries.
pub fn kinds_in(path: &str, text: &str) -> Vec<SuppressionKind> {
    let mut kinds = Vec::new();
    let rust = path.ends_with(".rs");
    if rust {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let attribute = compact.starts_with("#[allow(")
            || compact.starts_with("#[expect(")
            || compact.starts_with("#![expect(")
            || compact.contains("#[allow(clippy::")
            || compact.contains("#[expect(clippy::");
        if (attribute && compact.contains("clippy::")) || compact.starts_with("#![allow(") {
            kinds.push(SuppressionKind::RustAllow);
        }
        if let Some(comment) = text.find("//").map(|i| &text[i..]) {
            if comment.to_ascii_lowercase().contains("nosemgrep") {
                kinds.push(SuppressionKind::Nosemgrep);
            }
        }
        return kinds;
    }
    // Python and other `#`-comment languages: look at the comment only.
    let Some(start) = text.find('#') else {
        return kinds;
    };
    let comment = text[start..].to_ascii_lowercase();
    let words: String = comment.split_whitespace().collect::<Vec<_>>().join(" ");
    if words.contains("noqa") {
        kinds.push(SuppressionKind::Noqa);
    }
    if words.contains("nosec") {
        kinds.push(SuppressionKind::Nosec);
    }
    if words.contains("type: ignore") || words.contains("type:ignore") {
        kinds.push(SuppressionKind::TypeIgnore);
    }
    if words.contains("mypy: ignore-errors") || words.contains("mypy:ignore-errors") {
        kinds.push(SuppressionKind::MypyIgnoreErrors);
    }
    if words.contains("nosemgrep") {
        kinds.push(SuppressionKind::Nosemgrep);
    }
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;
    use SuppressionKind::*;

    #[test]
    fn markers_are_recognised_where_tools_read_them() {
        for (path, text, want) in [
            ("a.py", "import os  # noqa", vec![Noqa]),
            ("a.py", "import os  # noqa: F401", vec![Noqa]),
            ("a.py", "# ruff: noqa", vec![Noqa]),
            ("a.py", "x = y  # NOQA", vec![Noqa]),
            (
                "a.py",
                "subprocess.call(c, shell=True)  # nosec B602",
                vec![Nosec],
            ),
            (
                "a.py",
                "x: int = 'a'  # type: ignore[assignment]",
                vec![TypeIgnore],
            ),
            ("a.py", "x = 1  # type:ignore", vec![TypeIgnore]),
            ("a.py", "# mypy: ignore-errors", vec![MypyIgnoreErrors]),
            ("a.py", "eval(x)  # nosemgrep: python.eval", vec![Nosemgrep]),
            (
                "a.py",
                "x = 1  # noqa  # type: ignore",
                vec![Noqa, TypeIgnore],
            ),
            // Not a comment: a string that mentions a marker.
            ("a.py", "s = 'noqa'", vec![]),
            ("a.py", "x = 1", vec![]),
            (
                "lib.rs",
                "#[allow(clippy::needless_return)]",
                vec![RustAllow],
            ),
            ("lib.rs", "    #[expect(clippy::eq_op)]", vec![RustAllow]),
            ("lib.rs", "#![allow(warnings)]", vec![RustAllow]),
            ("lib.rs", "#![allow(clippy::all)]", vec![RustAllow]),
            ("lib.rs", "#[allow(dead_code)]", vec![]),
            ("lib.rs", "let x = 1; // nosemgrep", vec![Nosemgrep]),
            ("lib.rs", "let s = \"# noqa\";", vec![]),
        ] {
            assert_eq!(kinds_in(path, text), want, "{path}: {text}");
        }
    }

    #[test]
    fn added_lines_give_located_suppressions() {
        let lines = vec![
            ("a.py".to_owned(), 3, "import os  # noqa".to_owned()),
            ("a.py".to_owned(), 4, "print(1)".to_owned()),
            ("b.rs".to_owned(), 1, "#![allow(clippy::all)]".to_owned()),
        ];
        let found = added(&lines);
        assert_eq!(
            found,
            vec![
                Suppression {
                    path: "a.py".into(),
                    line: 3,
                    kind: Noqa
                },
                Suppression {
                    path: "b.rs".into(),
                    line: 1,
                    kind: RustAllow
                }
            ]
        );
    }
}
