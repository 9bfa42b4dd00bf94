//! Every tool-output parser, SARIF import and the repository config against generated input
//! (proptest over the shared generators of `flext_quality::fuzzing`, which the `cargo fuzz`
//! targets in `fuzz/` drive too): documents in each tool's shape with missing, mistyped,
//! absurd and hostile fields, mutated bytes, raw bytes. Each must give an error with a
//! message or a result that keeps the parsers' promises — never a panic.

use flext_quality::fuzzing::repo_config::check_repo_config;
use flext_quality::fuzzing::sarif_import::{check_sarif_import, import_engine};
use flext_quality::fuzzing::tool_output::{check_parser, ParserRoot, Tool};
use proptest::prelude::*;
use std::sync::LazyLock;

static ROOT: LazyLock<ParserRoot> =
    LazyLock::new(|| ParserRoot::new().expect("a temporary repository root"));

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Failures are reported with their input; nothing is written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..2048)
}

fn parses(tool: Tool, data: &[u8]) -> Result<(), TestCaseError> {
    check_parser(tool, data, &ROOT).map_err(TestCaseError::fail)
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn ruff_output(data in input()) { parses(Tool::Ruff, &data)?; }

    #[test]
    fn mypy_output(data in input()) { parses(Tool::Mypy, &data)?; }

    #[test]
    fn bandit_output(data in input()) { parses(Tool::Bandit, &data)?; }

    #[test]
    fn semgrep_output(data in input()) { parses(Tool::Semgrep, &data)?; }

    #[test]
    fn clippy_output(data in input()) { parses(Tool::Clippy, &data)?; }

    #[test]
    fn sarif_output(data in input()) { parses(Tool::Sarif, &data)?; }

    #[test]
    fn repository_config(data in input()) {
        check_repo_config(&data).map_err(TestCaseError::fail)?;
    }
}

proptest! {
    #![proptest_config(config(120))]

    #[test]
    fn sarif_import(data in input()) {
        static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
            tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
        });
        static ENGINE: LazyLock<flext_quality::analysis::engine::Engine> =
            LazyLock::new(import_engine);
        RUNTIME
            .block_on(check_sarif_import(&data, &ENGINE))
            .map_err(TestCaseError::fail)?;
    }
}
