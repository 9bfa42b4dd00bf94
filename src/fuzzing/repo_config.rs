//! The repository config (`.flext-quality.toml`, or `[tool.flext-quality]` in
//! `pyproject.toml`) as a pull request's base could hold it: every section and key the schema
//! knows, each with a value of the right type and a hostile content, of the wrong type, or
//! a key the schema does not know; then sometimes mutated byte by byte.
//!
//! What every text must give: a config whose values are inside their documented ranges and
//! whose backends can prepare a run on a small tree, or an error that names the file and a
//! line of it, in one line.

use super::{mutate_bytes, odd_text, Entropy};
use crate::analysis::backends::{self, LocalFiles, Prepare, Scratch, TreeFacts};
use crate::analysis::glob::Glob;
use crate::analysis::repo_config::{
    load_repo_config, parse_repo_config, ConfigSource, RepoConfig, FLEXT_TOML, PYPROJECT,
};

fn quoted(s: &str) -> String {
    // A TOML basic string: serde_json's escaping is a subset TOML accepts, except \u0000
    // style escapes, which TOML also has.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// A literal of some other type than the key wants (or a broken one).
fn wrong_literal(e: &mut Entropy) -> String {
    const POOL: &[&str] = &[
        "\"text\"",
        "1",
        "-1",
        "0",
        "9223372036854775807",
        "-9223372036854775808",
        "1.5",
        "nan",
        "inf",
        "-inf",
        "true",
        "[]",
        "[1, \"a\"]",
        "{}",
        "{ a = 1 }",
        "1979-05-27T07:32:00Z",
        "\"\"\"multi\nline\"\"\"",
        "'literal'",
        "\"\\u0000\"",
        "\"\\uD800\"",
        "[[[[[[[[[[1]]]]]]]]]]",
        "",
    ];
    (*e.pick(POOL)).to_owned()
}

fn string_list(e: &mut Entropy, pool: &[&str]) -> String {
    let items: Vec<String> = (0..e.below(4))
        .map(|_| {
            if e.one_in(6) {
                quoted(&odd_text(e))
            } else {
                quoted(e.pick::<&str>(pool))
            }
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// A value for `key`: mostly one of its type, sometimes another.
fn value(e: &mut Entropy, key: &str) -> String {
    if e.one_in(8) {
        return wrong_literal(e);
    }
    const GLOBS: &[&str] = &[
        "migrations/**",
        "**",
        "*",
        "a/**/b",
        "/abs",
        "a//b",
        "..",
        "\\x",
        "tests/",
        "*_test.py",
        "**/**/**/**/**/**/**/**/x",
        "*a*a*a*a*a*a*a*a*a*a*a*b",
    ];
    match key {
        "select" | "ignore" => string_list(e, &["E", "F401", "ALL", "e501", "", "S"]),
        "skip" => string_list(e, &["B101", "B602", "assert", ""]),
        "severity" | "max_security_severity" => {
            quoted(e.pick::<&str>(&["low", "medium", "high", "blocker", "critical", "minor", "x"]))
        }
        "config" => string_list(
            e,
            &[
                "rules/",
                "rules/a.yml",
                "p/python",
                "/etc/rules",
                "../x",
                "rules/../../x",
                "--dangerous",
                "auto",
                "https://evil.example/r.yml",
            ],
        ),
        "line_length" | "max_annotations" | "new_suppressions" | "blocker" | "critical"
        | "major" | "minor" | "info" => {
            let n: i64 = match e.below(6) {
                0 => 0,
                1 => -1,
                2 => i64::MAX,
                3 => 10_001,
                _ => e.below(400) as i64,
            };
            n.to_string()
        }
        "min_score" | "max_score_drop" => {
            (*e.pick(&["0", "100", "50.5", "-0.1", "100.01", "nan", "1e400", "70"])).to_owned()
        }
        "strict" | "ignore_missing_imports" | "pr_comment" | "allow_backend_failure" => {
            (*e.pick(&["true", "false"])).to_owned()
        }
        "exclude" | "tests" => string_list(e, GLOBS),
        "category" => quoted(e.pick::<&str>(&["security", "reliability", "maintainability", "x"])),
        "min_grade" => quoted(e.pick::<&str>(&["A", "B", "C", "D", "F", "Z", "a"])),
        "annotate" => quoted(e.pick::<&str>(&["new", "changed-lines", "all", "none"])),
        "pull_requests" => quoted(e.pick::<&str>(&["failure", "off", "always"])),
        "ignore_rules" => string_list(e, &["bandit:B101", "ruff:E501", "nocolon", " :x"]),
        _ => quoted(&odd_text(e)),
    }
}

/// The sections and their keys, as the schema has them (plus a stranger or two).
const SECTIONS: &[(&str, &[&str])] = &[
    ("backends.ruff", &["select", "ignore", "line_length"]),
    ("backends.mypy", &["strict", "ignore_missing_imports"]),
    ("backends.bandit", &["skip", "severity"]),
    ("backends.semgrep", &["config"]),
    ("backends.clippy", &[]),
    ("paths", &["exclude", "tests"]),
    ("tests", &["ignore", "max_security_severity"]),
    (
        "gate",
        &[
            "min_score",
            "min_grade",
            "max_score_drop",
            "new_suppressions",
            "allow_backend_failure",
        ],
    ),
    (
        "gate.new",
        &["blocker", "critical", "major", "minor", "info"],
    ),
    ("report", &["annotate", "max_annotations", "pr_comment"]),
    ("notify", &["pull_requests"]),
    ("backends.shell", &["command"]),
    ("command", &["run"]),
];

/// `tests.ignore` holds rule keys, not Ruff selectors like `backends.ruff.ignore`.
fn key_of<'k>(section: &str, key: &'k str) -> &'k str {
    if key == "ignore" && section == "tests" {
        "ignore_rules"
    } else {
        key
    }
}

/// A config text for `source`.
pub fn config_text(e: &mut Entropy, source: ConfigSource) -> String {
    let prefix = match source {
        ConfigSource::FlextToml => "",
        ConfigSource::PyProject => "tool.flext-quality.",
    };
    let mut out = String::new();
    if source == ConfigSource::PyProject && e.flag() {
        out.push_str("[project]\nname = \"demo\"\n\n[tool.mypy]\nstrict = true\n\n");
    }
    for _ in 0..e.below(7) {
        let (section, keys) = *e.pick(SECTIONS);
        if e.one_in(6) {
            // Rule overrides: quoted keys that must look like `backend:RULE`.
            out.push_str(&format!("[{prefix}rules]\n"));
            for _ in 0..e.below(3) {
                let rule = e.pick(&["ruff:E501", "semgrep:rules.md5", "E501", "a b:c", ":", ""]);
                out.push_str(&format!(
                    "{} = {{ severity = {}, category = {} }}\n",
                    quoted(rule),
                    value(e, "severity"),
                    value(e, "category")
                ));
            }
            continue;
        }
        if e.flag() {
            out.push_str(&format!("[{prefix}{section}]\n"));
            for _ in 0..e.below(keys.len() + 2) {
                let key = if keys.is_empty() || e.one_in(10) {
                    "unknown_key"
                } else {
                    e.pick(keys)
                };
                let v = value(e, key_of(section, key));
                out.push_str(&format!("{key} = {v}\n"));
            }
        } else {
            // The same as an inline table or dotted keys under the parent.
            let (parent, leaf) = section.rsplit_once('.').unwrap_or(("", section));
            if !parent.is_empty() {
                out.push_str(&format!("[{prefix}{parent}]\n"));
            } else if !prefix.is_empty() {
                out.push_str(&format!("[{}]\n", prefix.trim_end_matches('.')));
            }
            let mut pairs: Vec<String> = Vec::new();
            for k in keys.iter() {
                if e.flag() {
                    pairs.push(format!("{k} = {}", value(e, key_of(section, k))));
                }
            }
            out.push_str(&format!("{leaf} = {{ {} }}\n", pairs.join(", ")));
        }
        out.push('\n');
    }
    String::from_utf8_lossy(&mutate_bytes(e, out.as_bytes())).into_owned()
}

/// Checks one error: it names the file and a line of the text, in one line.
fn check_error(err: &impl std::fmt::Display, file: &str, text: &str) -> Result<(), String> {
    let said = err.to_string();
    if !super::is_one_line(&said) {
        return Err(format!("config error is not one line: {said:?}"));
    }
    let line: usize = said
        .strip_prefix(file)
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("config error does not start with `{file}:<line>:`: {said}"))?;
    let lines = text.lines().count() + 1;
    if line == 0 || line > lines {
        return Err(format!("config error names line {line} of {lines}: {said}"));
    }
    Ok(())
}

/// Checks an accepted config: values in range, and every enabled backend can prepare a run.
fn check_config(config: &RepoConfig, tree: &std::path::Path) -> Result<(), String> {
    let names: Vec<&str> = backends::builtin().iter().map(|b| b.name()).collect();
    for name in config.backends.enabled.keys() {
        if !names.contains(&name.as_str()) {
            return Err(format!("unknown backend `{name}` enabled"));
        }
    }
    for glob in config.paths.exclude.iter().chain(&config.paths.tests) {
        let g = Glob::new(glob).map_err(|e| format!("accepted glob does not compile: {e}"))?;
        // Matching must stay cheap whatever the pattern (libFuzzer's timeout watches it).
        let long = "a/".repeat(200) + "b";
        for path in ["a.py", "pkg/mod.py", long.as_str(), "", "/"] {
            let _ = g.matches(path);
        }
    }
    let gate = &config.gate;
    if !(0.0..=100.0).contains(&gate.min_score) || !(0.0..=100.0).contains(&gate.max_score_drop) {
        return Err(format!(
            "gate out of range: min_score {} max_score_drop {}",
            gate.min_score, gate.max_score_drop
        ));
    }
    if !(1..=10_000).contains(&config.report.max_annotations) {
        return Err(format!(
            "max_annotations {} out of range",
            config.report.max_annotations
        ));
    }
    let scratch = Scratch::new().map_err(|e| format!("scratch: {e}"))?;
    let files = LocalFiles {
        root: tree.to_path_buf(),
    };
    let facts = TreeFacts {
        python_files: vec!["a.py".into()],
        rust_files: vec!["src/lib.rs".into()],
        links: Vec::new(),
        has_cargo_toml: true,
        python_digests: Default::default(),
    };
    for (name, options) in &config.backends.enabled {
        let backend = backends::find(name).ok_or("checked above")?;
        let _ = backend.applies(&facts, options);
        let prepared = backend.prepare(&Prepare {
            root: tree,
            files: &facts.python_files,
            facts: &facts,
            options,
            scratch: &scratch,
            config_files: &files,
            tool_cache: None,
            cores: 1,
        });
        if let Err(why) = prepared {
            if why.trim().is_empty() {
                return Err(format!("{name} refused to prepare without a reason"));
            }
        }
    }
    Ok(())
}

/// Runs one generated config through the parser as both files and through the loader that
/// picks between them, then prepares the enabled backends on a small tree holding it.
pub fn check_repo_config(data: &[u8]) -> Result<(), String> {
    let mut e = Entropy::new(data);
    let source = if e.flag() {
        ConfigSource::PyProject
    } else {
        ConfigSource::FlextToml
    };
    let text = if e.one_in(8) {
        String::from_utf8_lossy(e.rest()).into_owned()
    } else {
        config_text(&mut e, source)
    };
    let tree = tempfile::tempdir().map_err(|e| e.to_string())?;
    let write = |name: &str, body: &str| -> Result<(), String> {
        let p = tree.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(p, body).map_err(|e| e.to_string())
    };
    write("a.py", "x = 1\n")?;
    write("src/lib.rs", "pub fn f() {}\n")?;
    write("Cargo.toml", "[package]\nname = \"x\"\n")?;
    write("rules/a.yml", "rules: []\n")?;
    write(source.file_name(), &text)?;
    for s in [ConfigSource::FlextToml, ConfigSource::PyProject] {
        match parse_repo_config(&text, s) {
            Ok(config) => check_config(&config, tree.path())?,
            Err(err) => check_error(&err, s.file_name(), &text)?,
        }
    }
    let read = |name: &str| (name == source.file_name()).then(|| text.clone());
    match load_repo_config(read) {
        Ok(Some((config, file))) => {
            if file != FLEXT_TOML && file != PYPROJECT {
                return Err(format!("loaded from an unknown file {file}"));
            }
            check_config(&config, tree.path())
        }
        Ok(None) => Ok(()),
        Err(err) => check_error(&err, source.file_name(), &text),
    }
}
