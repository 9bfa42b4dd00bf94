//! A small glob matcher for `paths.exclude` in the repository config.
//!
//! Patterns use `/` separators and follow `.gitignore` habits, since that is what people
//! write in such lists: `*` matches within one path segment, `?` one character of it, `**`
//! (as a whole segment) any number of segments; everything else is literal (no `[...]`
//! classes). A pattern without `/` matches at any depth (`*.pyc`); one with a `/` is anchored at
//! the repository root (a leading `/` is allowed). A pattern that matches a directory
//! excludes everything under it, and a trailing `/` means "this directory" (`vendor/`).

/// One compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    segments: Vec<String>,
}

impl Glob {
    /// Compiles a pattern; refuses ones that could never match a repository path.
    pub fn new(pattern: &str) -> Result<Glob, String> {
        let trimmed = pattern.trim_end_matches('/');
        if trimmed.is_empty() {
            return Err(format!("`{pattern}` is empty"));
        }
        if pattern.contains('\\') {
            return Err(format!("`{pattern}`: use `/` as the path separator"));
        }
        let anchored = trimmed.contains('/');
        let body = trimmed.strip_prefix('/').unwrap_or(trimmed);
        let mut segments: Vec<String> = Vec::new();
        if !anchored {
            segments.push("**".to_owned());
        }
        for s in body.split('/') {
            match s {
                "" => return Err(format!("`{pattern}` has an empty path segment")),
                "." | ".." => return Err(format!("`{pattern}`: `.` and `..` are not allowed")),
                // Consecutive `**` mean the same as one; keeping one keeps matching linear.
                "**" if segments.last().is_some_and(|l| l == "**") => {}
                _ => segments.push(s.to_owned()),
            }
        }
        Ok(Glob { segments })
    }

    /// Whether `path` (repository-relative, `/`-separated) or one of its parent directories
    /// matches.
    pub fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        // reach[j]: the pattern so far can consume exactly the first j path segments.
        let mut reach = vec![false; parts.len() + 1];
        reach[0] = true;
        for seg in &self.segments {
            let mut next = vec![false; parts.len() + 1];
            if seg == "**" {
                let mut on = false;
                for j in 0..=parts.len() {
                    on |= reach[j];
                    next[j] = on;
                }
            } else {
                for j in 0..parts.len() {
                    if reach[j] && segment_matches(seg, parts[j]) {
                        next[j + 1] = true;
                    }
                }
            }
            reach = next;
        }
        // Any prefix of the path that matches is an excluded directory (or the file itself).
        reach.iter().skip(1).any(|r| *r)
    }
}

/// Any of several patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobSet(Vec<Glob>);

impl GlobSet {
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<GlobSet, String> {
        patterns
            .iter()
            .map(|p| Glob::new(p.as_ref()))
            .collect::<Result<_, _>>()
            .map(GlobSet)
    }

    pub fn is_match(&self, path: &str) -> bool {
        self.0.iter().any(|g| g.matches(path))
    }
}

/// `*` and `?` within one segment; the classic two-pointer match with one backtrack point,
/// linear in practice and never exponential.
fn segment_matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &str, bool)] = &[
            ("migrations/**", "migrations/0001_init.py", true),
            ("migrations/**", "migrations/a/b/c.py", true),
            ("migrations/**", "app/migrations/0001.py", false),
            ("migrations/**", "migrations", true),
            ("**/migrations/**", "app/migrations/0001.py", true),
            ("vendor/", "vendor/lib/x.go", true),
            ("vendor", "src/vendor/x.go", true),
            ("vendor", "vendors/x.go", false),
            ("*.pyc", "a/b/c.pyc", true),
            ("*.pyc", "a/b/c.py", false),
            ("/setup.py", "setup.py", true),
            ("/setup.py", "pkg/setup.py", false),
            ("src/*.rs", "src/main.rs", true),
            ("src/*.rs", "src/bin/main.rs", false),
            ("src/**/*.rs", "src/main.rs", true),
            ("src/**/*.rs", "src/a/b/main.rs", true),
            ("src/**/test_*.py", "src/a/test_x.py", true),
            ("src/**/test_*.py", "src/a/x_test.py", false),
            ("a?c/x", "abc/x", true),
            ("a?c/x", "ac/x", false),
            ("a?c/x", "a/c/x", false),
            ("*_pb2.py", "proto/gen/foo_pb2.py", true),
            ("docs/*", "docs/a/b.md", true),
            ("**", "anything/at/all", true),
            ("a/**/**/b", "a/b", true),
            ("ü*/x", "ünïcode/x", true),
            ("[ab].py", "[ab].py", true),
            ("[ab].py", "a.py", false),
        ];
        for (pattern, path, want) in cases {
            let g = Glob::new(pattern).unwrap();
            assert_eq!(g.matches(path), *want, "{pattern} vs {path}");
        }
    }

    #[test]
    fn bad_patterns_are_refused() {
        for p in ["", "/", "a//b", "../x", "a/./b", "a\\b"] {
            assert!(Glob::new(p).is_err(), "{p:?}");
        }
    }

    #[test]
    fn set_matches_any() {
        let set = GlobSet::new(&["migrations/**", "*.min.js"]).unwrap();
        assert!(set.is_match("web/app.min.js"));
        assert!(set.is_match("migrations/x.sql"));
        assert!(!set.is_match("src/app.js"));
        assert!(!GlobSet::default().is_match("x"));
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let g = Glob::new(&format!("{}b", "*a".repeat(30))).unwrap();
        let path = "a".repeat(200);
        let start = std::time::Instant::now();
        assert!(!g.matches(&path));
        let deep = Glob::new(&"**/a".repeat(20)).unwrap();
        assert!(deep.matches(&vec!["a"; 300].join("/")));
        assert!(start.elapsed().as_secs() < 2);
    }
}
