//! The backend registry and the configuration files a backend reads.

use super::*;
use testutil::project;

#[test]
fn every_backend_has_valid_defaults_and_a_unique_name() {
    let mut names: Vec<&str> = builtin().iter().map(|b| b.name()).collect();
    for b in builtin() {
        assert!(b.options(None).is_ok(), "{}", b.name());
        assert!(!b.default_mapping().is_empty());
        assert!(find(b.name()).is_some());
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), builtin().len());
}

#[test]
fn local_config_files_never_follow_links() {
    let dir = project(&[
        ("rules/a.yml", "rules: []\n"),
        ("rules/sub/b.yml", "rules: []\n"),
        ("outside/secret.yml", "secret\n"),
    ]);
    let root = dir.path();
    std::os::unix::fs::symlink(root.join("outside/secret.yml"), root.join("rules/link.yml"))
        .unwrap();
    std::os::unix::fs::symlink(root.join("outside"), root.join("linked-dir")).unwrap();
    let files = LocalFiles {
        root: root.to_path_buf(),
    };
    assert_eq!(
        files.read("rules/a.yml").unwrap(),
        Some(b"rules: []\n".to_vec())
    );
    assert_eq!(files.read("missing.yml").unwrap(), None);
    assert!(files
        .read("rules/link.yml")
        .unwrap_err()
        .contains("symbolic link"));
    // A directory with a link in it is refused whole, as is a linked directory.
    assert!(files.list("rules").unwrap_err().contains("symbolic link"));
    assert!(files
        .list("linked-dir")
        .unwrap_err()
        .contains("symbolic link"));
    assert!(files.list("nope").unwrap_err().contains("does not exist"));
    std::fs::remove_file(root.join("rules/link.yml")).unwrap();
    assert_eq!(
        files.list("rules/").unwrap(),
        ["rules/a.yml", "rules/sub/b.yml"]
    );
    let dest = tempfile::tempdir().unwrap();
    copy_config_files(&files, &["rules".to_owned()], dest.path()).unwrap();
    assert!(dest.path().join("rules/sub/b.yml").is_file());
}
