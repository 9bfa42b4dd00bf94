//! Tests of the repository config: valid files, each kind of error with its line, the file
//! choice, and no panic on arbitrary input.

use super::*;
use crate::analysis::backends::bandit::BanditOptions;
use crate::analysis::backends::mypy::MypyOptions;
use crate::analysis::backends::ruff::RuffOptions;
use crate::analysis::backends::semgrep::SemgrepOptions;
use crate::analysis::backends::testutil::no_panic;
use crate::analysis::backends::typed_options;

fn opts<T: serde::de::DeserializeOwned + Default>(c: &RepoConfig, name: &str) -> Option<T> {
    c.backends.options(name).map(typed_options)
}
use std::collections::BTreeMap;

const DESIGN_EXAMPLE: &str = r#"[backends]
ruff = {}                      # enabled with defaults
mypy = { strict = true }
bandit = { skip = ["B101"] }
semgrep = { config = ["semgrep-rules/"] }   # local rule paths only

[paths]
exclude = ["migrations/**", "vendor/**"]

[gate]                         # defaults shown
new = { blocker = 0, critical = 0, major = 0 }   # allowed new findings per severity
min_score = 0
min_grade = "F"
max_score_drop = 100.0

[report]
annotate = "new"               # new | changed-lines | all
max_annotations = 1000
pr_comment = true
"#;

fn flext(text: &str) -> Result<RepoConfig, ConfigError> {
    parse_repo_config(text, ConfigSource::FlextToml)
}

#[test]
fn design_example_is_valid_and_means_what_it_says() {
    let c = flext(DESIGN_EXAMPLE).unwrap();
    assert!(c.backends.explicit);
    assert_eq!(opts(&c, "ruff"), Some(RuffOptions::default()));
    assert_eq!(
        opts(&c, "mypy"),
        Some(MypyOptions {
            strict: true,
            ignore_missing_imports: false
        })
    );
    assert_eq!(opts::<BanditOptions>(&c, "bandit").unwrap().skip, ["B101"]);
    assert_eq!(
        opts::<SemgrepOptions>(&c, "semgrep").unwrap().config,
        ["semgrep-rules/"]
    );
    assert_eq!(c.backends.options("clippy"), None, "not listed, so not run");
    assert_eq!(c.paths.exclude, ["migrations/**", "vendor/**"]);
    assert_eq!(c.gate, GateConfig::default());
    assert_eq!(c.report, ReportConfig::default());
}

#[test]
fn empty_config_is_all_defaults() {
    let c = flext("# nothing\n").unwrap();
    assert_eq!(c, RepoConfig::default());
    assert!(
        !c.backends.explicit
            && c.backends.options("clippy").is_some()
            && c.backends.options("semgrep").is_some()
    );
}

#[test]
fn test_code_is_configurable() {
    let defaults = flext("").unwrap();
    assert_eq!(defaults.paths.tests, DEFAULT_TESTS);
    assert_eq!(defaults.tests.ignore, ["bandit:B101"]);
    assert_eq!(defaults.tests.max_security_severity, Severity::Minor);
    let c = flext(
        "[paths]\ntests = [\"spec/\"]\n\n[tests]\nignore = []\nmax_security_severity = \"blocker\"\n",
    )
    .unwrap();
    assert_eq!(c.paths.tests, ["spec/"]);
    assert!(c.tests.ignore.is_empty());
    assert_eq!(c.tests.max_security_severity, Severity::Blocker);
    assert!(!c.notify.pull_request_failures);
    let n = flext("[notify]\npull_requests = \"failure\"\n").unwrap();
    assert!(n.notify.pull_request_failures);
}

