//! `analyze --sarif FILE` with only the import: import, judgement and every report format.
#![no_main]

use flext_quality::analysis::engine::Engine;
use flext_quality::fuzzing::sarif_import::{check_sarif_import, import_engine};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
});
static ENGINE: LazyLock<Engine> = LazyLock::new(import_engine);

fuzz_target!(|data: &[u8]| {
    if let Err(why) = RUNTIME.block_on(check_sarif_import(data, &ENGINE)) {
        panic!("{why}");
    }
});
