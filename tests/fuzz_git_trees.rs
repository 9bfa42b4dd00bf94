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

/// Found by `hostile_trees` (2026-11-29): a file named `x\y.py` was listed by the walk (and the
/// diff) as `x/y.py`, a path that is not in the work tree, by turning its `\` into a `/`.
#[test]
fn a_walked_file_is_in_the_work_tree() {
    let data: &[u8] = &[
        114, 83, 51, 48, 85, 179, 211, 133, 174, 37, 33, 204, 109, 103, 19, 146, 101, 87, 21, 223,
        64, 60, 132, 169, 129, 213, 4, 251, 32, 131, 162, 5, 132, 29, 92, 181, 204, 121, 190, 111,
        231, 147, 95, 78, 147, 142, 74, 186, 241, 212, 160, 100, 226, 88, 140, 196, 198, 38, 195,
        173, 0, 158, 206, 153, 66, 180, 194, 160, 125, 60, 14, 180, 26, 46, 116, 241, 167, 82, 8,
        18, 94, 187, 31, 144, 92, 151, 51, 87, 116, 214, 160, 28, 34, 52, 99, 8, 143, 160, 5, 234,
        68, 74, 119, 26, 85, 74, 48, 109, 207, 126, 69, 188, 92, 248, 165, 116, 226, 82, 135, 123,
        151, 171, 243, 13, 247, 252, 31, 226, 38, 91, 206, 152, 7, 129, 238, 45, 203, 76, 163, 40,
        55, 46, 24, 97, 117, 186, 225, 178, 26, 212, 50, 161, 162, 42, 84, 29, 123, 141, 24, 145,
        21, 83, 249, 193, 141, 114, 205, 244, 15, 187, 10, 173, 16, 70, 157, 24, 140, 89, 93, 246,
        183, 250, 192, 39, 155, 146, 70, 157, 49, 21, 194, 95, 71, 79, 245, 160, 20, 126, 232, 176,
        10, 29, 191, 249, 129, 242, 232, 34, 46, 56, 196, 184, 206, 197, 9, 208, 97, 93, 51, 94, 7,
        95, 199, 34, 44, 240, 157, 228, 77, 212, 118, 202, 30, 242, 46, 213, 122, 130, 197, 103,
        91, 119, 160, 73, 195, 245, 41, 119, 1, 7, 152, 186, 225, 97, 118, 112, 94, 89, 140, 96,
        204, 231, 18, 252, 127, 76,
    ];
    check_git_tree(data).unwrap();
}
