//! Git trees as a hostile pusher can make them: names that are not UTF-8, decomposed
//! Unicode, `.`/`..`/`.git`, names holding a `/`, empty names, names too long for the file
//! system, duplicate names, a link and a directory of the same name; links anywhere
//! (absolute, up and out, to themselves); submodule entries; odd file modes; huge files, and
//! directories nested past `PATH_MAX`. The tree objects are written raw, so nothing on the
//! way checks them.
//!
//! Each tree is committed twice (a base and a changed head) into a real bare repository, then
//! goes through our code as a job would: fetched into a mirror, checked out by
//! [`Mirrors::materialise`] under tree limits, walked by `analysis/tree.rs`, fingerprinted and
//! measured, copied, read as configuration by [`CommitFiles`], and diffed.
//!
//! What every tree must give: an error with a message, or a work tree with nothing written
//! outside it, whose walk names only files that are there, inside it.

use super::Entropy;
use crate::analysis::backends::{copy_config_files, ConfigFiles, TreeFacts};
use crate::analysis::repo_config::load_repo_config;
use crate::analysis::tree;
use crate::domain::finding::{Category, RawFinding, Severity};
use crate::git::checkout::{Mirrors, TreeLimits};
use crate::git::config_files::CommitFiles;
use git2::{ObjectType, Oid, Repository};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

/// A tree entry as written into the object.
#[derive(Debug, Clone)]
pub enum Node {
    Blob { data: Vec<u8>, mode: u32 },
    Link(Vec<u8>),
    Submodule([u8; 20]),
    Dir(Vec<(Vec<u8>, Node)>),
}

const LONG: usize = 256;

fn name(e: &mut Entropy) -> Vec<u8> {
    const POOL: &[&[u8]] = &[
        b"a.py",
        b"mod.py",
        b"lib.rs",
        b"Cargo.toml",
        b".flext-quality.toml",
        b"pyproject.toml",
        b".gitmodules",
        b"rules",
        b"pkg",
        b"\xff\xfe.py",
        b"caf\xc3\xa9.py",
        b"cafe\xcc\x81.py",
        b"..",
        b".",
        b".git",
        b".GIT",
        b"git~1",
        b"a/b.py",
        b"",
        b"-rf.py",
        b" .py",
        b"x\ny.py",
        b"x\\y.py",
        b"node_modules",
        b"target",
        b"tests",
        b"*.py",
        b"%2e%2e",
        b"link",
    ];
    match e.below(12) {
        0 => {
            let mut n = vec![b'n'; LONG - 3 + e.below(3)];
            n.extend_from_slice(b".py");
            n
        }
        1 => e
            .bytes(12)
            .into_iter()
            .map(|b| if b == 0 { b'_' } else { b })
            .collect(),
        _ => e.pick(POOL).to_vec(),
    }
}

fn content(e: &mut Entropy) -> Vec<u8> {
    match e.below(10) {
        0 => Vec::new(),
        1 => vec![0, 0xff, 0xfe, b'\n', 0x80],
        2 => vec![b'x'; 1 + e.below(3 << 20)],
        3 => "import os\n".repeat(1 + e.below(20_000)).into_bytes(),
        4 => super::repo_config::config_text(
            e,
            crate::analysis::repo_config::ConfigSource::FlextToml,
        )
        .into_bytes(),
        5 => b"[tool.flext-quality.gate]\nmin_score = 50\n".to_vec(),
        6 => b"rules: []\n".to_vec(),
        _ => b"import subprocess\n\ndef f(x):\n    eval(x)\n    assert x\n".to_vec(),
    }
}

fn link_target(e: &mut Entropy, outside: &Path) -> Vec<u8> {
    match e.below(10) {
        0 => outside.as_os_str().as_encoded_bytes().to_vec(),
        1 => b"/etc/passwd".to_vec(),
        2 => b"../../../..".to_vec(),
        3 => b"/".to_vec(),
        4 => b"link".to_vec(),
        5 => b"\xff\xfe".to_vec(),
        6 => vec![b'l'; 5000],
        7 => Vec::new(),
        _ => b"a.py".to_vec(),
    }
}

