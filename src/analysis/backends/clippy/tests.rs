//! Tests of the Clippy parser: captured cargo output, and the real `cargo clippy`.

use super::*;
use crate::analysis::backends::testutil::{no_panic, project};
use crate::domain::finding::{Category, Severity};
use std::process::Command;

/// Captured from `cargo clippy --all-targets --message-format=json` (Rust 1.95), trimmed of
/// `rendered` and suggestion fields; the last lines are shaped after rustc's own.
const SAMPLE: &str = r##"{"reason":"compiler-message","target":{"kind":["lib"],"name":"probe"},"message":{"children":[],"level":"warning","message":"unused variable: `unused`","spans":[{"column_end":15,"column_start":9,"expansion":null,"file_name":"src/lib.rs","is_primary":true,"line_end":10,"line_start":10}],"code":{"code":"unused_variables"}}}
{"reason":"compiler-message","target":{"kind":["lib"],"name":"probe"},"message":{"children":[{"message":"for further information visit https://rust-lang.github.io/rust-clippy/rust-1.95.0/index.html#needless_return","level":"help","code":null,"spans":[],"children":[]}],"level":"warning","message":"unneeded `return` statement","spans":[{"column_end":17,"column_start":5,"expansion":null,"file_name":"src/lib.rs","is_primary":true,"line_end":2,"line_start":2}],"code":{"code":"clippy::needless_return"}}}
{"reason":"compiler-message","target":{"kind":["lib"],"name":"probe"},"message":{"children":[{"message":"for further information visit https://rust-lang.github.io/rust-clippy/rust-1.95.0/index.html#needless_return","level":"help","code":null,"spans":[],"children":[]}],"level":"warning","message":"unneeded `return` statement","spans":[{"column_end":17,"column_start":5,"expansion":null,"file_name":"src/lib.rs","is_primary":true,"line_end":2,"line_start":2}],"code":{"code":"clippy::needless_return"}}}
{"reason":"compiler-message","target":{"kind":["lib"],"name":"probe"},"message":{"children":[],"level":"warning","message":"incorrect NaN comparison, NaN cannot be directly compared to itself","spans":[{"column_end":18,"column_start":5,"expansion":null,"file_name":"src/lib.rs","is_primary":true,"line_end":6,"line_start":6}],"code":{"code":"invalid_nan_comparisons"}}}
{"reason":"compiler-message","target":{"kind":["lib"],"name":"probe"},"message":{"children":[],"level":"error","message":"cannot find value `undefined_thing` in this scope","spans":[{"column_end":41,"column_start":26,"expansion":null,"file_name":"src/lib.rs","is_primary":true,"line_end":21,"line_start":21}],"code":{"code":"E0425"}}}
{"reason":"compiler-message","target":{"kind":["lib"],"name":"probe"},"message":{"children":[],"level":"error","message":"cannot find value `undefined_thing` in this scope","spans":[{"column_end":41,"column_start":26,"expansion":null,"file_name":"src/lib.rs","is_primary":true,"line_end":21,"line_start":21}],"code":{"code":"E0425"}}}
{"reason":"compiler-message","target":{"kind":["lib"],"name":"probe"},"message":{"children":[],"level":"error","message":"mismatched types","spans":[{"column_end":30,"column_start":27,"expansion":null,"file_name":"src/lib.rs","is_primary":true,"line_end":22,"line_start":22},{"column_end":24,"column_start":21,"expansion":null,"file_name":"src/lib.rs","is_primary":false,"line_end":22,"line_start":22}],"code":{"code":"E0308"}}}
{"reason":"compiler-message","target":{"kind":["lib"],"name":"probe"},"message":{"children":[],"level":"failure-note","message":"Some errors have detailed explanations: E0308, E0425.","spans":[],"code":null}}
{"reason":"compiler-message","target":{"kind":["lib"],"name":"probe"},"message":{"children":[],"level":"warning","message":"this comparison involving the minimum or maximum element for this type contains a case that is always true or always false","code":{"code":"clippy::absurd_extreme_comparisons"},"spans":[{"file_name":"/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/macros/mod.rs","line_start":40,"line_end":40,"column_start":9,"column_end":20,"is_primary":true,"expansion":{"span":{"file_name":"src/lib.rs","line_start":30,"line_end":30,"column_start":5,"column_end":22,"is_primary":false,"expansion":null},"macro_decl_name":"assert_eq!","def_site_span":null}}]}}
{"reason":"compiler-message","message":{"children":[],"level":"warning","message":"from a dependency","code":{"code":"dead_code"},"spans":[{"file_name":"/root/.cargo/registry/src/x/lib.rs","line_start":1,"line_end":1,"column_start":1,"column_end":2,"is_primary":true,"expansion":null}]}}
{"reason":"compiler-message","message":{"children":[],"level":"error","message":"linking with `cc` failed: exit status: 1","code":null,"spans":[]}}
{"reason":"compiler-message","message":{"children":[],"level":"error","message":"aborting due to 2 previous errors","code":null,"spans":[]}}
{"reason":"compiler-artifact","package_id":"path+file:///tmp/probe/rs#probe@0.1.0","target":{"kind":["lib"],"name":"probe"},"fresh":false}
{"reason":"build-finished","success":false}
"##;

