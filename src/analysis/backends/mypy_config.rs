//! The project's own MyPy configuration, read the way MyPy reads it, kept to the options that
//! decide what is checked and how strictly, and written to a file flext-quality owns.
//!
//! MyPy would otherwise read `mypy.ini` (or `.mypy.ini`, `pyproject.toml`'s `[tool.mypy]`,
//! `setup.cfg`'s `[mypy]`) from the analysed tree: a pull request could load a plugin
//! (`plugins = evil`, imported by MyPy), run a program (`python_executable = ./x`) or switch off
//! the checks it is judged by (`ignore_errors = True`). Here the configuration comes from the
//! config commit (a pull request's base), only allowlisted options survive, and MyPy is run with
//! `--config-file` pointing at what this module writes.

use std::collections::BTreeMap;

/// Where MyPy looks, in MyPy's order. `pyproject.toml` and `setup.cfg` count only when they
/// have a MyPy section.
pub const SEARCH_ORDER: [&str; 4] = ["mypy.ini", ".mypy.ini", "pyproject.toml", "setup.cfg"];

/// Options that only make sense for the whole run.
const GLOBAL_ONLY: [&str; 8] = [
    "files",
    "exclude",
    "python_version",
    "mypy_path",
    "namespace_packages",
    "explicit_package_bases",
    "platform",
    "no_site_packages",
];

/// Options that decide what is checked and how strictly (MyPy's import discovery, platform,
/// strictness, warnings and error-code options). Everything else — plugins, the interpreter,
/// caches, reports and output formatting — is dropped.
const ALLOWED: &[&str] = &[
    "files",
    "exclude",
    "python_version",
    "mypy_path",
    "namespace_packages",
    "explicit_package_bases",
    "platform",
    "no_site_packages",
    "always_true",
    "always_false",
    "ignore_missing_imports",
    "follow_imports",
    "follow_imports_for_stubs",
    "follow_untyped_imports",
    "disable_error_code",
    "enable_error_code",
    "strict",
    "strict_optional",
    "strict_equality",
    "strict_equality_for_none",
    "strict_concatenate",
    "strict_bytes",
    "extra_checks",
    "disallow_any_unimported",
    "disallow_any_expr",
    "disallow_any_decorated",
    "disallow_any_explicit",
    "disallow_any_generics",
    "disallow_subclassing_any",
    "disallow_untyped_calls",
    "untyped_calls_exclude",
    "disallow_untyped_defs",
    "disallow_incomplete_defs",
    "check_untyped_defs",
    "disallow_untyped_decorators",
    "implicit_optional",
    "no_implicit_optional",
    "implicit_reexport",
    "no_implicit_reexport",
    "warn_redundant_casts",
    "warn_unused_ignores",
    "warn_no_return",
    "warn_return_any",
    "warn_unreachable",
    "warn_incomplete_stub",
    "allow_untyped_globals",
    "allow_redefinition",
    "allow_redefinition_new",
    "local_partial_types",
    "disable_bytearray_promotion",
    "disable_memoryview_promotion",
    "deprecated_calls_exclude",
    "report_deprecated_as_note",
    "ignore_errors",
    "enable_incomplete_feature",
    "disallow_untyped_globals",
];

/// Options whose values are paths in the repository.
const PATH_LISTS: [&str; 2] = ["files", "mypy_path"];

fn allowed(key: &str, global: bool) -> bool {
    ALLOWED.contains(&key) && (global || !GLOBAL_ONLY.contains(&key))
}

/// One section: `[mypy]` (no patterns) or `[mypy-pkg.*,other]` (module patterns).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    pub modules: Vec<String>,
    /// Option name to its value as MyPy's INI syntax writes it.
    pub options: BTreeMap<String, String>,
}

/// The configuration as flext-quality will hand it to MyPy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MypyConfig {
    /// The file it came from, when the project has one.
    pub source: Option<&'static str>,
    pub global: BTreeMap<String, String>,
    pub modules: Vec<Section>,
    /// What was left out and why, to show in the report.
    pub notes: Vec<String>,
}

impl MypyConfig {
    /// The `files` to check, when the project names them.
    pub fn files(&self) -> Option<Vec<String>> {
        self.global.get("files").map(|v| split_list(v))
    }

    /// Adds exact paths (files or directories) to `exclude`, keeping the project's patterns.
    pub fn exclude_paths(&mut self, paths: &[String]) {
        if paths.is_empty() {
            return;
        }
        let mut patterns: Vec<String> = self
            .global
            .get("exclude")
            .map(|e| vec![format!("(?:{e})")])
            .unwrap_or_default();
        patterns.extend(
            paths
                .iter()
                .map(|p| format!("(?:(^|/){}(/|$))", regex_escape(p))),
        );
        self.global.insert("exclude".into(), patterns.join("|"));
    }

