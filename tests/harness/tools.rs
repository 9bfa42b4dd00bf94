//! The pinned analysis tools, as the tests find them: `FLEXT_QUALITY_TOOLS_DIR` (where the test
//! script installs them), or the app's default tools dir, `/venv/bin`.

use std::path::PathBuf;

pub fn tools_dir() -> PathBuf {
    std::env::var_os("FLEXT_QUALITY_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(flext_quality::config::default_tools_dir)
}

/// The tool in the tools' virtual environment; a missing one fails the test, never skips it.
pub fn tool(name: &str) -> PathBuf {
    let path = tools_dir().join("venv/bin").join(name);
    assert!(
        path.is_file(),
        "{name} is not installed at {}: run `flext-quality tools install` or scripts/test.sh (set FLEXT_QUALITY_TOOLS_DIR to use another tools dir)",
        path.display()
    );
    path
}
