//! Hostile git trees (proptest over `flext_quality::fuzzing::git_tree`): non-UTF-8 and
//! decomposed names, `.`/`..`/`.git`, names with `/`, names past the file system's limit,
//! duplicates, links out of the tree and directories behind them, submodule entries, odd
//! modes, huge files and nesting past `PATH_MAX`, written raw into real repositories, then
//! fetched, checked out, walked, fingerprinted, read as configuration and diffed by our code.
//! Each must give an error with a message or a work tree with nothing written outside it.

use flext_quality::fuzzing::git_tree::check_git_tree;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn hostile_trees(data in prop::collection::vec(any::<u8>(), 0..512)) {
        check_git_tree(&data).map_err(TestCaseError::fail)?;
    }
}

/// Found by `hostile_trees`: the walk named a file `\xff\xfe.py` by a lossy copy of its name
/// (`��.py`), a file that is not there, so tools were asked for it. Such names are left out.
#[test]
fn names_that_are_not_utf8_are_left_out_of_the_walk() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let odd = std::ffi::OsStr::from_bytes(b"\xff\xfe.py");
    std::fs::write(dir.path().join(odd), "x = 1\n").unwrap();
    std::fs::create_dir(dir.path().join(std::ffi::OsStr::from_bytes(b"d\xff"))).unwrap();
    std::fs::write(dir.path().join("a.py"), "x = 1\n").unwrap();
    std::fs::write(
        dir.path()
            .join(std::ffi::OsStr::from_bytes(b"d\xff"))
            .join("b.py"),
        "y = 2\n",
    )
    .unwrap();
    assert_eq!(
        flext_quality::analysis::tree::python_files(dir.path()),
        ["a.py"]
    );
}