/// A node; `outside` is a directory links may point at, which must stay empty.
pub fn node(e: &mut Entropy, depth: u8, outside: &Path) -> Node {
    match e.below(12) {
        0..=4 => Node::Blob {
            data: content(e),
            mode: *e.pick(&[0o100644, 0o100644, 0o100755, 0o100664, 0o100000, 0o644]),
        },
        5 => Node::Link(link_target(e, outside)),
        6 => {
            let mut id = [0u8; 20];
            id.iter_mut().for_each(|b| *b = e.byte());
            Node::Submodule(id)
        }
        _ if depth > 0 => Node::Dir(
            (0..e.below(5))
                .map(|_| (name(e), node(e, depth - 1, outside)))
                .collect(),
        ),
        _ => Node::Blob {
            data: b"x = 1\n".to_vec(),
            mode: 0o100644,
        },
    }
}

/// A whole tree: some entries, sometimes a chain of directories deep or long enough to
/// pass `PATH_MAX`, sometimes a link and a directory of the same name leading `outside`.
pub fn root(e: &mut Entropy, outside: &Path) -> Node {
    let mut entries: Vec<(Vec<u8>, Node)> = (0..1 + e.below(6))
        .map(|_| (name(e), node(e, 3, outside)))
        .collect();
    if e.one_in(4) {
        let long = e.flag();
        let mut chain = Node::Blob {
            data: b"x = 1\n".to_vec(),
            mode: 0o100644,
        };
        for _ in 0..1 + e.below(if long { 24 } else { 300 }) {
            let segment = if long { vec![b'd'; 250] } else { b"d".to_vec() };
            chain = Node::Dir(vec![(segment, chain), (b"m.py".to_vec(), chain_leaf())]);
        }
        entries.push((b"deep".to_vec(), chain));
    }
    if e.one_in(4) {
        entries.push((
            b"esc".to_vec(),
            Node::Link(outside.as_os_str().as_encoded_bytes().to_vec()),
        ));
        entries.push((
            b"esc".to_vec(),
            Node::Dir(vec![(
                b"pwned.py".to_vec(),
                Node::Blob {
                    data: b"x = 1\n".to_vec(),
                    mode: 0o100644,
                },
            )]),
        ));
    }
    Node::Dir(entries)
}

fn chain_leaf() -> Node {
    Node::Blob {
        data: b"y = 2\n".to_vec(),
        mode: 0o100644,
    }
}

/// A changed copy of `base`: entries added, removed or replaced at the top.
pub fn change(e: &mut Entropy, base: &Node, outside: &Path) -> Node {
    let Node::Dir(entries) = base else {
        return root(e, outside);
    };
    let mut entries = entries.clone();
    for _ in 0..1 + e.below(3) {
        match e.below(3) {
            0 if !entries.is_empty() => {
                let i = e.below(entries.len());
                entries.remove(i);
            }
            1 if !entries.is_empty() => {
                let i = e.below(entries.len());
                entries[i].1 = node(e, 2, outside);
            }
            _ => entries.push((name(e), node(e, 2, outside))),
        }
    }
    Node::Dir(entries)
}

/// Writes `node` into `repo`'s object database as is (raw tree objects, no checks); its mode
/// and id.
pub fn write(repo: &Repository, node: &Node) -> Result<(u32, Oid), git2::Error> {
    let odb = repo.odb()?;
    Ok(match node {
        Node::Blob { data, mode } => (*mode, odb.write(ObjectType::Blob, data)?),
        Node::Link(target) => (0o120000, odb.write(ObjectType::Blob, target)?),
        Node::Submodule(id) => (0o160000, Oid::from_bytes(id)?),
        Node::Dir(entries) => {
            let mut written: Vec<(Vec<u8>, u32, Oid)> = Vec::new();
            for (name, child) in entries {
                let (mode, oid) = write(repo, child)?;
                written.push((name.clone(), mode, oid));
            }
            // Git's order: by name, a directory's name compared as if it ended in `/`.
            let key = |(name, mode, _): &(Vec<u8>, u32, Oid)| {
                let mut k = name.clone();
                if *mode == 0o40000 {
                    k.push(b'/');
                }
                k
            };
            written.sort_by_key(key);
            let mut bytes = Vec::new();
            for (name, mode, oid) in written {
                bytes.extend_from_slice(format!("{mode:o} ").as_bytes());
                bytes.extend_from_slice(&name);
                bytes.push(0);
                bytes.extend_from_slice(oid.as_bytes());
            }
            (0o40000, odb.write(ObjectType::Tree, &bytes)?)
        }
    })
}

