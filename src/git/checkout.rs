//! Mirrors and work trees.
//!
//! Each repository has a bare mirror under `<data dir>/mirrors/<repo id>.git`. A fetch asks only
//! for the refs the job needs (the pull request head, the base branch); the token is handed to
//! libgit2 through the credentials callback, so it is never part of a URL or written to disk.

use anyhow::{bail, Context, Result};
use git2::{FetchOptions, Oid, RemoteCallbacks, Repository};
use secrecy::{ExposeSecret, SecretString};
use std::path::{Path, PathBuf};

pub struct Mirrors {
    root: PathBuf,
}

/// The largest tree a commit may have to be checked out: its bytes and its entries (files,
/// directories, links). A commit over either is refused with both numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeLimits {
    pub bytes: u64,
    pub entries: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the commit is too large to analyse: counting stopped at {entries} entries and {bytes} bytes, over the limit of {max_entries} entries or {max_bytes} bytes (FLEXT_QUALITY_MAX_TREE_ENTRIES, FLEXT_QUALITY_MAX_TREE_BYTES)")]
pub struct TreeTooLarge {
    pub entries: u64,
    pub bytes: u64,
    pub max_entries: u64,
    pub max_bytes: u64,
}

/// Where a commit's files were written; removed when dropped.
#[derive(Debug)]
pub struct WorkTree {
    dir: tempfile::TempDir,
}

impl WorkTree {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Mirrors {
    pub fn new(root: impl Into<PathBuf>) -> Mirrors {
        Mirrors { root: root.into() }
    }

    fn mirror_path(&self, repo_id: i64) -> PathBuf {
        self.root.join(format!("{repo_id}.git"))
    }

    /// Opens the mirror of a repository, creating it if needed.
    pub fn open(&self, repo_id: i64) -> Result<Repository> {
        let path = self.mirror_path(repo_id);
        if path.join("HEAD").exists() {
            match Repository::open_bare(&path) {
                Ok(repo) => return Ok(repo),
                // A mirror is a cache of the repository: one that cannot be opened is made anew.
                Err(e) => {
                    tracing::warn!(mirror = %path.display(), error = %e.message(), "mirror unreadable; cloning it again");
                    self.discard(repo_id)?;
                }
            }
        }
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("creating {}", self.root.display()))?;
        Repository::init_bare(&path).with_context(|| format!("creating mirror {}", path.display()))
    }

