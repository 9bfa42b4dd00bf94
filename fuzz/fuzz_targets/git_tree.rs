//! Hostile git trees through fetch, checkout, the tree walk, config reading and the diff.
#![no_main]

use flext_quality::fuzzing::git_tree::check_git_tree;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(why) = check_git_tree(data) {
        panic!("{why}");
    }
});
