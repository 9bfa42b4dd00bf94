//! Benchmark: `flext-quality analyze` on a generated Python repository of about 2,000 files,
//! against the same tools run bare, in one run. See benches/README.md.
//!
//! Prints: each bare tool's time and their sum; `analyze` cold (empty cache) in the jail and
//! without it; `analyze` after one file changed; and the ratios with their targets (≤ 1.10×
//! and ≤ 0.2×), plus what the jail costs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const FILES: usize = 2_000;

fn module(i: usize) -> String {
    // Realistic, varied code with a few findings per file for every tool.
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

fn generate(root: &Path) {
    for i in 0..FILES {
        let dir = root.join(format!("pkg{}", i / 100));
        std::fs::create_dir_all(&dir).unwrap();
        if i % 100 == 0 {
            std::fs::write(dir.join("__init__.py"), "").unwrap();
        }
        std::fs::write(dir.join(format!("mod{i}.py")), module(i)).unwrap();
    }
}

fn timed(name: &str, cmd: &mut Command) -> Duration {
    let started = Instant::now();
    let out = cmd.output().unwrap_or_else(|e| panic!("{name}: {e}"));
    let elapsed = started.elapsed();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{name} failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn tools_dir() -> PathBuf {
    std::env::var("FLEXT_QUALITY_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| flext_quality::config::default_tools_dir())
}

fn tool(name: &str) -> PathBuf {
    let p = tools_dir().join("venv/bin").join(name);
    assert!(
        p.is_file(),
        "{} missing: run `flext-quality tools install` (scripts/test.sh does)",
        p.display()
    );
    p
}

fn main() {
    let repo = tempfile::tempdir().unwrap();
    generate(repo.path());
    let root = repo.path();
    let python_files: Vec<String> = {
        let mut v = Vec::new();
        for d in std::fs::read_dir(root).unwrap() {
            for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
                v.push(
                    f.unwrap()
                        .path()
                        .strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
        v.sort();
        v
    };
    println!(
        "generated {} Python files in {}",
        python_files.len(),
        root.display()
    );

    // The tools run bare, one after another, as a CI script would; each cold.
    let scratch = tempfile::tempdir().unwrap();
    let ruff = timed(
        "ruff",
        Command::new(tool("ruff"))
            .args([
                "check",
                "--output-format=json",
                "--exit-zero",
                "--isolated",
                "--no-cache",
                ".",
            ])
            .current_dir(root),
    );
    let mypy = timed(
        "mypy",
        Command::new(tool("mypy"))
            .args([
                "--output",
                "json",
                "--no-error-summary",
                "--show-column-numbers",
                "--cache-dir",
            ])
            .arg(scratch.path().join("mypy"))
            .arg(".")
            .current_dir(root),
    );
    let bandit = timed(
        "bandit",
        Command::new(tool("bandit"))
            .args(["-f", "json", "-q", "-r", "."])
            .current_dir(root),
    );
    let bare = ruff + mypy + bandit;
    println!("bare ruff    {:>8.2} s", ruff.as_secs_f64());
    println!("bare mypy    {:>8.2} s", mypy.as_secs_f64());
    println!("bare bandit  {:>8.2} s", bandit.as_secs_f64());
    println!("bare total   {:>8.2} s  (sequential)", bare.as_secs_f64());
    println!(
        "bare slowest {:>8.2} s  (the floor for running them concurrently)",
        ruff.max(mypy).max(bandit).as_secs_f64()
    );

    let bin = env!("CARGO_BIN_EXE_flext-quality");
    let command = |data: &Path, sandbox: &str| {
        let mut c = Command::new(bin);
        c.args(["analyze", "--format", "json", "--sandbox", sandbox])
            .arg(root)
            .env("FLEXT_QUALITY_DATA_DIR", data)
            .env("FLEXT_QUALITY_TOOLS_DIR", tools_dir())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null());
        c
    };
    // Without the jail, cold (its own empty cache): what the jail costs.
    let unjailed_data = tempfile::tempdir().unwrap();
    let unjailed = timed(
        "analyze (cold, no jail)",
        &mut command(unjailed_data.path(), "off"),
    );
    let data = tempfile::tempdir().unwrap();
    let analyze = || command(data.path(), "required");
    let cold = timed("analyze (cold)", &mut analyze());
    let changed_file = root.join(&python_files[python_files.len() / 2]);
    let mut text = std::fs::read_to_string(&changed_file).unwrap();
    text.push_str("\n\ndef added() -> int:\n    return undefined_name\n");
    std::fs::write(&changed_file, text).unwrap();
    let warm = timed("analyze (one file changed)", &mut analyze());

    println!("analyze cold, no jail {:>8.2} s", unjailed.as_secs_f64());
    println!("analyze cold (jail)   {:>8.2} s", cold.as_secs_f64());
    println!("analyze 1 file changed {:>7.2} s", warm.as_secs_f64());
    let cold_ratio = cold.as_secs_f64() / bare.as_secs_f64();
    let warm_ratio = warm.as_secs_f64() / cold.as_secs_f64();
    println!(
        "cold / bare tools     {cold_ratio:>8.2}×  (target ≤ 1.10×) {}",
        if cold_ratio <= 1.10 { "met" } else { "MISSED" }
    );
    println!(
        "changed / cold        {warm_ratio:>8.2}×  (target ≤ 0.20×) {}",
        if warm_ratio <= 0.20 { "met" } else { "MISSED" }
    );
    println!(
        "jail / no jail        {:>8.2}×  (what the jail costs, cold)",
        cold.as_secs_f64() / unjailed.as_secs_f64()
    );
}