/// Commits the tree `tree` (with `parent`) as raw object and points `refname` at it.
fn commit(
    repo: &Repository,
    tree: Oid,
    parent: Option<Oid>,
    refname: &str,
) -> Result<Oid, git2::Error> {
    let mut text = format!("tree {tree}\n");
    if let Some(p) = parent {
        text.push_str(&format!("parent {p}\n"));
    }
    text.push_str("author F <f@example.com> 1700000000 +0000\n");
    text.push_str("committer F <f@example.com> 1700000000 +0000\n\nfuzz\n");
    let oid = repo.odb()?.write(ObjectType::Commit, text.as_bytes())?;
    repo.reference(refname, oid, true, "fuzz")?;
    Ok(oid)
}

/// Every path under `dir` (not following links), relative, except under `skip`.
fn snapshot(dir: &Path, skip: &[&Path]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if skip.iter().any(|s| d.starts_with(s)) {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            if skip.iter().any(|s| p.starts_with(s)) {
                continue;
            }
            out.insert(
                p.strip_prefix(dir)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .into_owned(),
            );
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            }
        }
    }
    out
}

fn error_said(what: &str, e: &anyhow::Error) -> Result<(), String> {
    if format!("{e:#}").trim().is_empty() {
        Err(format!("{what} failed without a message"))
    } else {
        Ok(())
    }
}

/// Checks what the tree walk reported: relative paths of entries that are there.
fn check_walk(wt: &Path, what: &str, paths: &[String], files: bool) -> Result<(), String> {
    for p in paths {
        if p.is_empty() || p.starts_with('/') || p.split('/').any(|c| c == "..") {
            return Err(format!(
                "{what}: {p:?} is not a relative path inside the tree"
            ));
        }
        let meta = std::fs::symlink_metadata(wt.join(p))
            .map_err(|e| format!("{what}: {p:?} is not in the work tree ({e})"))?;
        if files && !meta.is_file() {
            return Err(format!("{what}: {p:?} is not a regular file"));
        }
    }
    Ok(())
}

