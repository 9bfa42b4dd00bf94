//! Fingerprints that identify "the same finding" across commits.
//!
//! A fingerprint hashes the backend, the rule, the path, the finding's source line with its
//! whitespace collapsed, and the occurrence index among findings that share those four values in
//! the file. It never includes a line number, so unrelated edits above a finding do not make it
//! look new.

use super::finding::{Finding, RawFinding};
use std::collections::HashMap;

/// Collapses every run of whitespace into one space and trims the ends.
pub fn normalise_line(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Computes the fingerprint of one finding given its normalised source line and occurrence index.
pub fn fingerprint(
    backend: &str,
    rule: &str,
    path: &str,
    normalised_line: &str,
    occurrence: usize,
) -> String {
    with_occurrence(material(backend, rule, path, normalised_line), occurrence)
}

/// What a fingerprint hashes besides the occurrence index.
fn material(backend: &str, rule: &str, path: &str, normalised_line: &str) -> Vec<u8> {
    let mut material =
        Vec::with_capacity(backend.len() + rule.len() + path.len() + normalised_line.len() + 24);
    for part in [backend, rule, path, normalised_line] {
        material.extend_from_slice(part.as_bytes());
        // NUL cannot occur in any of the parts, so fields never run into each other.
        material.push(0);
    }
    material
}

fn with_occurrence(mut material: Vec<u8>, occurrence: usize) -> String {
    material.extend_from_slice(occurrence.to_string().as_bytes());
    let mut hex = digest_hex(&material);
    hex.truncate(32);
    hex
}

/// What identical copies of a finding share wherever they are: the backend, the rule and the
/// normalised source line (the path is compared separately, so a renamed file keeps it).
pub fn line_key(backend: &str, rule: &str, normalised_line: &str) -> String {
    let material = [backend, rule, normalised_line].join("\0");
    let mut hex = digest_hex(material.as_bytes());
    hex.truncate(24);
    hex
}

/// The SHA-256 of `bytes` in lower-case hex.
pub fn digest_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

/// `bytes` in lower-case hex. Every finding of an analysis is hashed twice, so this is written
/// out rather than formatted a byte at a time.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Fingerprints a set of raw findings.
///
/// `source_line(path, line)` returns the text of a line (1-based) of a file in the analysed
/// tree, or `None` when it cannot be read; a missing line fingerprints as the empty line.
/// The output keeps a deterministic order: by path, line, column, backend, rule.
pub fn assign<F>(mut raw: Vec<RawFinding>, mut source_line: F) -> Vec<Finding>
where
    F: FnMut(&str, u32) -> Option<String>,
{
    raw.sort_by(|a, b| {
        (
            &a.path,
            a.start_line,
            a.start_column,
            &a.backend,
            &a.rule,
            &a.message,
        )
            .cmp(&(
                &b.path,
                b.start_line,
                b.start_column,
                &b.backend,
                &b.rule,
                &b.message,
            ))
    });
    // Keyed by what the fingerprint hashes before the occurrence index: one string a finding.
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    raw.into_iter()
        .map(|f| {
            let line = source_line(&f.path, f.start_line)
                .map(|l| normalise_line(&l))
                .unwrap_or_default();
            let material = material(&f.backend, &f.rule, &f.path, &line);
            let occurrence = match seen.get_mut(&material) {
                Some(n) => {
                    *n += 1;
                    *n - 1
                }
                None => {
                    seen.insert(material.clone(), 1);
                    0
                }
            };
            let fingerprint = with_occurrence(material, occurrence);
            Finding {
                line_key: line_key(&f.backend, &f.rule, &line),
                raw: f,
                fingerprint,
                in_tests: false,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::finding::{Category, Severity};

    #[test]
    fn hex_is_lower_case_two_digits_a_byte() {
        for (bytes, want) in [
            (&[][..], ""),
            (&[0x00][..], "00"),
            (&[0x0f, 0xa0, 0xff, 0x7b][..], "0fa0ff7b"),
        ] {
            assert_eq!(hex(bytes), want);
        }
        assert_eq!(
            digest_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    fn raw(rule: &str, path: &str, line: u32) -> RawFinding {
        RawFinding {
            backend: "ruff".into(),
            rule: rule.into(),
            category: Category::Reliability,
            severity: Severity::Major,
            message: "m".into(),
            path: path.into(),
            start_line: line,
            end_line: line,
            start_column: Some(1),
            end_column: None,
            help_url: None,
            effort_minutes: 5,
        }
    }

    fn lines(text: &'static str) -> impl FnMut(&str, u32) -> Option<String> {
        move |_p, n| text.lines().nth(n as usize - 1).map(str::to_owned)
    }

    #[test]
    fn whitespace_is_collapsed() {
        assert_eq!(
            normalise_line("  x  =\t undefined_name  "),
            "x = undefined_name"
        );
    }

    #[test]
    fn shifted_finding_keeps_its_fingerprint() {
        let before = assign(vec![raw("F821", "a.py", 1)], lines("x = y\n"));
        let after = assign(
            vec![raw("F821", "a.py", 11)],
            lines("\n\n\n\n\n\n\n\n\n\n    x   =  y\n"),
        );
        assert_eq!(before[0].fingerprint, after[0].fingerprint);
    }

    #[test]
    fn each_field_changes_the_fingerprint() {
        let base = fingerprint("ruff", "F821", "a.py", "x = y", 0);
        for other in [
            fingerprint("mypy", "F821", "a.py", "x = y", 0),
            fingerprint("ruff", "F401", "a.py", "x = y", 0),
            fingerprint("ruff", "F821", "b.py", "x = y", 0),
            fingerprint("ruff", "F821", "a.py", "x = z", 0),
            fingerprint("ruff", "F821", "a.py", "x = y", 1),
            // Field boundaries matter: "ab"+"c" must differ from "a"+"bc".
            fingerprint("ruf", "fF821", "a.py", "x = y", 0),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn identical_lines_get_distinct_occurrences() {
        let found = assign(
            vec![raw("F821", "a.py", 3), raw("F821", "a.py", 1)],
            lines("x = y\npass\nx = y\n"),
        );
        assert_eq!(found[0].start_line, 1);
        assert_ne!(found[0].fingerprint, found[1].fingerprint);
        // Deleting the first copy makes the second one take its fingerprint: the count of
        // identical findings is what matters, not which copy is which.
        let later = assign(vec![raw("F821", "a.py", 2)], lines("pass\nx = y\n"));
        assert_eq!(later[0].fingerprint, found[0].fingerprint);
    }
}