#[test]
fn every_option_is_read() {
    let c = flext(
        r#"
[backends.ruff]
select = ["E", "F401", "ALL"]
ignore = ["E501"]
line_length = 120
[backends.mypy]
ignore_missing_imports = true
[backends.bandit]
severity = "medium"
[backends.clippy]
[rules]
"ruff:E501" = { severity = "info" }
"semgrep:rules.md5" = { category = "security", severity = "critical" }
[gate]
new = { minor = 10, blocker = 1 }
min_score = 72.5
min_grade = "B"
max_score_drop = 2
[report]
annotate = "changed-lines"
max_annotations = 50
pr_comment = false
"#,
    )
    .unwrap();
    let ruff: RuffOptions = opts(&c, "ruff").unwrap();
    assert_eq!(ruff.select.unwrap(), ["E", "F401", "ALL"]);
    assert_eq!(
        (ruff.ignore, ruff.line_length),
        (vec!["E501".to_owned()], Some(120))
    );
    assert!(
        opts::<MypyOptions>(&c, "mypy")
            .unwrap()
            .ignore_missing_imports
    );
    assert_eq!(
        opts::<BanditOptions>(&c, "bandit")
            .unwrap()
            .severity
            .as_deref(),
        Some("medium")
    );
    assert!(c.backends.options("clippy").is_some());
    assert!(c.backends.options("semgrep").is_none());
    assert_eq!(
        c.rules.0["ruff:E501"],
        RuleOverride {
            severity: Some(Severity::Info),
            category: None
        }
    );
    assert_eq!(
        c.rules.0["semgrep:rules.md5"],
        RuleOverride {
            severity: Some(Severity::Critical),
            category: Some(Category::Security)
        }
    );
    // Merged over the defaults: critical and major stay at 0.
    let want: BTreeMap<Severity, u64> = [
        (Severity::Blocker, 1),
        (Severity::Critical, 0),
        (Severity::Major, 0),
        (Severity::Minor, 10),
    ]
    .into();
    assert_eq!(c.gate.new, want);
    assert_eq!(
        (c.gate.min_score, c.gate.min_grade, c.gate.max_score_drop),
        (72.5, Grade::B, 2.0)
    );
    assert_eq!(
        c.report,
        ReportConfig {
            annotate: Annotate::ChangedLines,
            max_annotations: 50,
            pr_comment: false
        }
    );
}

