//! The mypy output parser (module `parse` and the backend's) on generated output.
#![no_main]

use flext_quality::fuzzing::tool_output::{check_parser, ParserRoot, Tool};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static ROOT: LazyLock<ParserRoot> = LazyLock::new(|| ParserRoot::new().expect("a temporary root"));

fuzz_target!(|data: &[u8]| {
    if let Err(why) = check_parser(Tool::Mypy, data, &ROOT) {
        panic!("{why}");
    }
});
