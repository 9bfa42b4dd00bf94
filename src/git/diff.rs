//! What a change did, computed locally with libgit2 (never paged from the API): the lines a
//! pull request or push added (for suppressions it adds) and its line map (renames detected),
//! and for the local `analyze --base`, the same for the working directory against the base.

use crate::domain::diffmap::{DiffMap, FileChange, Hunk};
use crate::domain::suppression::AddedLine;
use anyhow::{Context, Result};
use git2::{Delta, Diff, DiffFindOptions, DiffOptions, Repository, Tree};
use std::cell::RefCell;
use std::collections::BTreeMap;

fn options() -> DiffOptions {
    let mut o = DiffOptions::new();
    o.context_lines(0);
    o
}

fn collect(diff: &Diff<'_>) -> Result<Vec<AddedLine>> {
    let mut out = Vec::new();
    diff.foreach(
        &mut |_, _| true,
        None,
        None,
        Some(&mut |delta, _hunk, line| {
            if line.origin() == '+' {
                if let (Some(path), Some(n)) = (delta.new_file().path(), line.new_lineno()) {
                    let text = String::from_utf8_lossy(line.content())
                        .trim_end_matches(['\n', '\r'])
                        .to_owned();
                    out.push((slash_path(path), n, text));
                }
            }
            true
        }),
    )
    .context("reading the diff")?;
    Ok(out)
}

/// Lines added going from `old` to `new`.
pub fn added_lines(repo: &Repository, old: &Tree<'_>, new: &Tree<'_>) -> Result<Vec<AddedLine>> {
    let mut o = options();
    let diff = repo
        .diff_tree_to_tree(Some(old), Some(new), Some(&mut o))
        .context("diffing two commits")?;
    collect(&diff)
}

/// Lines the working directory (uncommitted and untracked files included) added to `old`.
pub fn added_lines_in_workdir(repo: &Repository, old: &Tree<'_>) -> Result<Vec<AddedLine>> {
    let mut o = options();
    o.include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true);
    let diff = repo
        .diff_tree_to_workdir_with_index(Some(old), Some(&mut o))
        .context("diffing the working directory")?;
    collect(&diff)
}

/// Git separates components with `/` already; a `\` is part of a name and stays.
fn slash_path(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The line map of a diff, with renamed files found by content (git's rename detection).
fn line_map(diff: &mut Diff<'_>) -> Result<DiffMap> {
    let mut find = DiffFindOptions::new();
    find.renames(true).for_untracked(true);
    diff.find_similar(Some(&mut find))
        .context("detecting renames")?;
    // Both callbacks fill it, one after the other.
    let changes: RefCell<BTreeMap<String, FileChange>> = RefCell::default();
    diff.foreach(
        &mut |delta, _| {
            let (Some(new), old) = (delta.new_file().path(), delta.old_file().path()) else {
                return true;
            };
            let change = match (delta.status(), old) {
                (Delta::Modified | Delta::Renamed, Some(old)) => FileChange::Modified {
                    base_path: slash_path(old),
                    hunks: Vec::new(),
                },
                (Delta::Deleted, _) => return true,
                // Added, untracked, copied, a file that became a link or the reverse: nothing
                // in it is the base's.
                _ => FileChange::Added,
            };
            changes.borrow_mut().insert(slash_path(new), change);
            true
        },
        None,
        Some(&mut |delta, hunk| {
            let mut changes = changes.borrow_mut();
            if let Some(FileChange::Modified { hunks, .. }) = delta
                .new_file()
                .path()
                .and_then(|p| changes.get_mut(&slash_path(p)))
            {
                hunks.push(Hunk {
                    old_start: hunk.old_start(),
                    old_lines: hunk.old_lines(),
                    new_start: hunk.new_start(),
                    new_lines: hunk.new_lines(),
                });
            }
            true
        }),
        None,
    )
    .context("reading the diff")?;
    let mut map = DiffMap::new();
    for (path, change) in changes.into_inner() {
        map.insert(path, change);
    }
    Ok(map)
}

/// How going from `old` to `new` moved each file's lines.
pub fn diff_map(repo: &Repository, old: &Tree<'_>, new: &Tree<'_>) -> Result<DiffMap> {
    let mut o = options();
    let mut diff = repo
        .diff_tree_to_tree(Some(old), Some(new), Some(&mut o))
        .context("diffing two commits")?;
    line_map(&mut diff)
}

/// How the working directory (uncommitted and untracked files included) moved `old`'s lines.
pub fn diff_map_to_workdir(repo: &Repository, old: &Tree<'_>) -> Result<DiffMap> {
    let mut o = options();
    o.include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true);
    let mut diff = repo
        .diff_tree_to_workdir_with_index(Some(old), Some(&mut o))
        .context("diffing the working directory")?;
    line_map(&mut diff)
}
