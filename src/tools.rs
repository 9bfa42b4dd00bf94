//! The analysis tools' pinned versions and their installation into a virtual environment in
//! the tools dir (`flext-quality tools install`; `serve`, `worker` and `analyze` do it when the
//! tools are missing).

use anyhow::{bail, Context, Result};
use std::path::Path;

/// The pins, one requirement a line, shared with `.ci/run` through `tools/requirements.txt`.
pub const REQUIREMENTS: &str = include_str!("../tools/requirements.txt");

const MARKER: &str = ".flext-quality-requirements";

/// True when the virtual environment holds exactly the pinned tools.
pub fn is_installed(tools_dir: &Path) -> bool {
    std::fs::read_to_string(tools_dir.join("venv").join(MARKER)).is_ok_and(|m| m == REQUIREMENTS)
}

/// Creates `<tools_dir>/venv` and installs the pinned tools with pip. Blocking.
pub fn install(tools_dir: &Path) -> Result<()> {
    if is_installed(tools_dir) {
        return Ok(());
    }
    let venv = tools_dir.join("venv");
    std::fs::create_dir_all(tools_dir)
        .with_context(|| format!("creating {}", tools_dir.display()))?;
    let out = std::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .context("running python3 -m venv (is Python 3 installed?)")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let hint = if err.contains("ensurepip") {
            " (on Debian or Ubuntu, install the python3-venv package)"
        } else {
            ""
        };
        bail!(
            "python3 -m venv {} failed{hint}: {}",
            venv.display(),
            err.lines().last().unwrap_or("").trim()
        );
    }
    let requirements = tools_dir.join("requirements.txt");
    std::fs::write(&requirements, REQUIREMENTS)?;
    let status = std::process::Command::new(venv.join("bin").join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(&requirements)
        .status()
        .context("running pip")?;
    if !status.success() {
        bail!(
            "pip could not install the pinned tools from {}",
            requirements.display()
        );
    }
    std::fs::write(venv.join(MARKER), REQUIREMENTS)?;
    Ok(())
}

/// At server start: install the tools if they are missing, saying so clearly either way.
pub async fn ensure_installed(tools_dir: &Path) {
    if is_installed(tools_dir) {
        return;
    }
    tracing::warn!(dir = %tools_dir.display(), "analysis tools are missing; installing the pinned versions now");
    let dir = tools_dir.to_path_buf();
    match tokio::task::spawn_blocking(move || install(&dir)).await {
        Ok(Ok(())) => tracing::info!("analysis tools installed"),
        Ok(Err(e)) => {
            tracing::error!(error = %format!("{e:#}"), "analysis tools could not be installed; backends will report as failed")
        }
        Err(e) => tracing::error!(error = %e, "tool installation task failed"),
    }
}