    /// Sets a global option (`[backends.mypy]` of `.flext-quality.toml` wins over the project).
    pub fn set(&mut self, key: &str, value: &str) {
        self.global.insert(key.to_owned(), value.to_owned());
    }

    /// The INI text to pass with `--config-file`.
    pub fn render(&self) -> String {
        let mut out =
            String::from("# Written by flext-quality from the project's MyPy settings.\n[mypy]\n");
        let write = |out: &mut String, options: &BTreeMap<String, String>| {
            for (k, v) in options {
                let v = v.replace('\n', "\n    ");
                out.push_str(&format!("{k} = {v}\n"));
            }
        };
        write(&mut out, &self.global);
        for s in &self.modules {
            out.push_str(&format!("\n[mypy-{}]\n", s.modules.join(",")));
            write(&mut out, &s.options);
        }
        out
    }
}

/// Reads the project's configuration through `read` (a repository-relative name to its text,
/// from the config commit), in MyPy's order. No file gives the defaults.
pub fn load(read: impl Fn(&str) -> Option<String>) -> MypyConfig {
    for name in SEARCH_ORDER {
        let Some(text) = read(name) else { continue };
        let parsed = match name {
            "pyproject.toml" => match from_pyproject(&text) {
                Some(r) => r,
                None => continue,
            },
            "setup.cfg" => {
                let sections = parse_ini(&text);
                if !sections.iter().any(|(n, _)| n == "mypy") {
                    continue;
                }
                from_ini_sections(sections)
            }
            _ => from_ini_sections(parse_ini(&text)),
        };
        let mut config = match parsed {
            Ok(c) => c,
            Err(e) => MypyConfig {
                notes: vec![format!(
                    "{name} could not be read ({e}); MyPy's defaults apply"
                )],
                ..MypyConfig::default()
            },
        };
        config.source = Some(name);
        return config;
    }
    MypyConfig::default()
}

/// `configparser`-style INI: sections, `key = value` or `key: value`, `#`/`;` comment lines,
/// indented continuation lines. Keys are lower-cased, as Python's configparser does.
fn parse_ini(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for raw in text.lines() {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let indented = raw.starts_with([' ', '\t']);
        if let Some((_, entries)) = sections.last_mut() {
            if indented {
                if let Some((_, value)) = entries.last_mut() {
                    value.push('\n');
                    value.push_str(trimmed);
                    continue;
                }
            }
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            sections.push((name.trim().to_owned(), Vec::new()));
            continue;
        }
        let Some((_, entries)) = sections.last_mut() else {
            continue;
        };
        let split = trimmed.find(['=', ':']);
        let (k, v) = match split {
            Some(i) => (&trimmed[..i], trimmed[i + 1..].trim()),
            None => (trimmed, ""),
        };
        entries.push((k.trim().to_ascii_lowercase(), v.to_owned()));
    }
    sections
}

fn from_ini_sections(sections: Vec<(String, Vec<(String, String)>)>) -> Result<MypyConfig, String> {
    let mut config = MypyConfig::default();
    for (name, entries) in sections {
        let modules: Vec<String> = match name.strip_prefix("mypy") {
            Some("") => Vec::new(),
            Some(rest) => match rest.strip_prefix('-') {
                Some(patterns) => patterns
                    .split(',')
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect(),
                None => continue,
            },
            None => continue,
        };
        let global = modules.is_empty();
        let mut options = BTreeMap::new();
        for (k, v) in entries {
            keep(&mut config.notes, &mut options, &k, v, global);
        }
        if global {
            config.global = options;
        } else if !options.is_empty() {
            config.modules.push(Section { modules, options });
        }
    }
    Ok(config)
}