/// Builds one generated pair of commits and takes them through checkout, the tree walk,
/// configuration reading and the diff.
pub fn check_git_tree(data: &[u8]) -> Result<(), String> {
    let mut e = Entropy::new(data);
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).map_err(|e| e.to_string())?;
    let origin_path = tmp.path().join("origin.git");
    let origin = Repository::init_bare(&origin_path).map_err(|e| e.to_string())?;
    let base_tree = root(&mut e, &outside);
    let head_tree = change(&mut e, &base_tree, &outside);
    let (_, base_oid) = write(&origin, &base_tree).map_err(|e| e.to_string())?;
    let (_, head_oid) = write(&origin, &head_tree).map_err(|e| e.to_string())?;
    let base = commit(&origin, base_oid, None, "refs/heads/base").map_err(|e| e.to_string())?;
    let head =
        commit(&origin, head_oid, Some(base), "refs/heads/main").map_err(|e| e.to_string())?;
    let (base, head) = (base.to_string(), head.to_string());

    let data_dir = tmp.path().join("data");
    let mirrors = Arc::new(Mirrors::new(data_dir.join("mirrors")));
    let url = format!("file://{}", origin_path.display());
    let refs = ["refs/heads/main".to_owned(), "refs/heads/base".to_owned()];
    if let Err(err) = mirrors.fetch(1, &url, None, &refs, &[&head, &base]) {
        return error_said("fetch", &err);
    }
    let limits = if e.one_in(4) {
        TreeLimits {
            bytes: e.below(1 << 20) as u64,
            entries: e.below(50) as u64,
        }
    } else {
        TreeLimits {
            bytes: 1 << 30,
            entries: 100_000,
        }
    };
    let mirrors_dir = data_dir.join("mirrors");
    let before = snapshot(tmp.path(), &[&mirrors_dir]);
    match mirrors.materialise(1, &head, limits) {
        Err(err) => error_said("checkout", &err)?,
        Ok(wt) => {
            let after = snapshot(tmp.path(), &[&mirrors_dir, wt.path()]);
            let created: Vec<&String> = after
                .difference(&before)
                .filter(|p| p.as_str() != "data/worktrees")
                .collect();
            if !created.is_empty() {
                return Err(format!("checkout wrote outside its work tree: {created:?}"));
            }
            check_work_tree(wt.path(), tmp.path())?;
        }
    }
    if std::fs::read_dir(&outside).map_or(0, |d| d.count()) > 0 {
        return Err("something was written through a link out of the tree".into());
    }
    let files = CommitFiles {
        mirrors: mirrors.clone(),
        repo_id: 1,
        sha: head.clone(),
    };
    let _ = load_repo_config(|name| {
        files
            .read(name)
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    });
    for path in [
        "rules",
        "",
        ".",
        "pkg/",
        "a.py",
        "esc",
        "deep/d",
        "../x",
        "link/a.py",
    ] {
        let _ = files.list(path);
        let _ = files.read(path);
        let _ = mirrors.read_file(1, &head, path);
    }
    let dest = tmp.path().join("config-copy");
    let _ = copy_config_files(&files, &["rules".to_owned(), "pkg".to_owned()], &dest);
    if std::fs::read_dir(&outside).map_or(0, |d| d.count()) > 0 {
        return Err("copying config files wrote through a link out of the tree".into());
    }
    if let Err(err) = mirrors.diff_map(1, &base, &head) {
        error_said("diff", &err)?;
    }
    if let Err(err) = mirrors.added_lines(1, &base, &head) {
        error_said("added lines", &err)?;
    }
    Ok(())
}

/// The analysis side of a work tree: the walk, fingerprints and lines of code, a copy.
fn check_work_tree(wt: &Path, tmp: &Path) -> Result<(), String> {
    let python = tree::python_files(wt);
    let rust = tree::source_files(wt, &[".rs"]);
    let links = tree::links(wt);
    check_walk(wt, "python files", &python, true)?;
    check_walk(wt, "rust files", &rust, true)?;
    check_walk(wt, "links", &links, false)?;
    let facts = TreeFacts {
        python_files: python.clone(),
        rust_files: rust,
        links: links.clone(),
        has_cargo_toml: wt.join("Cargo.toml").is_file(),
        python_digests: Default::default(),
    };
    let mut paths: Vec<String> = python.iter().take(5).cloned().collect();
    paths.extend(links.iter().take(3).cloned());
    paths.extend(["deep/d/m.py".to_owned(), "esc/pwned.py".to_owned()]);
    let raw: Vec<RawFinding> = paths
        .iter()
        .enumerate()
        .map(|(i, path)| RawFinding {
            backend: "ruff".into(),
            rule: "E501".into(),
            category: Category::Maintainability,
            severity: Severity::Minor,
            message: "line too long".into(),
            path: path.clone(),
            start_line: [1, 2, u32::MAX][i % 3],
            end_line: [1, 2, u32::MAX][i % 3],
            start_column: None,
            end_column: None,
            help_url: None,
            effort_minutes: 1,
        })
        .collect();
    let (findings, _ncloc) = tree::fingerprint_and_measure(wt, raw, &facts, &[]);
    if findings.iter().any(|f| f.fingerprint.is_empty()) {
        return Err("a finding without a fingerprint".into());
    }
    let copy = tmp.join("copy");
    if std::fs::create_dir(&copy).is_ok() && tree::copy_tree(wt, &copy).is_ok() {
        let copied = tree::python_files(&copy);
        if copied != python {
            return Err(format!(
                "the copy has other Python files: {copied:?} against {python:?}"
            ));
        }
    }
    Ok(())
}
