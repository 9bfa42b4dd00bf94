//! The real `flext-quality analyze` binary run as a user would: a fresh data dir per run, the
//! pinned tools, from a scratch directory; and the projects and git repositories it runs on.

use super::tools::{tool, tools_dir};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `flext-quality analyze PATH ARGS…` with a fresh data dir, run from a scratch directory.
pub fn analyze(path: &Path, args: &[&str]) -> Output {
    analyze_with(path, args, &[])
}

/// `analyze` with extra environment variables.
pub fn analyze_with(path: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    for name in ["ruff", "mypy", "bandit", "semgrep"] {
        tool(name);
    }
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flext-quality"))
        .arg("analyze")
        .arg(path)
        .args(args)
        .current_dir(data.path())
        .env_remove("DATABASE_URL")
        .env_remove("FLEXT_QUALITY_POLICY_FILE")
        .env_remove("FLEXT_QUALITY_SARIF_TOOLS")
        .env("FLEXT_QUALITY_DATA_DIR", data.path())
        .env("FLEXT_QUALITY_TOOLS_DIR", tools_dir())
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .expect("running flext-quality");
    Output {
        code: out.status.code().expect("exited with a code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn findings(json: &Value) -> Vec<&Value> {
    json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .collect()
}

pub fn backend<'a>(json: &'a Value, name: &str) -> &'a Value {
    let all = json["backends"].as_array().expect("backends");
    let by_name: BTreeMap<&str, &Value> = all
        .iter()
        .map(|b| (b["name"].as_str().unwrap(), b))
        .collect();
    by_name
        .get(name)
        .unwrap_or_else(|| panic!("no backend {name}: {all:#?}"))
}

pub fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

pub fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git is installed");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