/// `[tool.mypy]` and its `[[tool.mypy.overrides]]`; `None` when the file has no such table.
fn from_pyproject(text: &str) -> Option<Result<MypyConfig, String>> {
    let doc: toml::Table = match text.parse() {
        Ok(d) => d,
        Err(e) if text.contains("[tool.mypy") => return Some(Err(e.message().to_owned())),
        Err(_) => return None,
    };
    let table = doc.get("tool")?.get("mypy")?.as_table()?;
    let mut config = MypyConfig::default();
    for (k, v) in table {
        if k == "overrides" {
            continue;
        }
        if let Some(text) = toml_value(k, v) {
            keep(&mut config.notes, &mut config.global, k, text, true);
        }
    }
    for o in table
        .get("overrides")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(o) = o.as_table() else { continue };
        let modules: Vec<String> = match o.get("module") {
            Some(toml::Value::String(s)) => vec![s.clone()],
            Some(toml::Value::Array(a)) => a
                .iter()
                .filter_map(|m| m.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        let modules: Vec<String> = modules.into_iter().filter(|m| module_pattern(m)).collect();
        if modules.is_empty() {
            config
                .notes
                .push("an override without a valid `module` was left out".into());
            continue;
        }
        let mut options = BTreeMap::new();
        for (k, v) in o {
            if k == "module" {
                continue;
            }
            if let Some(text) = toml_value(k, v) {
                keep(&mut config.notes, &mut options, k, text, false);
            }
        }
        if !options.is_empty() {
            config.modules.push(Section { modules, options });
        }
    }
    Some(Ok(config))
}

/// A TOML value in INI syntax: booleans as `True`/`False`, arrays comma-separated (regex lists
/// for `exclude` joined into one alternation).
fn toml_value(key: &str, v: &toml::Value) -> Option<String> {
    Some(match v {
        toml::Value::Boolean(b) => if *b { "True" } else { "False" }.to_owned(),
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Array(items) => {
            let items: Vec<String> = items
                .iter()
                .filter_map(|i| match i {
                    toml::Value::String(s) => Some(s.clone()),
                    _ => None,
                })
                .collect();
            if key == "exclude" {
                items
                    .iter()
                    .map(|r| format!("(?:{r})"))
                    .collect::<Vec<_>>()
                    .join("|")
            } else {
                items.join(",")
            }
        }
        _ => return None,
    })
}

/// Keeps an allowed option (paths checked), noting what was dropped.
fn keep(
    notes: &mut Vec<String>,
    options: &mut BTreeMap<String, String>,
    key: &str,
    value: String,
    global: bool,
) {
    let key = key.replace('-', "_");
    if !allowed(&key, global) {
        // `warn_unused_configs` would only warn about sections of the file we rewrote.
        if key != "warn_unused_configs" {
            notes.push(format!("`{key}` was left out (flext-quality decides it)"));
        }
        return;
    }
    if PATH_LISTS.contains(&key.as_str()) {
        let (inside, outside): (Vec<String>, Vec<String>) =
            split_list(&value).into_iter().partition(|p| inside_tree(p));
        for p in &outside {
            notes.push(format!(
                "`{key}` entry `{p}` leaves the repository and was left out"
            ));
        }
        if inside.is_empty() {
            return;
        }
        options.insert(key, inside.join(","));
        return;
    }
    options.insert(key, value);
}

/// A literal for a Python regular expression.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' {
            out.push(c);
        } else {
            out.push('\\');
            out.push(c);
        }
    }
    out
}