#[test]
fn each_kind_of_error_names_key_and_line() {
    let cases: &[(&str, &str)] = &[
        ("[backends]\nrufff = {}\n", ".flext-quality.toml:2: unknown key `backends.rufff` (expected one of: ruff, mypy, bandit, semgrep, clippy)"),
        ("\n\n[paths]\nexclude = []\ninclude = []\n", ".flext-quality.toml:5: unknown key `paths.include` (expected one of: exclude, tests)"),
        ("command = \"rm -rf /\"\n", ".flext-quality.toml:1: unknown key `command` (expected one of: backends, paths, rules, tests, gate, report, notify)"),
        ("[backends]\nclippy = { args = [\"--\"] }\n", ".flext-quality.toml:2: unknown key `backends.clippy.args` (expected one of: none)"),
        ("[backends.ruff]\nexecutable = \"/bin/sh\"\n", ".flext-quality.toml:2: unknown key `backends.ruff.executable` (expected one of: select, ignore, line_length)"),
        ("backends = [\"ruff\"]\n", ".flext-quality.toml:1: `backends` must be a table, not array"),
        ("[backends]\nmypy = { strict = \"yes\" }\n", ".flext-quality.toml:2: `backends.mypy.strict` must be true or false, not string"),
        ("[backends]\nbandit = { skip = \"B101\" }\n", ".flext-quality.toml:2: `backends.bandit.skip` must be an array of strings, not string"),
        ("[backends]\nbandit = { skip = [\"B101\", 102] }\n", ".flext-quality.toml:2: `backends.bandit.skip[1]` must be a string, not integer"),
        ("[backends]\nbandit = { skip = [\"assert\"] }\n", ".flext-quality.toml:2: `backends.bandit.skip[0]`: `assert` is not a Bandit test id (like `B101`)"),
        ("[backends]\nbandit = { severity = \"extreme\" }\n", ".flext-quality.toml:2: `backends.bandit.severity`: unknown level `extreme` (expected low, medium or high)"),
        ("[backends.ruff]\nselect = [\"e501\"]\n", ".flext-quality.toml:2: `backends.ruff.select[0]`: `e501` is not a Ruff rule code or prefix (like `E`, `F401`, `ALL`)"),
        ("[backends.ruff]\nline_length = 0\n", ".flext-quality.toml:2: `backends.ruff.line_length`: 0 is out of range (1..=320)"),
        ("[backends.semgrep]\nconfig = [\"p/python\"]\n", ".flext-quality.toml:2: `backends.semgrep.config[0]`: `p/python`: a Semgrep registry id; only rule files inside the repository are allowed"),
        ("[backends.semgrep]\nconfig = [\"rules/\", \"https://evil.example/r.yml\"]\n", ".flext-quality.toml:2: `backends.semgrep.config[1]`: `https://evil.example/r.yml`: a URL; only rule files inside the repository are allowed"),
        ("[backends.semgrep]\nconfig = [\"/etc/rules\"]\n", ".flext-quality.toml:2: `backends.semgrep.config[0]`: `/etc/rules`: an absolute path; only rule files inside the repository are allowed"),
        ("[backends.semgrep]\nconfig = [\"rules/../../x\"]\n", ".flext-quality.toml:2: `backends.semgrep.config[0]`: `rules/../../x`: `..` leaves the repository; only rule files inside the repository are allowed"),
        ("[backends.semgrep]\nconfig = [\"--dangerous\"]\n", ".flext-quality.toml:2: `backends.semgrep.config[0]`: `--dangerous`: looks like a command-line option; only rule files inside the repository are allowed"),
        ("[backends.semgrep]\nconfig = [\"auto\"]\n", ".flext-quality.toml:2: `backends.semgrep.config[0]`: `auto`: a Semgrep registry id; only rule files inside the repository are allowed"),
        ("[paths]\nexclude = [\"../outside/**\"]\n", ".flext-quality.toml:2: `paths.exclude[0]`: `../outside/**`: `.` and `..` are not allowed"),
        ("[gate]\nnew = { severe = 1 }\n", ".flext-quality.toml:2: unknown key `gate.new.severe` (expected one of: blocker, critical, major, minor, info)"),
        ("[gate]\nnew = { major = -1 }\n", ".flext-quality.toml:2: `gate.new.major`: -1 is out of range (0..=9223372036854775807)"),
        ("[gate]\nnew = { major = 1.5 }\n", ".flext-quality.toml:2: `gate.new.major` must be an integer, not float"),
        ("[gate]\nmin_score = 101\n", ".flext-quality.toml:2: `gate.min_score`: must be a number from 0 to 100"),
        ("[gate]\nmin_score = nan\n", ".flext-quality.toml:2: `gate.min_score`: must be a number from 0 to 100"),
        ("[gate]\nmin_score = \"90\"\n", ".flext-quality.toml:2: `gate.min_score` must be a number, not string"),
        ("[gate]\nmin_grade = \"E\"\n", ".flext-quality.toml:2: `gate.min_grade`: unknown grade `E` (expected A, B, C, D or F)"),
        ("[gate]\nmax_score_drop = -0.5\n", ".flext-quality.toml:2: `gate.max_score_drop`: must be a number from 0 to 100"),
        ("[report]\nannotate = \"everything\"\n", ".flext-quality.toml:2: `report.annotate`: unknown mode `everything` (expected new, changed-lines or all)"),
        ("[report]\nmax_annotations = 0\n", ".flext-quality.toml:2: `report.max_annotations`: 0 is out of range (1..=10000)"),
        ("[report]\nmax_annotations = 10001\n", ".flext-quality.toml:2: `report.max_annotations`: 10001 is out of range (1..=10000)"),
        ("[report]\npr_comment = 1\n", ".flext-quality.toml:2: `report.pr_comment` must be true or false, not integer"),
        ("[rules]\nE501 = { severity = \"info\" }\n", ".flext-quality.toml:2: `rules.\"E501\"`: rule keys are `\"backend:RULE\"`, e.g. `\"ruff:E501\"`"),
        ("[rules]\n\"ruff:E501\" = { severity = \"huge\" }\n", ".flext-quality.toml:2: `rules.\"ruff:E501\".severity`: unknown severity `huge` (expected info, minor, major, critical or blocker)"),
        ("[rules]\n\"ruff:E501\" = { level = \"info\" }\n", ".flext-quality.toml:2: unknown key `rules.\"ruff:E501\".level` (expected one of: severity, category)"),
        ("[rules]\n\"ruff:E501\" = \"info\"\n", ".flext-quality.toml:2: `rules.\"ruff:E501\"` must be a table, not string"),
        ("[paths]\ntests = [\"/\"]\n", ".flext-quality.toml:2: `paths.tests[0]`: `/` is empty"),
        ("[tests]\nignore = [\"B101\"]\n", ".flext-quality.toml:2: `tests.ignore[0]`: rule keys are `\"backend:RULE\"`, e.g. `\"ruff:E501\"`"),
        ("[tests]\nmax_security_severity = \"low\"\n", ".flext-quality.toml:2: `tests.max_security_severity`: unknown severity `low` (expected info, minor, major, critical or blocker)"),
        ("[notify]\npull_requests = \"always\"\n", ".flext-quality.toml:2: `notify.pull_requests`: unknown value `always` (expected failure or off)"),
        ("[notify]\nslack = \"#x\"\n", ".flext-quality.toml:2: unknown key `notify.slack` (expected one of: pull_requests)"),
        ("[tests]\nskip = []\n", ".flext-quality.toml:2: unknown key `tests.skip` (expected one of: ignore, max_security_severity)"),
    ];
    for (text, want) in cases {
        let err = flext(text).expect_err(text);
        assert_eq!(err.to_string(), *want, "config:\n{text}");
    }
}