    /// Removes a repository's mirror (the next fetch clones it again).
    fn discard(&self, repo_id: i64) -> Result<()> {
        let path = self.mirror_path(repo_id);
        match std::fs::remove_dir_all(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("removing mirror {}", path.display())),
        }
    }

    /// Fetches `refs` from `clone_url` into the mirror unless every commit in `want` is already
    /// there. A mirror damaged on disk is cloned again once. Blocking: call it from
    /// `spawn_blocking`.
    pub fn fetch(
        &self,
        repo_id: i64,
        clone_url: &str,
        token: Option<&SecretString>,
        refs: &[String],
        want: &[&str],
    ) -> Result<()> {
        match self.fetch_once(repo_id, clone_url, token, refs, want) {
            Err(e) if is_damage(&e) => {
                tracing::warn!(repo_id, error = %format!("{e:#}"), "mirror damaged; cloning it again");
                self.discard(repo_id)?;
                self.fetch_once(repo_id, clone_url, token, refs, want)
            }
            other => other,
        }
        .map_err(|e| self.explain(e))
    }

    /// An error from a full disk says which directory's disk it is, for the operator.
    fn explain(&self, e: anyhow::Error) -> anyhow::Error {
        if !is_disk_full(&e) {
            return e;
        }
        let data_dir = self.root.parent().unwrap_or(&self.root);
        e.context(format!(
            "no space left on the disk of the data dir {} (FLEXT_QUALITY_DATA_DIR); the analysis can run once space is freed",
            data_dir.display()
        ))
    }

    fn fetch_once(
        &self,
        repo_id: i64,
        clone_url: &str,
        token: Option<&SecretString>,
        refs: &[String],
        want: &[&str],
    ) -> Result<()> {
        let repo = self.open(repo_id)?;
        let missing: Vec<&str> = want
            .iter()
            .copied()
            .filter(|sha| !has_commit(&repo, sha))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        // Credentials belong in the callback, never in a URL that libgit2 might log or store.
        if let Ok(parsed) = reqwest::Url::parse(clone_url) {
            if !parsed.username().is_empty() || parsed.password().is_some() {
                bail!("refusing a clone URL that carries credentials");
            }
        }
        let mut callbacks = RemoteCallbacks::new();
        let mut tried = false;
        callbacks.credentials(move |_url, _username, _allowed| {
            // libgit2 calls again after a refusal; asking twice would loop forever.
            if tried {
                return Err(git2::Error::from_str("the installation token was refused"));
            }
            tried = true;
            match token {
                Some(t) => git2::Cred::userpass_plaintext("x-access-token", t.expose_secret()),
                None => Err(git2::Error::from_str(
                    "repository needs credentials and no token was given",
                )),
            }
        });
        let mut options = FetchOptions::new();
        options.remote_callbacks(callbacks);
        options.download_tags(git2::AutotagOption::None);
        // Each ref lands under refs/flext/ so fetches for different jobs never fight over names.
        let refspecs: Vec<String> = refs
            .iter()
            .map(|r| format!("+{r}:refs/flext/{}", r.trim_start_matches("refs/")))
            .collect();
        let mut remote = repo
            .remote_anonymous(clone_url)
            .context("preparing fetch")?;
        remote
            .fetch(&refspecs, Some(&mut options), None)
            .map_err(|e| {
                // The git error is kept in the chain: whether the mirror is damaged depends on it.
                let said = format!("fetching {} from the repository", refs.join(", "));
                anyhow::Error::new(e).context(said)
            })?;
        let still_missing: Vec<&str> = missing
            .into_iter()
            .filter(|sha| !has_commit(&repo, sha))
            .collect();
        if !still_missing.is_empty() {
            bail!(
                "commit {} is not reachable from {} (the branch may have moved on)",
                still_missing.join(", "),
                refs.join(", ")
            );
        }
        Ok(())
    }

    /// Fetches one ref (a branch, a tag, or a commit's full id) and says which commit it is.
    /// Blocking: call it from `spawn_blocking`.
    pub fn resolve_ref(
        &self,
        repo_id: i64,
        clone_url: &str,
        token: Option<&SecretString>,
        git_ref: &str,
    ) -> Result<String> {
        if git_ref.len() == 40 && git_ref.bytes().all(|b| b.is_ascii_hexdigit()) {
            let sha = git_ref.to_ascii_lowercase();
            self.fetch(
                repo_id,
                clone_url,
                token,
                std::slice::from_ref(&sha),
                &[&sha],
            )?;
            return Ok(sha);
        }
        let full = if git_ref.starts_with("refs/") {
            git_ref.to_owned()
        } else {
            format!("refs/heads/{git_ref}")
        };
        // A commit that cannot exist: the fetch always runs, and its only check is ours below.
        let none = "0000000000000000000000000000000000000000";
        let fetched = self.fetch(
            repo_id,
            clone_url,
            token,
            std::slice::from_ref(&full),
            &[none],
        );
        let repo = self.open(repo_id)?;
        let local = format!("refs/flext/{}", full.trim_start_matches("refs/"));
        match repo.refname_to_id(&local) {
            Ok(oid) => Ok(oid.to_string()),
            Err(_) => Err(fetched
                .err()
                .unwrap_or_else(|| anyhow::anyhow!("no such ref"))
                .context(format!(
                    "{git_ref} is not a branch, tag or commit of the repository"
                ))),
        }
    }

    /// The best common ancestor of two commits in the mirror.
    pub fn merge_base(&self, repo_id: i64, a: &str, b: &str) -> Result<Option<String>> {
        let repo = self.open(repo_id)?;
        let (a, b) = (Oid::from_str(a)?, Oid::from_str(b)?);
        match repo.merge_base(a, b) {
            Ok(oid) => Ok(Some(oid.to_string())),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e).context("computing merge base"),
        }
    }

    /// Writes the tree of `sha` into a fresh temporary directory under `<root>/../worktrees`,
    /// unless it is over `limits` (then the error is a [`TreeTooLarge`]).
    pub fn materialise(&self, repo_id: i64, sha: &str, limits: TreeLimits) -> Result<WorkTree> {
        let result = self.materialise_once(repo_id, sha, limits);
        if let Err(e) = &result {
            // Objects the mirror holds but cannot read: the job's retry clones it again.
            if is_damage(e) {
                tracing::warn!(repo_id, error = %format!("{e:#}"), "mirror damaged; discarded for the retry");
                self.discard(repo_id)?;
            }
        }
        result.map_err(|e| self.explain(e))
    }

    fn materialise_once(&self, repo_id: i64, sha: &str, limits: TreeLimits) -> Result<WorkTree> {
        let repo = self.open(repo_id)?;
        let commit = repo
            .find_commit(Oid::from_str(sha).context("invalid commit id")?)
            .with_context(|| format!("commit {sha} is not in the mirror"))?;
        measure(&repo, &commit.tree()?, limits)?;
        let parent = self.root.parent().unwrap_or(&self.root).join("worktrees");
        std::fs::create_dir_all(&parent)?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{repo_id}-{}-", &sha[..sha.len().min(12)]))
            .tempdir_in(&parent)
            .context("creating work tree directory")?;
        let mut checkout = git2::build::CheckoutBuilder::new();
        checkout.target_dir(dir.path()).force().update_index(false);
        repo.checkout_tree(commit.as_object(), Some(&mut checkout))
            .with_context(|| format!("checking out {sha}"))?;
        Ok(WorkTree { dir })
    }

    /// Reads one file of a commit (for the repository config, which comes from the base).
    pub fn read_file(&self, repo_id: i64, sha: &str, path: &str) -> Result<Option<Vec<u8>>> {
        let repo = self.open(repo_id)?;
        let tree = repo.find_commit(Oid::from_str(sha)?)?.tree()?;
        let entry = match tree.get_path(Path::new(path)) {
            Ok(e) => e,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let object = entry.to_object(&repo)?;
        Ok(object.as_blob().map(|b| b.content().to_vec()))
    }
}