/// Comma- or newline-separated values, trimmed, empty ones dropped.
pub fn split_list(v: &str) -> Vec<String> {
    v.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A relative path (or glob) that stays inside the repository.
fn inside_tree(p: &str) -> bool {
    !p.starts_with('/')
        && !p.starts_with('~')
        && !p.starts_with('$')
        && !p.contains('\\')
        && !p.split('/').any(|s| s == "..")
}

/// A module pattern as MyPy accepts it in section names: dotted names and `*`.
fn module_pattern(m: &str) -> bool {
    !m.is_empty()
        && m.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(files: &[(&'static str, &'static str)]) -> MypyConfig {
        load(|name| {
            files
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| (*t).to_owned())
        })
    }

    #[test]
    fn mypys_own_search_order() {
        let ini = "[mypy]\nstrict = True\n";
        let toml = "[tool.mypy]\nwarn_unreachable = true\n";
        let cfg = "[mypy]\ncheck_untyped_defs = True\n";
        assert_eq!(
            from(&[("mypy.ini", ini), ("pyproject.toml", toml)]).source,
            Some("mypy.ini")
        );
        assert_eq!(
            from(&[(".mypy.ini", ini), ("setup.cfg", cfg)]).source,
            Some(".mypy.ini")
        );
        assert_eq!(
            from(&[("pyproject.toml", toml), ("setup.cfg", cfg)]).source,
            Some("pyproject.toml")
        );
        // A pyproject.toml without [tool.mypy] does not count; setup.cfg needs [mypy] too.
        let plain = "[project]\nname = \"x\"\n";
        assert_eq!(
            from(&[("pyproject.toml", plain), ("setup.cfg", cfg)]).source,
            Some("setup.cfg")
        );
        assert_eq!(from(&[("setup.cfg", "[flake8]\nx = 1\n")]).source, None);
        assert_eq!(from(&[]), MypyConfig::default());
    }

    #[test]
    fn plugins_interpreters_and_caches_never_survive() {
        let c = from(&[(
            "mypy.ini",
            "[mypy]\nplugins = evil\npython_executable = ./x\ncache_dir = /tmp/c\nstrict = True\n\
             junit_xml = out.xml\nfiles = src, tests\n\n[mypy-pkg.*]\nignore_errors = True\nplugins = evil2\n",
        )]);
        let text = c.render();
        for gone in ["evil", "python_executable", "cache_dir", "junit_xml"] {
            assert!(!text.contains(gone), "{gone} survived:\n{text}");
        }
        assert!(text.contains("strict = True"), "{text}");
        assert!(
            text.contains("[mypy-pkg.*]\nignore_errors = True"),
            "{text}"
        );
        assert_eq!(c.files(), Some(vec!["src".to_owned(), "tests".to_owned()]));
        assert!(
            c.notes.iter().any(|n| n.contains("`plugins`")),
            "{:?}",
            c.notes
        );
    }

    #[test]
    fn pyproject_tables_and_overrides_become_ini() {
        let c = from(&[(
            "pyproject.toml",
            r#"
[tool.mypy]
files = ["src"]
strict = true
python_version = "3.11"
exclude = ["^build/", "_pb2\\.py$"]
plugins = ["pydantic.mypy"]
disable_error_code = ["import-untyped", "no-redef"]

[[tool.mypy.overrides]]
module = ["tests.*", "conftest"]
disallow_untyped_defs = false
python_executable = "/bin/sh"

[[tool.mypy.overrides]]
module = "$(evil)"
ignore_errors = true
"#,
        )]);
        assert_eq!(c.source, Some("pyproject.toml"));
        let text = c.render();
        assert!(text.contains("files = src\n"), "{text}");
        assert!(text.contains("strict = True\n"), "{text}");
        assert!(
            text.contains("exclude = (?:^build/)|(?:_pb2\\.py$)\n"),
            "{text}"
        );
        assert!(
            text.contains("disable_error_code = import-untyped,no-redef\n"),
            "{text}"
        );
        assert!(
            text.contains("[mypy-tests.*,conftest]\ndisallow_untyped_defs = False\n"),
            "{text}"
        );
        assert!(
            !text.contains("pydantic") && !text.contains("/bin/sh") && !text.contains("evil"),
            "{text}"
        );
    }

    #[test]
    fn paths_must_stay_inside_the_repository() {
        let c = from(&[(
            "mypy.ini",
            "[mypy]\nfiles = src, ../../etc, /abs\nmypy_path = stubs:$HOME\n\n[mypy-x]\nfiles = y\n",
        )]);
        assert_eq!(c.files(), Some(vec!["src".to_owned()]));
        assert!(!c.render().contains("etc"));
        // Global-only options in a module section are dropped.
        assert!(c.modules.is_empty(), "{:?}", c.modules);
    }

    #[test]
    fn ini_continuations_comments_and_dashes() {
        let c = from(&[(
            "setup.cfg",
            "[metadata]\nname = x\n\n[mypy]\n# a comment\nfiles =\n    src,\n    tools\nwarn-unreachable: True\n; another\n",
        )]);
        assert_eq!(c.files(), Some(vec!["src".to_owned(), "tools".to_owned()]));
        assert_eq!(
            c.global.get("warn_unreachable").map(String::as_str),
            Some("True")
        );
    }

    #[test]
    fn excluded_paths_join_the_projects_patterns() {
        let mut c = from(&[("mypy.ini", "[mypy]\nexclude = ^build/\n")]);
        c.exclude_paths(&["leak.py".into(), "a b/c.py".into()]);
        assert_eq!(
            c.global["exclude"],
            "(?:^build/)|(?:(^|/)leak\\.py(/|$))|(?:(^|/)a\\ b/c\\.py(/|$))"
        );
    }

    #[test]
    fn flext_options_win() {
        let mut c = from(&[("mypy.ini", "[mypy]\nstrict = False\n")]);
        c.set("strict", "True");
        assert!(c.render().contains("strict = True"));
    }

    #[test]
    fn never_panics() {
        crate::analysis::backends::testutil::no_panic(
            &[
                "[mypy]\nfiles = a,\n  b\n[mypy-x.*]\nstrict=1\n",
                "[tool.mypy]\nfiles=[\"a\"]\n[[tool.mypy.overrides]]\nmodule=\"x\"\n",
            ],
            3000,
            |input| {
                let _ = from_ini_sections(parse_ini(input)).map(|c| c.render());
                let _ = from_pyproject(input);
            },
        );
    }
}
