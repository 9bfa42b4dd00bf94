//! How a change moved the lines of each file: for every line of the head, the line it was in
//! the base, or nothing when the change added (or rewrote) it. Renamed files keep their base
//! path. Built from git's hunks (see `git::diff`); used to pair findings and to find the
//! lines a change touched.

use std::collections::BTreeMap;

/// One hunk of a zero-context diff: `old_lines` lines at `old_start` in the base became
/// `new_lines` lines at `new_start` in the head. As in git, a start is the line *before* the
/// hunk when its side has no lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hunk {
    pub old_start: u32,
    pub old_lines: u32,
    pub new_start: u32,
    pub new_lines: u32,
}

/// What the change did to one head file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    /// The file is new: nothing in it comes from the base.
    Added,
    /// The file existed in the base at `base_path` (another path when renamed); the hunks, in
    /// order, are what changed.
    Modified { base_path: String, hunks: Vec<Hunk> },
}

/// Every head file the change touched; a file not listed is unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffMap {
    files: BTreeMap<String, FileChange>,
}

impl DiffMap {
    pub fn new() -> DiffMap {
        DiffMap::default()
    }

    pub fn insert(&mut self, head_path: impl Into<String>, change: FileChange) {
        if let FileChange::Modified { hunks, .. } = &change {
            debug_assert!(hunks.windows(2).all(|w| w[0].new_start <= w[1].new_start));
        }
        self.files.insert(head_path.into(), change);
    }

    /// The path a head file had in the base; `None` when the change added it.
    pub fn base_path<'a>(&'a self, head_path: &'a str) -> Option<&'a str> {
        match self.files.get(head_path) {
            None => Some(head_path),
            Some(FileChange::Added) => None,
            Some(FileChange::Modified { base_path, .. }) => Some(base_path),
        }
    }

    /// Where a head line was in the base (path and line); `None` when the change added or
    /// rewrote the line, or added the whole file.
    pub fn base_location<'a>(&'a self, head_path: &'a str, line: u32) -> Option<(&'a str, u32)> {
        match self.files.get(head_path) {
            None => Some((head_path, line)),
            Some(FileChange::Added) => None,
            Some(FileChange::Modified { base_path, hunks }) => {
                base_line(hunks, line).map(|l| (base_path.as_str(), l))
            }
        }
    }

    /// Whether the change added or rewrote any of the head lines `start..=end` of a file.
    pub fn touches(&self, head_path: &str, start: u32, end: u32) -> bool {
        match self.files.get(head_path) {
            None => false,
            Some(FileChange::Added) => true,
            Some(FileChange::Modified { hunks, .. }) => hunks.iter().any(|h| {
                h.new_lines > 0 && h.new_start <= end && h.new_start + h.new_lines > start
            }),
        }
    }
}

/// The base line of a head line given a file's hunks, or `None` inside an added range.
fn base_line(hunks: &[Hunk], line: u32) -> Option<u32> {
    let mut shift: i64 = 0;
    for h in hunks {
        if h.new_lines > 0 && (h.new_start..h.new_start + h.new_lines).contains(&line) {
            return None;
        }
        // A hunk lies before the line when it ends above it (a pure deletion sits after
        // `new_start`).
        let before = if h.new_lines == 0 {
            h.new_start < line
        } else {
            h.new_start + h.new_lines <= line
        };
        if before {
            shift += i64::from(h.old_lines) - i64::from(h.new_lines);
        }
    }
    u32::try_from(i64::from(line) + shift)
        .ok()
        .filter(|l| *l > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hunk(old_start: u32, old_lines: u32, new_start: u32, new_lines: u32) -> Hunk {
        Hunk {
            old_start,
            old_lines,
            new_start,
            new_lines,
        }
    }

    fn modified(hunks: Vec<Hunk>) -> DiffMap {
        let mut m = DiffMap::new();
        m.insert(
            "a.py",
            FileChange::Modified {
                base_path: "a.py".into(),
                hunks,
            },
        );
        m
    }

    #[test]
    fn lines_map_through_insertions_deletions_and_rewrites() {
        // Each case: hunks, then (head line, base line) pairs.
        type Lines = Vec<(u32, Option<u32>)>;
        let cases: Vec<(Vec<Hunk>, Lines)> = vec![
            // One line inserted at the top.
            (
                vec![hunk(0, 0, 1, 1)],
                vec![(1, None), (2, Some(1)), (10, Some(9))],
            ),
            // Two lines inserted after line 3.
            (
                vec![hunk(3, 0, 4, 2)],
                vec![(3, Some(3)), (4, None), (5, None), (6, Some(4))],
            ),
            // Lines 2–3 deleted: head line 2 is base line 4.
            (vec![hunk(2, 2, 1, 0)], vec![(1, Some(1)), (2, Some(4))]),
            // Line 5 rewritten as two lines.
            (
                vec![hunk(5, 1, 5, 2)],
                vec![(4, Some(4)), (5, None), (6, None), (7, Some(6))],
            ),
            // Several hunks add up.
            (
                vec![hunk(0, 0, 1, 1), hunk(4, 2, 4, 0), hunk(9, 0, 9, 3)],
                vec![
                    (2, Some(1)),
                    (4, Some(3)),
                    (5, Some(6)),
                    (8, Some(9)),
                    (9, None),
                    (12, Some(10)),
                ],
            ),
        ];
        for (hunks, lines) in cases {
            let m = modified(hunks.clone());
            for (head, base) in lines {
                assert_eq!(
                    m.base_location("a.py", head).map(|(_, l)| l),
                    base,
                    "{hunks:?} line {head}"
                );
            }
        }
    }

    #[test]
    fn unchanged_added_and_renamed_files() {
        let mut m = DiffMap::new();
        m.insert("new.py", FileChange::Added);
        m.insert(
            "pkg/moved.py",
            FileChange::Modified {
                base_path: "old.py".into(),
                hunks: vec![],
            },
        );
        assert_eq!(m.base_location("same.py", 7), Some(("same.py", 7)));
        assert_eq!(m.base_location("new.py", 1), None);
        assert_eq!(m.base_path("new.py"), None);
        assert_eq!(m.base_location("pkg/moved.py", 3), Some(("old.py", 3)));
        assert!(m.touches("new.py", 5, 5));
        assert!(!m.touches("same.py", 1, 100));
    }

    #[test]
    fn touches_follows_the_added_ranges() {
        let m = modified(vec![hunk(3, 0, 4, 2), hunk(9, 1, 10, 0)]);
        assert!(m.touches("a.py", 5, 5));
        assert!(m.touches("a.py", 1, 4));
        assert!(!m.touches("a.py", 6, 9));
        assert!(
            !m.touches("a.py", 10, 10),
            "a deletion touches no head line"
        );
    }
}