impl Mirrors {
    /// How going from `base` to `head` moved each file's lines (renames detected).
    pub fn diff_map(
        &self,
        repo_id: i64,
        base: &str,
        head: &str,
    ) -> Result<crate::domain::diffmap::DiffMap> {
        let repo = self.open(repo_id)?;
        let old = repo.find_commit(Oid::from_str(base)?)?.tree()?;
        let new = repo.find_commit(Oid::from_str(head)?)?.tree()?;
        super::diff::diff_map(&repo, &old, &new)
    }
}

impl Mirrors {
    /// Lines added going from `base` to `head` (for the suppressions a change adds).
    pub fn added_lines(
        &self,
        repo_id: i64,
        base: &str,
        head: &str,
    ) -> Result<Vec<crate::domain::suppression::AddedLine>> {
        let repo = self.open(repo_id)?;
        let old = repo.find_commit(Oid::from_str(base)?)?.tree()?;
        let new = repo.find_commit(Oid::from_str(head)?)?.tree()?;
        super::diff::added_lines(&repo, &old, &new)
    }
}

/// Counts a tree's entries and bytes (blob sizes from the object headers, nothing read),
/// stopping as soon as it is over either limit.
fn measure(repo: &Repository, tree: &git2::Tree<'_>, limits: TreeLimits) -> Result<()> {
    let odb = repo.odb()?;
    let (mut entries, mut bytes) = (0u64, 0u64);
    let mut over = false;
    tree.walk(git2::TreeWalkMode::PreOrder, |_, entry| {
        entries += 1;
        if entry.kind() == Some(git2::ObjectType::Blob) {
            bytes += odb
                .read_header(entry.id())
                .map(|(size, _)| size as u64)
                .unwrap_or(0);
        }
        if entries > limits.entries || bytes > limits.bytes {
            over = true;
            return git2::TreeWalkResult::Abort;
        }
        git2::TreeWalkResult::Ok
    })
    .ok();
    if over {
        return Err(TreeTooLarge {
            entries,
            bytes,
            max_entries: limits.entries,
            max_bytes: limits.bytes,
        }
        .into());
    }
    Ok(())
}

fn has_commit(repo: &Repository, sha: &str) -> bool {
    Oid::from_str(sha)
        .ok()
        .and_then(|oid| repo.find_commit(oid).ok())
        .is_some()
}

#[cfg(test)]
mod tests;

/// Whether an error says the mirror on disk is damaged (not the network, the credentials or the
/// remote, nor a full disk): then it is worth cloning again.
fn is_damage(e: &anyhow::Error) -> bool {
    use git2::ErrorClass as C;
    // A full disk fails writes the way damage fails reads; the mirror is fine and would only
    // fail again, cloned from scratch, once discarded.
    if is_disk_full(e) {
        return false;
    }
    e.chain()
        .filter_map(|c| c.downcast_ref::<git2::Error>())
        .any(|g| {
            matches!(
                g.class(),
                C::Odb
                    | C::Repository
                    | C::Config
                    | C::Index
                    | C::Object
                    | C::Zlib
                    | C::Indexer
                    | C::Filesystem
                    | C::Reference
            )
        })
}

/// Whether an error comes from a full disk (or quota): `ENOSPC`/`EDQUOT` as an I/O error, or
/// libgit2's message of one.
pub fn is_disk_full(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
            .is_some_and(|code| code == libc::ENOSPC || code == libc::EDQUOT)
            || c.downcast_ref::<git2::Error>().is_some_and(|g| {
                let m = g.message().to_lowercase();
                m.contains("no space left on device") || m.contains("disk quota exceeded")
            })
    })
}
