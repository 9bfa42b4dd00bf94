//! Table tests of pairing: copies told apart by the diff, renames, moves, deletions, and the
//! fallback for findings saved without line keys.

use super::*;
use crate::domain::diffmap::{FileChange, Hunk};
use crate::domain::finding::{Category, RawFinding, Severity};
use crate::domain::fingerprint;

const ASSERT: &str = "    assert r.status_code == 200";

/// Findings of rule B101 on the given lines of `text` in `path`, fingerprinted for real.
fn findings(path: &str, text: &str, lines: &[u32]) -> Vec<Finding> {
    let raw = lines
        .iter()
        .map(|l| RawFinding {
            backend: "bandit".into(),
            rule: "B101".into(),
            category: Category::Security,
            severity: Severity::Minor,
            message: "Use of assert detected.".into(),
            path: path.into(),
            start_line: *l,
            end_line: *l,
            start_column: None,
            end_column: None,
            help_url: None,
            effort_minutes: 5,
        })
        .collect();
    fingerprint::assign(raw, |_, n| {
        text.lines().nth(n as usize - 1).map(str::to_owned)
    })
}

/// The lines of the head findings that are new, and of the base findings that are fixed.
fn outcome(head: &[Finding], base: &[Finding], diff: Option<&DiffMap>) -> (Vec<u32>, Vec<u32>) {
    let p = pair(head, base, diff);
    let new = head
        .iter()
        .zip(&p.new)
        .filter(|(_, n)| **n)
        .map(|(f, _)| f.start_line)
        .collect();
    let fixed = p.fixed.iter().map(|i| base[*i].start_line).collect();
    (new, fixed)
}

fn modified(path: &str, base_path: &str, hunks: &[(u32, u32, u32, u32)]) -> DiffMap {
    let mut m = DiffMap::new();
    m.insert(
        path,
        FileChange::Modified {
            base_path: base_path.into(),
            hunks: hunks
                .iter()
                .map(|&(old_start, old_lines, new_start, new_lines)| Hunk {
                    old_start,
                    old_lines,
                    new_start,
                    new_lines,
                })
                .collect(),
        },
    );
    m
}

#[test]
fn an_inserted_copy_is_new_on_the_line_that_was_added() {
    let base_text = format!("def test():\n{ASSERT}\n    x = 1\n{ASSERT}\n");
    let head_text = format!("{ASSERT}\n{base_text}");
    let base = findings("t.py", &base_text, &[2, 4]);
    let head = findings("t.py", &head_text, &[1, 3, 5]);
    let diff = modified("t.py", "t.py", &[(0, 0, 1, 1)]);
    assert_eq!(outcome(&head, &base, Some(&diff)), (vec![1], vec![]));
    // Fingerprints alone blame the last copy, a line the change never touched.
    assert_eq!(outcome(&head, &base, None), (vec![5], vec![]));
}

type Lines = Vec<u32>;
/// What happened; the base's text and finding lines; the head's path, text and finding lines;
/// the diff; the new and the fixed lines expected.
type Case<'a> = (
    &'a str,
    (String, Lines),
    (&'a str, String, Lines),
    DiffMap,
    (Lines, Lines),
);

#[test]
fn the_cases() {
    let two = format!("{ASSERT}\npass\n{ASSERT}\n");
    let cases: Vec<Case> = vec![
        (
            "nothing changed",
            (two.clone(), vec![1, 3]),
            ("t.py", two.clone(), vec![1, 3]),
            DiffMap::new(),
            (vec![], vec![]),
        ),
        (
            "a copy appended at the end",
            (two.clone(), vec![1, 3]),
            ("t.py", format!("{two}{ASSERT}\n"), vec![1, 3, 4]),
            modified("t.py", "t.py", &[(3, 0, 4, 1)]),
            (vec![4], vec![]),
        ),
        (
            "the first copy deleted",
            (two.clone(), vec![1, 3]),
            ("t.py", format!("pass\n{ASSERT}\n"), vec![2]),
            modified("t.py", "t.py", &[(1, 1, 0, 0)]),
            (vec![], vec![1]),
        ),
        (
            "a copy moved down (deleted above, added below)",
            (format!("{ASSERT}\na\nb\n"), vec![1]),
            ("t.py", format!("a\nb\n{ASSERT}\n"), vec![3]),
            modified("t.py", "t.py", &[(1, 1, 0, 0), (3, 0, 3, 1)]),
            (vec![], vec![]),
        ),
        (
            "the file renamed",
            (two.clone(), vec![1, 3]),
            ("tests/t.py", two.clone(), vec![1, 3]),
            modified("tests/t.py", "t.py", &[]),
            (vec![], vec![]),
        ),
        (
            "renamed with a copy inserted at the top",
            (two.clone(), vec![1, 3]),
            ("tests/t.py", format!("{ASSERT}\n{two}"), vec![1, 2, 4]),
            modified("tests/t.py", "t.py", &[(0, 0, 1, 1)]),
            (vec![1], vec![]),
        ),
        (
            // (t.py is gone from the head: its copies are fixed, the new file's are new)
            "a file added with the same lines",
            (two.clone(), vec![1, 3]),
            ("u.py", two.clone(), vec![1, 3]),
            {
                let mut m = DiffMap::new();
                m.insert("u.py", FileChange::Added);
                m
            },
            (vec![1, 3], vec![1, 3]),
        ),
    ];
    for (what, (base_text, base_lines), (path, head_text, head_lines), diff, expected) in cases {
        let base = findings("t.py", &base_text, &base_lines);
        let head = findings(path, &head_text, &head_lines);
        assert_eq!(outcome(&head, &base, Some(&diff)), expected, "{what}");
    }
}

#[test]
fn findings_saved_without_line_keys_pair_by_fingerprint() {
    let text = format!("{ASSERT}\n");
    let mut base = findings("t.py", &text, &[1]);
    base[0].line_key.clear();
    let head = findings("t.py", &format!("pass\n{text}"), &[2]);
    let diff = modified("t.py", "t.py", &[(0, 0, 1, 1)]);
    assert_eq!(outcome(&head, &base, Some(&diff)), (vec![], vec![]));
}
