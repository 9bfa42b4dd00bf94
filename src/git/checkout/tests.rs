//! Tests of mirrors and work trees against real git repositories built by the test.

use super::*;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn commit(dir: &Path, file: &str, text: &str) -> String {
    std::fs::write(dir.join(file), text).unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", file]);
    git(dir, &["rev-parse", "HEAD"])
}

#[test]
fn fetch_materialise_and_compare() {
    let origin = tempfile::tempdir().unwrap();
    git(origin.path(), &["init", "-q"]);
    let first = commit(origin.path(), "a.py", "x = 1\n");
    git(origin.path(), &["checkout", "-qb", "feature"]);
    let second = commit(origin.path(), "b.py", "y = 2\n");
    let data = tempfile::tempdir().unwrap();
    let mirrors = Mirrors::new(data.path().join("mirrors"));
    let url = format!("file://{}", origin.path().display());
    let refs = [
        "refs/heads/main".to_owned(),
        "refs/heads/feature".to_owned(),
    ];
    mirrors
        .fetch(7, &url, None, &refs, &[&first, &second])
        .unwrap();

    let roomy = TreeLimits {
        bytes: 1 << 20,
        entries: 100,
    };
    let tree = mirrors.materialise(7, &second, roomy).unwrap();
    let too_many = TreeLimits {
        bytes: 1 << 20,
        entries: 1,
    };
    let err = mirrors.materialise(7, &second, too_many).unwrap_err();
    let err = err.downcast::<TreeTooLarge>().unwrap();
    assert_eq!((err.entries, err.max_entries), (2, 1));
    let too_big = TreeLimits {
        bytes: 3,
        entries: 100,
    };
    let err = mirrors.materialise(7, &second, too_big).unwrap_err();
    assert!(
        err.to_string().contains("FLEXT_QUALITY_MAX_TREE_BYTES"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(tree.path().join("b.py")).unwrap(),
        "y = 2\n"
    );
    assert!(
        !tree.path().join(".git").exists(),
        "a work tree carries no repository"
    );
    let path = tree.path().to_path_buf();
    drop(tree);
    assert!(!path.exists(), "the work tree is removed when dropped");

    assert_eq!(
        mirrors.merge_base(7, &second, &first).unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        mirrors.read_file(7, &first, "a.py").unwrap().as_deref(),
        Some(&b"x = 1\n"[..])
    );
    assert_eq!(mirrors.read_file(7, &first, "b.py").unwrap(), None);

    // Everything wanted is present: no network round trip, even with a dead URL.
    mirrors
        .fetch(7, "file:///nonexistent", None, &refs, &[&first, &second])
        .unwrap();
}

#[test]
fn a_commit_the_refs_do_not_reach_is_a_clear_error() {
    let origin = tempfile::tempdir().unwrap();
    git(origin.path(), &["init", "-q"]);
    commit(origin.path(), "a.py", "x = 1\n");
    let data = tempfile::tempdir().unwrap();
    let mirrors = Mirrors::new(data.path());
    let url = format!("file://{}", origin.path().display());
    let missing = "1111111111111111111111111111111111111111";
    let err = mirrors
        .fetch(1, &url, None, &["refs/heads/main".to_owned()], &[missing])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(missing) && err.contains("not reachable"),
        "{err}"
    );
}

#[test]
fn clone_urls_with_credentials_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let mirrors = Mirrors::new(data.path());
    let err = mirrors
        .fetch(
            1,
            "https://user:pw@example.com/r.git",
            None,
            &["refs/heads/main".to_owned()],
            &["1111111111111111111111111111111111111111"],
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("credentials"), "{err}");
    assert!(!err.contains("pw@"), "{err}");
}

