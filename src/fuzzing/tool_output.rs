//! Tool output as the parsers of `analysis/backends` read it: documents in each tool's own
//! shape (Ruff's JSON array, MyPy's and cargo's JSON lines, Bandit's and Semgrep's reports,
//! SARIF logs) whose fields are sometimes missing, null, of the wrong type, absurd numbers or
//! hostile paths, then sometimes mutated byte by byte; or raw bytes.
//!
//! What every parse must give: an error with a message, or findings that name a file inside
//! the repository (never `..`, an absolute path, or a link out of the tree), with lines from 1
//! and an end not before the start, at most the backend's limit of them, and help links a
//! browser can open safely.

use super::{mutate_bytes, object, odd_number, odd_text, odd_value, Entropy};
use crate::analysis::backends::{
    bandit, clippy, mypy, ruff, sarif, semgrep, Backend, ParseOutput, Scratch, ToolRun,
};
use serde_json::{json, Value};
use std::path::Path;

mod sarif_log;
pub use sarif_log::sarif_doc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Ruff,
    Mypy,
    Bandit,
    Semgrep,
    Clippy,
    Sarif,
}

impl Tool {
    pub const ALL: [Tool; 6] = [
        Tool::Ruff,
        Tool::Mypy,
        Tool::Bandit,
        Tool::Semgrep,
        Tool::Clippy,
        Tool::Sarif,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Ruff => "ruff",
            Tool::Mypy => "mypy",
            Tool::Bandit => "bandit",
            Tool::Semgrep => "semgrep",
            Tool::Clippy => "clippy",
            Tool::Sarif => "sarif",
        }
    }
}

/// A repository root for parsers to resolve paths against: a few files, a link inside the
/// tree and a link out of it (to `/`), and the scratch directories a run has.
pub struct ParserRoot {
    dir: tempfile::TempDir,
    root: std::path::PathBuf,
    scratch: Scratch,
}

impl ParserRoot {
    pub fn new() -> std::io::Result<ParserRoot> {
        let dir = tempfile::Builder::new()
            .prefix("flext-quality-fuzz-root-")
            .tempdir()?;
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join("pkg"))?;
        std::fs::create_dir_all(root.join("src"))?;
        std::fs::write(root.join("a.py"), "import os\nx = 1\n")?;
        std::fs::write(root.join("pkg/mod.py"), "def f():\n    return 1\n")?;
        std::fs::write(root.join("src/lib.rs"), "pub fn f() {}\n")?;
        std::os::unix::fs::symlink("/", root.join("escape"))?;
        std::os::unix::fs::symlink("pkg", root.join("inner"))?;
        std::fs::write(dir.path().join("outside.py"), "secret = 1\n")?;
        Ok(ParserRoot {
            dir,
            root,
            scratch: Scratch::new()?,
        })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The directory holding the root (and a file beside it that no finding may name).
    pub fn parent(&self) -> &Path {
        self.dir.path()
    }
}

/// A path as a tool might print it: relative, absolute inside or outside the root, through
/// the links, with `..`, a URI, empty, enormous, or any text.
pub fn tool_path(e: &mut Entropy, root: &Path) -> String {
    let r = root.display();
    match e.below(24) {
        0..=3 => (*e.pick(&["a.py", "pkg/mod.py", "src/lib.rs", "./a.py"])).to_owned(),
        4 => format!("{r}/a.py"),
        5 => format!("{r}/pkg/mod.py"),
        6 => "pkg/../a.py".to_owned(),
        7 => "../outside.py".to_owned(),
        8 => "/etc/passwd".to_owned(),
        9 => format!("{r}/../outside.py"),
        10 => "escape/etc/passwd".to_owned(),
        11 => "inner/mod.py".to_owned(),
        12 => String::new(),
        13 => ".".to_owned(),
        14 => "/".to_owned(),
        15 => format!("file://{r}/a.py"),
        16 => "a.py\u{0}.txt".to_owned(),
        17 => format!("{}x.py", "a/".repeat(e.below(3000))),
        18 => "missing/deep/file.py".to_owned(),
        19 => format!("{r}/escape/etc/passwd"),
        20 => "pkg/./mod.py".to_owned(),
        21 => "pkg//mod.py".to_owned(),
        _ => odd_text(e),
    }
}

fn line(e: &mut Entropy) -> Value {
    if e.below(4) == 0 {
        odd_number(e)
    } else {
        json!(1 + e.below(40))
    }
}

