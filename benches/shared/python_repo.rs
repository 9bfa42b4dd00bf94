//! The generated Python project the analysis benchmarks run on: `files` modules in packages of
//! 100, each realistic code with a few findings for every tool. Shared by `analyze` and
//! `pull_request` (included with `#[path]`).

use std::path::Path;

/// The repository config a new user writes to try flext-quality with Ruff and Bandit only.
pub const RUFF_AND_BANDIT: &str = "[backends]\nruff = {}\nbandit = {}\n";

/// Module `i` (about 1.1 KiB).
pub fn module(i: usize) -> String {
    format!(
        r#""""Module {i} of the generated benchmark project."""

import os
import subprocess
from typing import Optional


class Record{i}:
    """A record with a name and a size."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size

    def describe(self) -> str:
        return f"{{self.name}} ({{self.size}} bytes)"

    def grow(self, by: int) -> "Record{i}":
        return Record{i}(self.name, self.size + by)


def find(records: list[Record{i}], name: str) -> Optional[Record{i}]:
    for record in records:
        if record.name == name:
            return record
    return None


def total(records: list[Record{i}]) -> int:
    result = 0
    for record in records:
        result += record.size
    return result


def run(command: str) -> int:
    return subprocess.call(command, shell=True)


def home() -> str:
    unused = {i}
    return os.environ.get("HOME", "/")


def parse(value: str) -> int:
    try:
        return int(value)
    except Exception:
        pass
    return 0
"#
    )
}

/// The project's files, relative paths and contents, in order.
pub fn files(count: usize) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(count + count / 100 + 1);
    for i in 0..count {
        if i % 100 == 0 {
            out.push((format!("pkg{}/__init__.py", i / 100), String::new()));
        }
        out.push((format!("pkg{}/mod{i}.py", i / 100), module(i)));
    }
    out
}

/// Writes the project's files under `root`.
pub fn write(root: &Path, count: usize) {
    for (path, text) in files(count) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("in a package")).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// How many modules to generate: 2,000, or `FQ_BENCH_FILES` (a smoke run uses fewer).
pub fn file_count() -> usize {
    match std::env::var("FQ_BENCH_FILES") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("FQ_BENCH_FILES must be a number, not `{v}`")),
        Err(_) => 2_000,
    }
}