/// rule, path, line, column, category, severity
type Summary<'a> = (&'a str, &'a str, u32, Option<u32>, Category, Severity);

#[test]
fn clippy_table() {
    use Category::*;
    use Severity::*;
    for (level, code, want) in [
        ("error", Some("E0425"), (Reliability, Blocker)),
        ("error", None, (Reliability, Blocker)),
        ("error", Some("unused_variables"), (Reliability, Blocker)),
        ("warning", Some("E0133"), (Reliability, Major)),
        ("warning", Some("clippy::eq_op"), (Reliability, Major)),
        ("error", Some("clippy::eq_op"), (Reliability, Major)),
        (
            "warning",
            Some("clippy::suspicious_map"),
            (Reliability, Major),
        ),
        (
            "warning",
            Some("clippy::await_holding_lock"),
            (Reliability, Major),
        ),
        (
            "warning",
            Some("clippy::needless_return"),
            (Maintainability, Minor),
        ),
        (
            "error",
            Some("clippy::needless_return"),
            (Maintainability, Minor),
        ),
        ("warning", Some("clippy::ptr_arg"), (Maintainability, Minor)),
        (
            "warning",
            Some("unused_variables"),
            (Maintainability, Minor),
        ),
        ("warning", Some("arithmetic_overflow"), (Reliability, Major)),
        ("warning", None, (Maintainability, Minor)),
    ] {
        assert_eq!(clippy_default(level, code), want, "{level}/{code:?}");
    }
}