fn ruff_doc(e: &mut Entropy, root: &Path) -> Value {
    let location = |e: &mut Entropy| object(e, &[("row", &line), ("column", &line)]);
    Value::Array(
        (0..e.below(6))
            .map(|_| {
                object(
                    e,
                    &[
                        ("code", &|e: &mut Entropy| {
                            json!(e.pick(&["E501", "F401", "S101", "E999", "F821", "B006"]))
                        }),
                        ("message", &|e: &mut Entropy| json!(odd_text(e))),
                        ("filename", &|e: &mut Entropy| json!(tool_path(e, root))),
                        ("location", &location),
                        ("end_location", &location),
                        ("url", &|e: &mut Entropy| json!(odd_text(e))),
                        ("fix", &|_: &mut Entropy| Value::Null),
                        ("noqa_row", &line),
                    ],
                )
            })
            .collect(),
    )
}

fn mypy_lines(e: &mut Entropy, root: &Path) -> String {
    let mut out = String::new();
    for _ in 0..e.below(6) {
        let text = match e.below(6) {
            0 => "Found 3 errors in 1 file (checked 2 source files)".to_owned(),
            1 => "Success: no issues found in 2 source files".to_owned(),
            2 => odd_text(e),
            _ => object(
                e,
                &[
                    ("file", &|e: &mut Entropy| json!(tool_path(e, root))),
                    ("line", &line),
                    ("column", &line),
                    ("end_line", &line),
                    ("end_column", &line),
                    ("message", &|e: &mut Entropy| json!(odd_text(e))),
                    ("hint", &|e: &mut Entropy| json!(odd_text(e))),
                    ("code", &|e: &mut Entropy| {
                        json!(e.pick(&["name-defined", "attr-defined", "misc", "syntax"]))
                    }),
                    ("severity", &|e: &mut Entropy| {
                        json!(e.pick(&["error", "note", "warning", ""]))
                    }),
                ],
            )
            .to_string(),
        };
        out.push_str(&text);
        out.push('\n');
    }
    out
}

fn bandit_doc(e: &mut Entropy, root: &Path) -> Value {
    let issue = |e: &mut Entropy| {
        object(
            e,
            &[
                ("filename", &|e: &mut Entropy| json!(tool_path(e, root))),
                ("line_number", &line),
                ("line_range", &|e: &mut Entropy| {
                    Value::Array((0..e.below(4)).map(|_| line(e)).collect())
                }),
                ("col_offset", &line),
                ("end_col_offset", &line),
                ("test_id", &|e: &mut Entropy| {
                    json!(e.pick(&["B101", "B602", "B307", ""]))
                }),
                ("test_name", &|e: &mut Entropy| json!(odd_text(e))),
                ("issue_severity", &|e: &mut Entropy| {
                    json!(e.pick(&["HIGH", "MEDIUM", "LOW", "UNDEFINED", "high"]))
                }),
                ("issue_confidence", &|e: &mut Entropy| {
                    json!(e.pick(&["HIGH", "MEDIUM", "LOW", "UNDEFINED"]))
                }),
                ("issue_text", &|e: &mut Entropy| json!(odd_text(e))),
                ("more_info", &|e: &mut Entropy| json!(odd_text(e))),
                ("code", &|e: &mut Entropy| json!(odd_text(e))),
            ],
        )
    };
    let error = |e: &mut Entropy| {
        object(
            e,
            &[
                ("filename", &|e: &mut Entropy| json!(tool_path(e, root))),
                ("reason", &|e: &mut Entropy| json!(odd_text(e))),
            ],
        )
    };
    object(
        e,
        &[
            ("results", &|e: &mut Entropy| {
                Value::Array((0..e.below(6)).map(|_| issue(e)).collect())
            }),
            ("errors", &|e: &mut Entropy| {
                Value::Array((0..e.below(3)).map(|_| error(e)).collect())
            }),
            ("metrics", &|_: &mut Entropy| json!({})),
        ],
    )
}

