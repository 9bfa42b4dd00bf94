//! What a change added, line by line, computed locally with libgit2 (never paged from the
//! API): the lines a pull request or push added (for suppressions it adds), and for the local
//! `analyze --base`, what the working directory added against the base.

use crate::domain::suppression::AddedLine;
use anyhow::{Context, Result};
use git2::{Diff, DiffOptions, Repository, Tree};

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
                    out.push((path.to_string_lossy().replace('\\', "/"), n, text));
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
