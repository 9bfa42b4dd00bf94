//! The repository config (both files, the loader, and preparing the backends it enables).
#![no_main]

use flext_quality::fuzzing::repo_config::check_repo_config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(why) = check_repo_config(data) {
        panic!("{why}");
    }
});