fn semgrep_doc(e: &mut Entropy, root: &Path) -> Value {
    let position = |e: &mut Entropy| {
        object(
            e,
            &[("line", &line), ("col", &line), ("offset", &odd_number)],
        )
    };
    let result = |e: &mut Entropy| {
        object(
            e,
            &[
                ("check_id", &|e: &mut Entropy| {
                    json!(e.pick(&["rules.md5", "python.lang.security.audit.eval", ""]))
                }),
                ("path", &|e: &mut Entropy| json!(tool_path(e, root))),
                ("start", &position),
                ("end", &position),
                ("extra", &|e: &mut Entropy| {
                    object(
                        e,
                        &[
                            ("message", &|e: &mut Entropy| json!(odd_text(e))),
                            ("severity", &|e: &mut Entropy| {
                                json!(e.pick(&[
                                    "ERROR",
                                    "WARNING",
                                    "INFO",
                                    "CRITICAL",
                                    "HIGH",
                                    "EXPERIMENT",
                                    "x"
                                ]))
                            }),
                            ("metadata", &|e: &mut Entropy| {
                                object(
                                    e,
                                    &[
                                        ("category", &|e: &mut Entropy| json!(odd_text(e))),
                                        ("source", &|e: &mut Entropy| json!(odd_text(e))),
                                        ("references", &|e: &mut Entropy| {
                                            if e.flag() {
                                                json!(odd_text(e))
                                            } else {
                                                json!([odd_text(e), "https://example.com/r"])
                                            }
                                        }),
                                    ],
                                )
                            }),
                        ],
                    )
                }),
            ],
        )
    };
    let error = |e: &mut Entropy| {
        object(
            e,
            &[
                ("level", &|e: &mut Entropy| json!(odd_text(e))),
                ("type", &|e: &mut Entropy| {
                    if e.flag() {
                        json!("Rule parse error")
                    } else {
                        json!(["PartialParsing", [odd_value(e, 1)]])
                    }
                }),
                ("message", &|e: &mut Entropy| json!(odd_text(e))),
            ],
        )
    };
    object(
        e,
        &[
            ("results", &|e: &mut Entropy| {
                Value::Array((0..e.below(5)).map(|_| result(e)).collect())
            }),
            ("errors", &|e: &mut Entropy| {
                Value::Array((0..e.below(3)).map(|_| error(e)).collect())
            }),
            ("version", &|_: &mut Entropy| json!("1.180.0")),
        ],
    )
}

fn clippy_span(e: &mut Entropy, root: &Path, depth: u8) -> Value {
    let mut span = object(
        e,
        &[
            ("file_name", &|e: &mut Entropy| {
                if e.one_in(6) {
                    json!("<proc-macro source code>")
                } else {
                    json!(tool_path(e, root))
                }
            }),
            ("line_start", &line),
            ("line_end", &line),
            ("column_start", &line),
            ("column_end", &line),
            ("is_primary", &|e: &mut Entropy| json!(e.below(4) != 0)),
        ],
    );
    // Macro expansions chain: long chains test the walk's bound, not only its happy path.
    if depth > 0 && e.below(3) == 0 {
        if let Value::Object(m) = &mut span {
            m.insert(
                "expansion".into(),
                json!({ "span": clippy_span(e, root, depth - 1) }),
            );
        }
    }
    span
}

fn clippy_diagnostic(e: &mut Entropy, root: &Path, depth: u8) -> Value {
    let span_depth = if e.one_in(8) { 100 } else { 3 };
    object(
        e,
        &[
            ("message", &|e: &mut Entropy| {
                if e.one_in(8) {
                    json!("aborting due to 2 previous errors")
                } else {
                    json!(odd_text(e))
                }
            }),
            (
                "code",
                &|e: &mut Entropy| json!({ "code": e.pick(&["clippy::unwrap_used", "E0425", "unused_variables", "clippy::correctness", ""]) }),
            ),
            ("level", &|e: &mut Entropy| {
                json!(e.pick(&[
                    "warning",
                    "error",
                    "error: internal compiler error",
                    "note",
                    "failure-note",
                    "help"
                ]))
            }),
            ("spans", &|e: &mut Entropy| {
                Value::Array(
                    (0..e.below(3))
                        .map(|_| clippy_span(e, root, span_depth))
                        .collect(),
                )
            }),
            ("children", &|e: &mut Entropy| {
                if depth == 0 {
                    json!([])
                } else {
                    Value::Array(
                        (0..e.below(2))
                            .map(|_| clippy_diagnostic(e, root, depth - 1))
                            .collect(),
                    )
                }
            }),
            ("rendered", &|e: &mut Entropy| json!(odd_text(e))),
        ],
    )
}

fn clippy_lines(e: &mut Entropy, root: &Path) -> String {
    let mut out = String::new();
    for _ in 0..e.below(6) {
        let text = match e.below(6) {
            0 => odd_text(e),
            1 => json!({"reason": "build-finished", "success": e.flag()}).to_string(),
            _ => object(
                e,
                &[
                    ("reason", &|e: &mut Entropy| {
                        json!(e.pick(&["compiler-message", "compiler-artifact", "x"]))
                    }),
                    ("message", &|e: &mut Entropy| clippy_diagnostic(e, root, 2)),
                ],
            )
            .to_string(),
        };
        out.push_str(&text);
        out.push('\n');
    }
    out
}