#[test]
fn syntax_errors_have_a_line() {
    let err = flext("[gate]\nmin_score = 1\nmin_score = 2\n").unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { line: 3, .. }), "{err}");
    let err = flext("[report]\n\nannotate = \n").unwrap_err();
    assert_eq!(err.line(), 3, "{err}");
    assert!(
        err.to_string()
            .starts_with(".flext-quality.toml:3: invalid TOML: "),
        "{err}"
    );
}

const PYPROJECT_TEXT: &str = r#"[project]
name = "demo"
dependencies = ["requests"]

[tool.ruff]
line-length = 100

[tool.flext-quality.backends]
ruff = {}
mypy = { strict = true }

[tool.flext-quality.gate]
min_grade = "C"
"#;

#[test]
fn pyproject_table_is_read_and_errors_use_its_path() {
    let c = parse_repo_config(PYPROJECT_TEXT, ConfigSource::PyProject).unwrap();
    assert!(opts::<MypyOptions>(&c, "mypy").unwrap().strict);
    assert!(c.backends.options("bandit").is_none());
    assert_eq!(c.gate.min_grade, Grade::C);
    let bad = PYPROJECT_TEXT.replace("ruff = {}", "rufff = {}");
    let err = parse_repo_config(&bad, ConfigSource::PyProject).unwrap_err();
    assert_eq!(
        err.to_string(),
        "pyproject.toml:9: unknown key `tool.flext-quality.backends.rufff` (expected one of: ruff, mypy, bandit, semgrep, clippy)"
    );
    let err =
        parse_repo_config("[tool]\nflext-quality = 3\n", ConfigSource::PyProject).unwrap_err();
    assert_eq!(
        err.to_string(),
        "pyproject.toml:2: `tool.flext-quality` must be a table, not integer"
    );
}

#[test]
fn load_prefers_flext_toml_and_needs_the_pyproject_table() {
    let files = |flext: Option<&'static str>, pyproject: Option<&'static str>| {
        move |name: &str| match name {
            FLEXT_TOML => flext.map(str::to_owned),
            PYPROJECT => pyproject.map(str::to_owned),
            _ => None,
        }
    };
    let (c, name) = load_repo_config(files(
        Some("[report]\npr_comment = false\n"),
        Some(PYPROJECT_TEXT),
    ))
    .unwrap()
    .unwrap();
    assert_eq!(
        (name, c.report.pr_comment, c.backends.explicit),
        (FLEXT_TOML, false, false)
    );
    let (c, name) = load_repo_config(files(None, Some(PYPROJECT_TEXT)))
        .unwrap()
        .unwrap();
    assert_eq!((name, c.gate.min_grade), (PYPROJECT, Grade::C));
    assert_eq!(
        load_repo_config(files(None, Some("[project]\nname = \"x\"\n"))).unwrap(),
        None
    );
    assert_eq!(
        load_repo_config(files(None, Some("[tool.black]\nline = 1\n"))).unwrap(),
        None
    );
    assert_eq!(
        load_repo_config(files(None, Some("this is [ not toml"))).unwrap(),
        None
    );
    assert!(load_repo_config(files(None, Some("[tool.flext-quality\n"))).is_err());
    assert_eq!(load_repo_config(files(None, None)).unwrap(), None);
    assert!(load_repo_config(files(Some("nope = 1"), Some(PYPROJECT_TEXT))).is_err());
}

#[test]
fn never_panics() {
    let py = PYPROJECT_TEXT.to_owned();
    let samples = [
        DESIGN_EXAMPLE,
        py.as_str(),
        "[rules]\n\"ruff:E501\" = { severity = \"info\" }\n[gate]\nnew = { minor = 3 }\n",
    ];
    no_panic(&samples, 6000, |input| {
        let _ = parse_repo_config(input, ConfigSource::FlextToml);
        let _ = parse_repo_config(input, ConfigSource::PyProject);
        let _ = load_repo_config(|name| (name == PYPROJECT).then(|| input.to_owned()));
    });
    // Deep nesting is refused by the parser, not by a stack overflow.
    let deep = format!("x = {}1{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(flext(&deep).is_err());
}