#[test]
fn lint_lists_are_sorted_unique_snake_case() {
    for list in [CLIPPY_CORRECTNESS, CLIPPY_SUSPICIOUS, RUSTC_DENY_BY_DEFAULT] {
        let names: Vec<&str> = list.split_whitespace().collect();
        assert!(names.len() > 40);
        assert!(names.windows(2).all(|w| w[0] < w[1]), "not sorted/unique");
        assert!(names.iter().all(|n| n
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')));
    }
    assert_eq!(CLIPPY_CORRECTNESS.split_whitespace().count(), 68);
    assert_eq!(CLIPPY_SUSPICIOUS.split_whitespace().count(), 82);
}

#[test]
fn parses_captured_output() {
    let dir = project(&[("src/lib.rs", "")]);
    let out = parse(SAMPLE, dir.path()).unwrap();
    let got: Vec<Summary> = out
        .findings
        .iter()
        .map(|f| {
            (
                f.rule.as_str(),
                f.path.as_str(),
                f.start_line,
                f.start_column,
                f.category,
                f.severity,
            )
        })
        .collect();
    use Category::*;
    use Severity::*;
    assert_eq!(
        got,
        [
            (
                "unused_variables",
                "src/lib.rs",
                10,
                Some(9),
                Maintainability,
                Minor
            ),
            (
                "clippy::needless_return",
                "src/lib.rs",
                2,
                Some(5),
                Maintainability,
                Minor
            ),
            (
                "invalid_nan_comparisons",
                "src/lib.rs",
                6,
                Some(5),
                Maintainability,
                Minor
            ),
            ("E0425", "src/lib.rs", 21, Some(26), Reliability, Blocker),
            ("E0308", "src/lib.rs", 22, Some(27), Reliability, Blocker),
            (
                "clippy::absurd_extreme_comparisons",
                "src/lib.rs",
                30,
                Some(5),
                Reliability,
                Major
            ),
        ]
    );
    assert_eq!(out.dropped.len(), 1, "{:?}", out.dropped);
    assert_eq!(
        out.tool_errors,
        ["clippy: error: linking with `cc` failed: exit status: 1"]
    );
    let url = |i: usize| out.findings[i].help_url.as_deref().unwrap();
    assert_eq!(
        url(0),
        "https://doc.rust-lang.org/rustc/lints/listing/warn-by-default.html#unused-variables"
    );
    assert_eq!(
        url(1),
        "https://rust-lang.github.io/rust-clippy/rust-1.95.0/index.html#needless_return"
    );
    assert_eq!(url(3), "https://doc.rust-lang.org/error_codes/E0425.html");
    assert_eq!(
        url(5),
        "https://rust-lang.github.io/rust-clippy/master/index.html#absurd_extreme_comparisons"
    );
}

#[test]
fn workspace_in_a_subdirectory() {
    let dir = project(&[("rust/src/lib.rs", "")]);
    let out = parse_in_workspace(SAMPLE, dir.path(), &dir.path().join("rust")).unwrap();
    assert!(out.findings.iter().all(|f| f.path == "rust/src/lib.rs"));
}

#[test]
fn garbage_is_an_error_or_a_note() {
    let root = std::env::temp_dir();
    assert!(parse("{\"reason\": 1}", &root).is_err());
    let out = parse(
        "warning: unused manifest key\n{\"reason\":\"build-finished\",\"success\":true}",
        &root,
    )
    .unwrap();
    assert_eq!((out.findings.len(), out.tool_errors.len()), (0, 1));
}

#[test]
fn never_panics() {
    let root = std::env::temp_dir();
    no_panic(&[SAMPLE], 3000, |input| {
        let _ = parse(input, &root);
    });
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Runs the real `cargo clippy` twice on one crate, JSON and `short`, and checks that the
/// distinct diagnostics (file, line, column, message) of the short report are the findings.
fn round_trip(files: &[(&str, &str)]) -> ParseOutput {
    let dir = project(files);
    let run = |format: &str| {
        let out = Command::new(cargo())
            .args(["clippy", "--all-targets", "--offline", "--quiet"])
            .arg(format!("--message-format={format}"))
            .env("CARGO_TARGET_DIR", dir.path().join("target"))
            .current_dir(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run cargo clippy ({e}); clippy is required"));
        let text = String::from_utf8(if format == "json" {
            out.stdout
        } else {
            out.stderr
        })
        .unwrap();
        assert!(!text.contains("is not installed"), "{text}");
        text
    };
    let parsed = parse(&run("json"), dir.path()).unwrap();
    // `src/lib.rs:2:5: warning: unneeded `return` statement`
    let mut expected: Vec<String> = run("short")
        .lines()
        .filter_map(|l| {
            let mut p = l.splitn(4, ':');
            let (path, line, col) = (p.next()?, p.next()?, p.next()?);
            line.parse::<u32>().ok()?;
            let rest = p.next()?.trim();
            let message = rest.split_once(": ").map(|(_, m)| m).unwrap_or(rest);
            Some(format!("{path}|{line}|{col}|{message}"))
        })
        .collect();
    expected.sort();
    expected.dedup();
    let mut got: Vec<String> = parsed
        .findings
        .iter()
        .map(|f| {
            format!(
                "{}|{}|{}|{}",
                f.path,
                f.start_line,
                f.start_column.unwrap(),
                f.message
            )
        })
        .collect();
    got.sort();
    // The short format appends the primary span's label to the message.
    assert_eq!(got.len(), expected.len(), "{got:#?}\n{expected:#?}");
    for (g, e) in got.iter().zip(&expected) {
        assert!(e.starts_with(g.as_str()), "{g} vs {e}");
    }
    assert!(parsed.dropped.is_empty(), "{:?}", parsed.dropped);
    parsed
}

const MANIFEST: &str = "[package]\nname = \"probe\"\nversion = \"0.1.0\"\nedition = \"2021\"\n";

#[test]
fn real_clippy_warnings_round_trip() {
    let parsed = round_trip(&[
        ("Cargo.toml", MANIFEST),
        (
            "src/lib.rs",
            "pub fn f(x: i32) -> i32 {\n    return x + 1;\n}\n\n\
             pub fn g(v: &Vec<i32>) -> usize {\n    let unused = 3;\n    v.len()\n}\n\n\
             pub fn h(x: u8) -> bool {\n    x > 255 || x == x\n}\n\n\
             #[cfg(test)]\nmod tests {\n    #[test]\n    fn t() {\n        assert_eq!(super::f(1), 2);\n    }\n}\n",
        ),
    ]);
    let rules: HashSet<&str> = parsed.findings.iter().map(|f| f.rule.as_str()).collect();
    for rule in [
        "clippy::needless_return",
        "clippy::ptr_arg",
        "unused_variables",
        "clippy::eq_op",
    ] {
        assert!(rules.contains(rule), "{rule} missing from {rules:?}");
    }
    let eq_op = parsed
        .findings
        .iter()
        .find(|f| f.rule == "clippy::eq_op")
        .unwrap();
    assert_eq!(
        (eq_op.category, eq_op.severity),
        (Category::Reliability, Severity::Major)
    );
}

#[test]
fn real_compile_errors_are_blockers() {
    let parsed = round_trip(&[
        ("Cargo.toml", MANIFEST),
        ("src/lib.rs", "pub fn broken() -> i32 {\n    undefined_thing + 1\n}\n\npub fn wrong() -> i32 {\n    \"x\"\n}\n"),
    ]);
    let got: Vec<(&str, Severity)> = parsed
        .findings
        .iter()
        .map(|f| (f.rule.as_str(), f.severity))
        .collect();
    assert_eq!(
        got,
        [("E0425", Severity::Blocker), ("E0308", Severity::Blocker)]
    );
}