/// One output of `tool`: a structured document (maybe mutated afterwards), or raw bytes.
pub fn output(tool: Tool, e: &mut Entropy, root: &Path) -> String {
    if e.one_in(8) {
        return String::from_utf8_lossy(e.rest()).into_owned();
    }
    let text = match tool {
        Tool::Ruff => ruff_doc(e, root).to_string(),
        Tool::Mypy => mypy_lines(e, root),
        Tool::Bandit => bandit_doc(e, root).to_string(),
        Tool::Semgrep => semgrep_doc(e, root).to_string(),
        Tool::Clippy => clippy_lines(e, root),
        Tool::Sarif => sarif_doc(e, root).to_string(),
    };
    String::from_utf8_lossy(&mutate_bytes(e, text.as_bytes())).into_owned()
}

/// Findings that break no rule a parser promises (see the module documentation).
pub fn check_output(out: &ParseOutput, root: &Path, limit: usize) -> Result<(), String> {
    if out.findings.len() > limit {
        return Err(format!(
            "{} findings kept over a limit of {limit}",
            out.findings.len()
        ));
    }
    let real_root = root
        .canonicalize()
        .map_err(|e| format!("root unreadable: {e}"))?;
    for f in &out.findings {
        let p = &f.path;
        if p.is_empty()
            || p.starts_with('/')
            || p.split('/').any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(format!("finding path {p:?} is not a plain relative path"));
        }
        // The deepest part that exists must resolve inside the root (no link out of it).
        let mut probe = root.join(p);
        loop {
            if let Ok(real) = probe.canonicalize() {
                if !real.starts_with(&real_root) {
                    return Err(format!("finding path {p:?} resolves outside the root"));
                }
                break;
            }
            if !probe.pop() {
                break;
            }
        }
        if f.start_line < 1 || f.end_line < f.start_line {
            return Err(format!("lines {}..{} of {p:?}", f.start_line, f.end_line));
        }
        if f.start_column == Some(0) || f.end_column == Some(0) {
            return Err(format!("a column 0 in {p:?}"));
        }
        if let Some(url) = &f.help_url {
            if !(url.starts_with("https://") || url.starts_with("http://"))
                || url.chars().any(char::is_whitespace)
            {
                return Err(format!("help link {url:?} is not a plain http(s) URL"));
            }
        }
        if f.backend.is_empty() {
            return Err("a finding without a backend".into());
        }
    }
    Ok(())
}

fn backend_of(tool: Tool) -> Box<dyn Backend> {
    match tool {
        Tool::Ruff => Box::new(ruff::Ruff),
        Tool::Mypy => Box::new(mypy::Mypy),
        Tool::Bandit => Box::new(bandit::Bandit),
        Tool::Semgrep => Box::new(semgrep::Semgrep),
        Tool::Clippy => Box::new(clippy::Clippy),
        Tool::Sarif => Box::new(sarif::SarifTool {
            name: "extra".into(),
            command: vec!["extra-tool".into()],
        }),
    }
}

/// Runs one generated output of `tool` through its parser, both the module's own `parse` and
/// the backend's (with an exit code and a findings limit), and checks what comes out.
pub fn check_parser(tool: Tool, data: &[u8], root: &ParserRoot) -> Result<(), String> {
    let mut e = Entropy::new(data);
    let exit_code = match e.below(8) {
        0..=3 => Some(0),
        4 => Some(1),
        5 => Some(101),
        6 => None,
        _ => Some(e.byte() as i32 - 128),
    };
    let max_findings = if e.flag() { 1 + e.below(3) } else { 20_000 };
    let text = output(tool, &mut e, root.path());
    let path = root.path();
    let direct = match tool {
        Tool::Ruff => ruff::parse(&text, path),
        Tool::Mypy => mypy::parse(&text, path),
        Tool::Bandit => bandit::parse(&text, path),
        Tool::Semgrep => semgrep::parse(&text, path),
        Tool::Clippy => clippy::parse(&text, path),
        Tool::Sarif => sarif::parse(&text, path),
    };
    match direct {
        Ok(out) => check_output(&out, path, usize::MAX)
            .map_err(|why| format!("{} parse: {why}", tool.name()))?,
        Err(err) if err.to_string().trim().is_empty() => {
            return Err(format!("{} parse: an error without a message", tool.name()))
        }
        Err(_) => {}
    }
    let run = ToolRun {
        exit_code,
        stdout: &text,
        stderr_tail: "",
        root: path,
        scratch: &root.scratch,
        max_findings,
    };
    match backend_of(tool).parse(&run) {
        Ok(out) => check_output(&out, path, max_findings)
            .map_err(|why| format!("{} backend: {why}", tool.name())),
        Err(why) if why.trim().is_empty() => Err(format!(
            "{} backend: an error without a message",
            tool.name()
        )),
        Err(_) => Ok(()),
    }
}
