//! SARIF import as `flext-quality analyze --sarif FILE` does it: a generated SARIF log (see
//! [`super::tool_output::sarif_doc`]) written to a file and imported into an analysis of a
//! small tree with every built-in backend turned off, so the whole local path runs without a
//! tool: import, fingerprints and lines of code, judgement, and the report in each format.
//!
//! What every log must give: a report (JSON and SARIF output that parse back as JSON) with
//! exit code 0, 1 or 2, or a one-line error for the user.

use super::tool_output::{output, Tool};
use super::Entropy;
use crate::analysis::engine::Engine;
use crate::analysis::jail::{Jail, SandboxSetting};
use crate::analysis::toolchain::Toolchain;
use crate::domain::gate::GateConfig;
use crate::local::{analyse_local, describe_error, Format, LocalOptions};
use std::path::Path;

/// An engine that runs no tool (none is ever enabled by the import's config), unjailed.
pub fn import_engine() -> Engine {
    Engine {
        jail: Jail::new(
            SandboxSetting::Off,
            Toolchain::resolve(Path::new("/nonexistent/flext-quality-fuzz-tools")),
        ),
        timeout: std::time::Duration::from_secs(10),
        result_cache: None,
        tool_cache: None,
        policy: Default::default(),
        sarif_tools: Vec::new(),
        max_findings: 50,
        runs: Default::default(),
    }
}

fn write_tree(root: &Path, e: &mut Entropy) -> std::io::Result<()> {
    std::fs::create_dir_all(root.join("pkg"))?;
    std::fs::write(root.join("a.py"), "import os\nx = 1\n\n# comment\n")?;
    let module: Vec<u8> = match e.below(4) {
        0 => vec![0xff, 0xfe, b'\n', b'x'],
        1 => "y = 2\n".repeat(5000).into_bytes(),
        2 => "z".repeat(200_000).into_bytes(),
        _ => b"def f():\n    return 1\n".to_vec(),
    };
    std::fs::write(root.join("pkg/mod.py"), module)?;
    std::os::unix::fs::symlink("/", root.join("escape"))?;
    // No built-in backend runs: only what is imported is analysed.
    std::fs::write(root.join(".flext-quality.toml"), "[backends]\n")?;
    Ok(())
}

/// Imports one generated SARIF log with `engine` (from [`import_engine`]).
pub async fn check_sarif_import(data: &[u8], engine: &Engine) -> Result<(), String> {
    let mut e = Entropy::new(data);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let root = dir.path().join("repo");
    write_tree(&root, &mut e).map_err(|e| format!("writing the tree: {e}"))?;
    let format = *e.pick(&[Format::Json, Format::Sarif, Format::Markdown, Format::Text]);
    let log = output(Tool::Sarif, &mut e, &root);
    let file = dir.path().join("import.sarif");
    std::fs::write(&file, &log).map_err(|e| e.to_string())?;
    let options = LocalOptions {
        path: root,
        base: None,
        format,
        config: None,
        sarif: vec![file],
        all: true,
    };
    match analyse_local(engine, &GateConfig::default(), &options).await {
        Ok((text, code)) => {
            if code > 2 {
                return Err(format!("exit code {code}"));
            }
            if matches!(format, Format::Json | Format::Sarif) {
                serde_json::from_str::<serde_json::Value>(&text)
                    .map_err(|e| format!("{format:?} report is not JSON: {e}"))?;
            }
            Ok(())
        }
        Err(err) => {
            let said = describe_error(&err);
            if super::is_one_line(&said) {
                Ok(())
            } else {
                Err(format!("import error is not one line: {said:?}"))
            }
        }
    }
}