#[test]
fn the_diff_map_follows_edits_renames_and_new_files() {
    let origin = tempfile::tempdir().unwrap();
    git(origin.path(), &["init", "-q"]);
    let long: String = (1..=20).map(|i| format!("value_{i} = {i}\n")).collect();
    std::fs::write(origin.path().join("old.py"), &long).unwrap();
    std::fs::write(origin.path().join("gone.py"), "x = 1\n").unwrap();
    let base = commit(origin.path(), "a.py", "one\ntwo\nthree\n");
    // Edit a.py, rename old.py with a line inserted on top, delete gone.py, add fresh.py.
    git(origin.path(), &["mv", "old.py", "new.py"]);
    std::fs::write(origin.path().join("new.py"), format!("import os\n{long}")).unwrap();
    std::fs::remove_file(origin.path().join("gone.py")).unwrap();
    std::fs::write(origin.path().join("fresh.py"), "y = 2\n").unwrap();
    let head = commit(origin.path(), "a.py", "one\nTWO\nthree\nfour\nfive\n");
    let data = tempfile::tempdir().unwrap();
    let mirrors = Mirrors::new(data.path());
    let url = format!("file://{}", origin.path().display());
    mirrors
        .fetch(
            3,
            &url,
            None,
            &["refs/heads/main".to_owned()],
            &[&base, &head],
        )
        .unwrap();
    let map = mirrors.diff_map(3, &base, &head).unwrap();
    assert!(map.touches("a.py", 2, 2) && map.touches("a.py", 4, 5));
    assert!(!map.touches("a.py", 1, 1) && !map.touches("a.py", 3, 3));
    assert_eq!(map.base_location("a.py", 3), Some(("a.py", 3)));
    assert_eq!(map.base_path("new.py"), Some("old.py"), "{map:?}");
    assert_eq!(map.base_location("new.py", 1), None);
    assert_eq!(map.base_location("new.py", 21), Some(("old.py", 20)));
    assert_eq!(map.base_path("fresh.py"), None);
    assert!(map.touches("fresh.py", 1, 1));
}

/// Every file under `dir` whose path contains `part`.
fn files_under(dir: &Path, part: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().contains(part) {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn a_mirror_damaged_on_disk_is_cloned_again() {
    let origin = tempfile::tempdir().unwrap();
    git(origin.path(), &["init", "-q"]);
    let first = commit(origin.path(), "a.py", "x = 1\n");
    let data = tempfile::tempdir().unwrap();
    let mirrors = Mirrors::new(data.path().join("mirrors"));
    let url = format!("file://{}", origin.path().display());
    let refs = ["refs/heads/main".to_owned()];
    let roomy = TreeLimits {
        bytes: 1 << 20,
        entries: 100,
    };
    mirrors.fetch(9, &url, None, &refs, &[&first]).unwrap();
    let mirror = data.path().join("mirrors").join("9.git");

    // An unreadable HEAD and config: the mirror is made anew on the next fetch.
    std::fs::write(mirror.join("HEAD"), b"\\0garbage\\n").unwrap();
    std::fs::write(mirror.join("config"), b"[core\\n this is not git config").unwrap();
    let second = commit(origin.path(), "b.py", "y = 2\n");
    mirrors.fetch(9, &url, None, &refs, &[&second]).unwrap();
    assert!(mirrors
        .materialise(9, &second, roomy)
        .unwrap()
        .path()
        .join("b.py")
        .is_file());

    // Objects overwritten with garbage: the checkout fails once and discards the mirror; the
    // retry (as a job's would) fetches it again and checks out.
    let objects = files_under(&mirror.join("objects"), "pack");
    assert!(!objects.is_empty(), "the fetch wrote a pack");
    for o in &objects {
        let mut perms = std::fs::metadata(o).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(o, perms).unwrap();
        std::fs::write(o, b"not a pack at all").unwrap();
    }
    let damaged = mirrors.materialise(9, &second, roomy);
    assert!(damaged.is_err());
    assert!(!mirror.exists(), "a damaged mirror is discarded");
    mirrors.fetch(9, &url, None, &refs, &[&second]).unwrap();
    assert!(mirrors
        .materialise(9, &second, roomy)
        .unwrap()
        .path()
        .join("b.py")
        .is_file());
}

#[test]
fn a_full_disk_is_not_taken_for_a_damaged_mirror() {
    let full = git2::Error::new(
        git2::ErrorCode::GenericError,
        git2::ErrorClass::Odb,
        "failed to write object: No space left on device",
    );
    let e = anyhow::Error::new(full).context("fetching refs/heads/main");
    assert!(is_disk_full(&e));
    assert!(!is_damage(&e), "a full disk keeps the mirror");
    let io = anyhow::Error::new(std::io::Error::from_raw_os_error(libc::ENOSPC));
    assert!(is_disk_full(&io));
    let damaged = git2::Error::new(
        git2::ErrorCode::GenericError,
        git2::ErrorClass::Odb,
        "object not found",
    );
    let e = anyhow::Error::new(damaged);
    assert!(!is_disk_full(&e) && is_damage(&e));
}
